"""The thread limit: how many ``asyncify`` calls may run in worker threads at once.

One :class:`ThreadLimiter` is shared by every ``asyncify`` callable without a limit of its own
(its size is ``configure(thread_limit=...)``, 40 by default, read at each acquire);
``asyncify(fn, limit=n)`` gives ``fn`` a limiter of its own.  A limiter is process-wide and
thread-safe: tasks of any event loop and worker threads take and give back its slots, so no
per-loop table exists and no event loop is kept alive by one.

Invariants
    1. **Waiting on a stream never holds a slot.**  A worker thread that blocks in a stream's
       channel (a producer waiting for space, a sync consumer waiting for an item, a sync
       consumer waiting for the program it closed) *lends* its slot for the duration of the
       wait and takes one again before it goes on (see ``_jobs``).
       The stream's progress may need a slot (a consumer that calls an ``asyncify`` function
       per item, a nested stream): it can always get the one the waiting thread lent.
    2. **A stream's own sync program takes no slot at all.**  It is the producer of a stream
       that has a consumer of its own, so the number of such threads is the number of
       running streams, which the application already bounds; and a program that must wait
       for a slot held by its own consumer's work could never start.
    3. Slots are never lost: a cancelled waiter that was already woken passes the wake-up on,
       and a thread that reclaims a slot waits for it like any other acquirer.
    4. After ``os.fork`` the child starts with every limiter empty (the threads that held
       slots do not exist there).
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections import deque
from typing import Optional, Union

__all__ = ("ThreadLimiter",)

_Waiter = Union["tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]", threading.Event]


class ThreadLimiter:
    """A counting limiter whose slots are taken by tasks and given back by any thread."""

    __slots__ = ("__weakref__", "_borrowed", "_limit", "_lock", "_waiters")

    def __init__(self, limit: Optional[int]) -> None:
        self._limit = limit  # None: read configure(thread_limit=...) at each acquire
        self._lock = threading.Lock()
        self._borrowed = 0
        self._waiters: deque[_Waiter] = deque()
        _limiters.add(self)

    def total(self) -> int:
        if self._limit is not None:
            return self._limit
        from ._context import current_settings

        return current_settings().thread_limit

    @property
    def borrowed(self) -> int:
        return self._borrowed

    def _try_acquire_locked(self, total: int) -> bool:
        if self._borrowed < total:
            self._borrowed += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting (on the running loop) while all are taken."""
        total = self.total()
        loop: Optional[asyncio.AbstractEventLoop] = None
        while True:
            with self._lock:
                if self._try_acquire_locked(total):
                    return
                if loop is None:
                    loop = asyncio.get_running_loop()
                waiter: asyncio.Future[None] = loop.create_future()
                entry = (loop, waiter)
                self._waiters.append(entry)
            try:
                await waiter
            except BaseException:
                with self._lock:
                    try:
                        self._waiters.remove(entry)
                    except ValueError:  # already woken: pass the wake-up on (invariant 3)
                        self._wake_one_locked()
                raise

    def acquire_blocking(self) -> None:
        """Take a slot from a worker thread, blocking it while all are taken."""
        total = self.total()
        while True:
            with self._lock:
                if self._try_acquire_locked(total):
                    return
                event = threading.Event()
                self._waiters.append(event)
            event.wait()

    def release(self) -> None:
        """Give a slot back (from any thread) and wake one waiter, which re-checks."""
        with self._lock:
            self._borrowed -= 1
            self._wake_one_locked()

    def _wake_one_locked(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if isinstance(waiter, threading.Event):
                waiter.set()
                return
            loop, future = waiter
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:  # that loop is closed: its waiter is gone, wake the next
                continue
            return

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._borrowed = 0
        self._waiters = deque()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_limiters: weakref.WeakSet[ThreadLimiter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for limiter in list(_limiters):
        limiter._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
