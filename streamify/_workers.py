"""Worker threads for sync code: a small reusable pool and ``asyncify``.

Sync programs, and sync callables wrapped with :func:`asyncify`, run in worker threads so the
event loop stays free.  Threads are reused (starting one costs more than a whole status message)
and an idle worker exits after ``IDLE_SECONDS``.  How many run at once per event loop is capped
by a limiter: the process-wide default is ``configure(thread_limit=...)`` (40), and
``asyncify(fn, limit=n)`` gives one callable a limit of its own.

Cancellation: a thread cannot be interrupted, so a task that awaits a worker and is cancelled
keeps waiting until the thread has returned, then raises ``CancelledError``.  No worker ever
outlives the ``await`` that started it.  Inside a stream, the stream's cancellation makes the
thread raise at its next ``emit_sync`` or instrumented call, so the wait is short.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import itertools
import queue
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from typing_extensions import ParamSpec

from ._context import current_settings

if TYPE_CHECKING:
    from collections.abc import Awaitable

__all__ = ("IDLE_SECONDS", "asyncify", "run_sync")

P = ParamSpec("P")
R = TypeVar("R")

IDLE_SECONDS = 10.0

_Job = tuple[
    contextvars.Context,
    Callable[..., Any],
    tuple[Any, ...],
    dict[str, Any],
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
]

_idle: list[_Worker] = []
_idle_lock = threading.Lock()
_names = itertools.count(1)


class _Worker(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name=f"streamify-worker-{next(_names)}", daemon=True)
        self.jobs: queue.SimpleQueue[Optional[_Job]] = queue.SimpleQueue()

    def run(self) -> None:
        jobs = self.jobs
        while True:
            try:
                job = jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with _idle_lock:
                    if self not in _idle:
                        continue  # a job is being handed to us right now
                    _idle.remove(self)
                return
            if job is None:
                return
            context, fn, args, kwargs, loop, future = job
            del job
            try:
                result = context.run(fn, *args, **kwargs)
            except BaseException as exc:  # delivered to the awaiting task as is
                _deliver(loop, future, None, exc)
            else:
                _deliver(loop, future, result, None)
            del context, fn, args, kwargs, loop, future
            with _idle_lock:
                _idle.append(self)


def _deliver(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    exc: Optional[BaseException],
) -> None:
    try:
        loop.call_soon_threadsafe(_set_outcome, future, result, exc)
    except RuntimeError:  # the loop closed while the thread ran; nobody is waiting
        pass


def _set_outcome(future: asyncio.Future[Any], result: Any, exc: Optional[BaseException]) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(result)
    elif isinstance(exc, asyncio.CancelledError):
        future.cancel()
    elif isinstance(exc, StopIteration):
        # A Future refuses StopIteration (the awaiting side would hang forever).  Python turns
        # a StopIteration that escapes a coroutine or generator into RuntimeError; so do we,
        # with the original as the cause.
        error = RuntimeError(f"the function run in a worker thread raised {exc!r}")
        error.__cause__ = exc
        future.set_exception(error)
    else:
        future.set_exception(exc)


def _submit(job: _Job) -> None:
    with _idle_lock:
        worker = _idle.pop() if _idle else None
    if worker is None:
        worker = _Worker()
        worker.jobs.put(job)
        worker.start()
    else:
        worker.jobs.put(job)


class _PerLoopLimiter:
    """One ``asyncio.Semaphore`` per event loop (a semaphore binds to its loop), created when
    the loop first needs it.  ``limit=None`` reads ``configure(thread_limit=...)`` then."""

    __slots__ = ("_limit", "_limiters")

    def __init__(self, limit: Optional[int]) -> None:
        self._limit = limit
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        limiter = self._limiters.get(loop)
        if limiter is None:
            limit = current_settings().thread_limit if self._limit is None else self._limit
            limiter = self._limiters[loop] = asyncio.Semaphore(limit)
        return limiter


# Shared by sync programs and by asyncify() callables without a limit of their own.
_shared_limiter = _PerLoopLimiter(None)


async def run_sync(
    fn: Callable[..., R],
    *args: Any,
    limiter: Optional[asyncio.Semaphore] = None,
    **kwargs: Any,
) -> R:
    """Run ``fn(*args, **kwargs)`` in a worker thread with a copy of the current context."""
    loop = asyncio.get_running_loop()
    if limiter is None:
        limiter = _shared_limiter.get(loop)
    async with limiter:
        future: asyncio.Future[R] = loop.create_future()
        _submit((contextvars.copy_context(), fn, args, kwargs, loop, future))
        cancelled = False
        while True:
            try:
                # shield: cancelling us must not cancel ``future``; we wait for the thread.
                result = await asyncio.shield(future)
                break
            except asyncio.CancelledError:
                if future.done():
                    if future.cancelled():
                        raise
                    cancelled = True
                    result = future.result()  # re-raises the thread's own exception
                    break
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError()
        return result


def asyncify(fn: Callable[P, R], *, limit: Optional[int] = None) -> Callable[P, Awaitable[R]]:
    """Wrap a sync callable so that awaiting it runs it in a worker thread.

    The thread sees the caller's ``contextvars`` (a copy taken at each call).  At most
    ``limit`` calls of this wrapper run at once per event loop; with ``limit=None`` the calls
    share the process-wide limit set by ``configure(thread_limit=...)`` (default 40) with
    sync programs run by ``streamify``.  A cancelled caller waits for the thread to return
    before it raises ``CancelledError``: no thread outlives the ``await``.
    """
    if not callable(fn):
        raise TypeError(f"asyncify() takes a sync callable, got {type(fn).__name__}")
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(
            f"asyncify() takes a sync callable, but {_name(fn)} is async; await it directly"
        )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise TypeError(f"asyncify(limit=...) takes an int or None, got {type(limit).__name__}")
    if limit is not None and limit < 1:
        raise ValueError(f"asyncify(limit=...) must be >= 1, got {limit}")
    own = None if limit is None else _PerLoopLimiter(limit)

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        limiter = None if own is None else own.get(asyncio.get_running_loop())
        return await run_sync(fn, *args, limiter=limiter, **kwargs)

    return wrapper


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__
