"""Worker threads for sync code: a small reusable pool, and ``asyncify``.

Sync programs, and sync callables wrapped with :func:`asyncify`, run in worker threads so the
event loop stays free.  Threads are reused (starting one costs more than a whole status message)
and an idle worker exits after ``IDLE_SECONDS``.

Thread limit (see ``_limiter``): ``asyncify`` calls count against a limiter, the process-wide
``configure(thread_limit=...)`` (40) or their own ``asyncify(fn, limit=n)``.  A stream's own
sync program does not: it runs in a pooled thread outside any limit, so that no program waits
for a slot that its own consumer's work holds.  A worker that blocks on a stream lends its
slot while it waits.

Cancellation: a thread cannot be interrupted, so a task that awaits a worker and is cancelled
keeps waiting until the thread has returned, then raises ``CancelledError``.  No worker ever
outlives the ``await`` that started it.  Inside a stream, the stream's cancellation makes the
thread raise at its next ``emit_sync`` or instrumented call, so the wait is short.

Fork safety: the pool's idle list and lock are replaced in a forked child (the parent's
workers do not exist there), so the child's first sync program starts a fresh worker.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import itertools
import os
import queue
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from typing_extensions import ParamSpec

from ._jobs import Job, set_current_job
from ._limiter import ThreadLimiter

if TYPE_CHECKING:
    from collections.abc import Coroutine

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
    Job,
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
            context, fn, args, kwargs, loop, future, state = job
            del job
            set_current_job(state)
            try:
                result = context.run(fn, *args, **kwargs)
            except BaseException as exc:  # delivered to the awaiting task as is
                set_current_job(None)
                state.finished()
                _deliver(loop, future, None, exc)
            else:
                set_current_job(None)
                state.finished()
                _deliver(loop, future, result, None)
            del context, fn, args, kwargs, loop, future, state
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


def _after_fork_in_child() -> None:
    global _idle_lock
    _idle.clear()
    _idle_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _submit(job: _Job) -> None:
    with _idle_lock:
        worker = _idle.pop() if _idle else None
    if worker is None:
        worker = _Worker()
        worker.jobs.put(job)
        worker.start()
    else:
        worker.jobs.put(job)


# Shared by every asyncify() callable without a limit of its own.
_shared_limiter = ThreadLimiter(None)


async def run_sync(
    fn: Callable[..., R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    limiter: Optional[ThreadLimiter],
    on_cancel: Optional[Callable[[], None]] = None,
) -> R:
    """Run ``fn(*args, **kwargs)`` in a worker thread with a copy of the current context.

    ``limiter`` is the thread limit the call counts against (``None``: none, which is how a
    stream runs its own sync program).  A cancelled caller keeps waiting until the thread has
    returned, then raises ``CancelledError``.  The first cancellation cancels the job (its
    thread raises at its next blocking wait on a stream or instrumented call, see ``_jobs``)
    and calls ``on_cancel``, so that the caller can stop more than the job.
    """
    loop = asyncio.get_running_loop()
    if limiter is not None:
        await limiter.acquire()
    # From here the slot belongs to the job: the worker gives it back when fn returns.
    job = Job(limiter)
    future: asyncio.Future[R] = loop.create_future()
    try:
        _submit((contextvars.copy_context(), fn, args, kwargs, loop, future, job))
    except BaseException:
        job.finished()
        raise
    cancelled = False
    while True:
        try:
            # shield: cancelling us must not cancel ``future``; we wait for the thread.
            result = await asyncio.shield(future)
            break
        except asyncio.CancelledError:
            if not cancelled:
                job.cancel()
                if on_cancel is not None:
                    on_cancel()
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


def asyncify(
    fn: Callable[P, R], *, limit: Optional[int] = None
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Wrap a sync callable so that awaiting it runs it in a worker thread.

    The thread sees the caller's ``contextvars`` (a copy taken at each call).  At most
    ``limit`` calls of this wrapper run at once in the process; with ``limit=None`` the calls
    share the process-wide limit set by ``configure(thread_limit=...)`` (default 40, read at
    each call).  A call whose thread blocks on a stream (``emit_sync`` into a full buffer,
    iterating a sync stream) gives its slot back while it waits.  A cancelled caller waits
    for the thread to return before it raises ``CancelledError``: no thread outlives the
    ``await``.

    Returns a function with ``fn``'s parameters whose call is a coroutine of ``fn``'s result
    (what ``fn`` raises is raised by the ``await``).  Raises ``TypeError`` for an async or
    non-callable ``fn`` or a ``limit`` that is not an int, ``ValueError`` for ``limit < 1``.
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
    limiter = _shared_limiter if limit is None else ThreadLimiter(limit)

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return await run_sync(fn, args, kwargs, limiter=limiter)

    return wrapper


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__
