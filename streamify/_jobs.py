"""The job a worker thread is running: its thread-limit slot and its cancellation.

A worker thread runs one job at a time: an ``asyncify`` call or a stream's own sync program.
The job's state sits in a thread-local, so that code deep inside the job — the channel's
blocking waits, instrumented calls — can reach it without being handed anything.

Slot lending (invariant 1 of ``_limiter``)
    :meth:`Job.lend` gives the job's thread-limit slot back before a blocking wait on a
    stream; :meth:`Job.reclaim` takes one again (waiting for it) before the job's own code
    goes on.  A job without a slot (a stream's sync program) lends nothing.

Cancellation
    A thread cannot be interrupted.  When the task awaiting a job is cancelled,
    :meth:`Job.cancel` marks it; the thread raises ``asyncio.CancelledError`` at its next
    blocking wait on a stream (a wait in progress is woken to raise it) or its next
    instrumented call.  So cancelling an ``asyncify`` call whose thread is blocked on a full
    buffer — what ``asyncio.run`` does to every task when it ends — cannot hang.

    No lost wake-up: the thread registers its waker (:meth:`Job.waiting_on`) before it checks
    :attr:`Job.cancelled` under the channel's lock and sleeps; :meth:`Job.cancel` sets the
    flag first and then calls the waker, which needs that lock.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from ._limiter import ThreadLimiter

__all__ = ("Job", "current_job", "set_current_job")


class Job:
    __slots__ = ("cancelled", "lent", "limiter", "waker")

    def __init__(self, limiter: Optional[ThreadLimiter]) -> None:
        self.limiter = limiter
        self.lent = False
        self.cancelled = False
        self.waker: Optional[Callable[[], None]] = None

    # -- slots
    def lend(self) -> bool:
        limiter = self.limiter
        if limiter is None or self.lent:
            return False
        self.lent = True
        limiter.release()
        return True

    def reclaim(self) -> None:
        limiter = self.limiter
        if limiter is not None and self.lent:
            limiter.acquire_blocking()
            self.lent = False

    # -- cancellation
    def cancel(self) -> None:
        """From the awaiting task's loop: make the thread stop at its next checkpoint."""
        self.cancelled = True
        waker = self.waker
        if waker is not None:
            waker()

    def waiting_on(self, waker: Optional[Callable[[], None]]) -> None:
        self.waker = waker


class _Current(threading.local):
    job: Optional[Job] = None


_current = _Current()


def current_job() -> Optional[Job]:
    """The job the calling worker thread runs, ``None`` in any other thread."""
    return _current.job


def set_current_job(job: Optional[Job]) -> None:
    _current.job = job
