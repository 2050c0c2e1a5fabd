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

    A job that runs an event loop of its own (a sync program iterating an inner stream with
    ``asyncio.run``) waits *asynchronously*; those waits register a waker too, which cancels
    the waiting future on that loop, so the inner iteration raises ``CancelledError`` and the
    job stops there.

    No lost wake-up: the thread registers its waker (:meth:`Job.add_waker`) before it checks
    :attr:`Job.cancelled` under the channel's lock and sleeps; :meth:`Job.cancel` sets the
    flag first and then calls the wakers, which need that lock.

Slots are given back by the worker thread itself when the job's function returns
(:meth:`Job.finished`), never by the awaiting task: that task's loop may be blocked.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from ._limiter import ThreadLimiter

__all__ = ("Job", "current_job", "set_current_job")


class Job:
    __slots__ = ("cancelled", "lent", "limiter", "wakers")

    def __init__(self, limiter: Optional[ThreadLimiter]) -> None:
        self.limiter = limiter
        self.lent = False
        self.cancelled = False
        # The waits in progress (several, when the job runs an event loop of its own).
        self.wakers: list[Callable[[], None]] = []

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
    def finished(self) -> None:
        """In the worker thread, when the job's function has returned: give the slot back
        here, not in the awaiting task, whose loop may be blocked (a loop run inside another
        worker, blocked on a stream) while a consumer waits for this very slot."""
        limiter = self.limiter
        if limiter is not None and not self.lent:
            self.lent = True  # nothing left to lend or reclaim
            limiter.release()

    # -- cancellation
    def cancel(self) -> None:
        """From the awaiting task's loop: make the thread stop at its next checkpoint."""
        self.cancelled = True
        for waker in list(self.wakers):
            waker()

    def add_waker(self, waker: Callable[[], None]) -> None:
        self.wakers.append(waker)

    def remove_waker(self, waker: Callable[[], None]) -> None:
        try:
            self.wakers.remove(waker)
        except ValueError:
            pass


class _Current(threading.local):
    job: Optional[Job] = None


_current = _Current()


def current_job() -> Optional[Job]:
    """The job the calling worker thread runs, ``None`` in any other thread."""
    return _current.job


def set_current_job(job: Optional[Job]) -> None:
    _current.job = job
