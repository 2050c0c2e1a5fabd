"""The event loop that runs the producer side of sync streams, in a thread of its own.

A sync consumer (``streamify(..., async_streaming=False)``, ``apply_sync_streaming``) needs an
event loop for the program's producer task, and the consumer's thread cannot run it.

Invariants
    1. **One long-lived loop per process** runs them all: started lazily by the first sync
       stream, in a daemon thread named ``streamify-worker-loop``, and kept for the life of
       the process.  Async objects a program keeps between calls (an ``AsyncOpenAI`` or
       ``httpx.AsyncClient`` created once at module level) stay bound to a running loop, so
       they work call after call, as they do under one ``asyncio.run``.
    2. **Fork-safe.**  In a child made by ``os.fork`` (or a ``multiprocessing`` pool with the
       fork start method) the parent's loop thread does not exist; the child forgets it, and
       its first sync stream starts a loop of its own.
    3. **Never wait on yourself.**  A sync stream consumed *from* the shared loop's thread (an
       async program of one sync stream iterating another sync stream) would block the loop
       its own producer needs: it gets a private loop thread instead, closed when that stream
       ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from typing import Any, Callable, Optional

from ._callbacks import logger

__all__ = ("LoopThread", "loop_for_sync_stream")


class LoopThread:
    """An event loop running forever in a daemon thread."""

    __slots__ = ("_stopping", "_thread", "ident", "loop")

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        ident = self._thread.ident
        assert ident is not None
        self.ident = ident

    def _run(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            while not self._stopping:
                try:
                    loop.run_forever()
                except BaseException:  # the loop must outlive the tasks it runs
                    # asyncio lets KeyboardInterrupt / SystemExit raised by a task (one a
                    # program started and left running) escape run_forever(); in this thread
                    # they can reach nobody, and every later sync stream needs the loop.
                    logger.exception("a task on streamify's sync-stream loop raised")
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def call_soon(self, fn: Callable[..., Any], *args: Any, context: Any = None) -> None:
        """Run ``fn(*args)`` on the loop's thread (in ``context``, if given)."""
        self.loop.call_soon_threadsafe(fn, *args, context=context)

    def stop(self, *, wait: bool) -> None:
        """End the loop; with ``wait``, join its thread (never from the thread itself)."""
        self._stopping = True
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        if wait and threading.get_ident() != self.ident:
            self._thread.join()


_shared: Optional[LoopThread] = None
_shared_lock = threading.Lock()


def loop_for_sync_stream() -> tuple[LoopThread, bool]:
    """The loop a new sync stream runs on, and whether it is private to that stream."""
    global _shared
    shared = _shared
    if shared is None:
        with _shared_lock:
            shared = _shared
            if shared is None:
                shared = _shared = LoopThread("streamify-worker-loop")
    if threading.get_ident() == shared.ident:  # invariant 3
        return LoopThread("streamify-sync-host"), True
    return shared, False


# A forked child's copies of the parent's loops: they look "running" (their thread is in the
# parent), so they can be neither closed nor collected quietly; they are kept, never used.
_left_by_fork: list[LoopThread] = []


def _after_fork_in_child() -> None:
    global _shared, _shared_lock
    if _shared is not None:
        _left_by_fork.append(_shared)
    _shared = None  # invariant 2: its thread stayed in the parent
    _shared_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
