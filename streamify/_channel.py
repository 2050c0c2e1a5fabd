"""The bounded channel between a running program and the consumer of its stream.

One channel per stream call.  It is a ``collections.deque`` of items plus the sleep/wake
protocol around it, with three kinds of producer and two kinds of consumer:

producers
    * async code on the event loop (``put``): waits for space when the buffer is full;
    * sync code on the event loop thread (``put_overflow``), such as a sync tool called by an
      async program: it must never block the loop, so the item is appended even when the buffer
      is full, and the next ``put`` or ``wait_writable`` holds the producer back until the
      buffer is below its capacity again;
    * sync code in another thread (``put_blocking``): blocks that thread while the buffer is full.

consumers
    * an async consumer on the event loop (``receive_nowait`` + ``wait_readable``);
    * a sync consumer in another thread (``receive_nowait`` + ``wait_readable_blocking``).

Invariants
    1. Items leave in the order they were appended; each is received at most once.  Producers
       append under ``_lock``; the single consumer pops without it (a pop only shrinks the
       deque, and ``deque`` operations are atomic).
    2. ``len(items) <= capacity`` after every ``put`` and ``put_blocking``; only
       ``put_overflow`` may exceed it.
    3. No lost wake-up.  The consumer decides to sleep under the lock (set ``_sleeper``, then
       sleep); producers append under the lock and wake a registered sleeper.  Producers
       waiting for space announce themselves in ``producers_waiting`` under the lock and
       *then* re-check the length, so a consumer that pops and then reads
       ``producers_waiting`` either made room before the producer looked, or sees the
       producer and wakes it (the waker un-announces the producers it wakes).
    4. Wake-ups are per batch, not per item: a thread producer schedules at most one
       ``call_soon_threadsafe`` until the consumer has run again.
    5. Once the run is stopped (``stop_producers``: a timeout, the producer task cancelled)
       or the consumer has left (``close_read``, which also drops what is buffered), every
       producer gets ``asyncio.CancelledError`` at its next put, and a producer blocked in
       ``put_blocking`` is woken to raise it: that is how a program in a worker thread is
       stopped, whoever stopped the run.  Once the producer side has finished
       (``close_write``), a put raises ``StreamClosedError`` (a thread the program started is
       still emitting).
    6. Cancelling a consumer that waits in ``wait_readable`` loses nothing: the wait does not
       take an item, it only waits for one.
    7. A thread never blocks in the channel while holding a thread-limit slot: the blocking
       waits (``put_blocking`` on a full buffer, ``wait_readable_blocking``) lend the slot of
       the ``asyncify`` call they run in for the wait (see ``_jobs``), after releasing the
       channel's lock and before taking it again, so the lock is never held across a wait for
       a slot.  A blocking wait of a cancelled job raises ``CancelledError``, and cancelling
       the job wakes the wait (``_wake_blocked_threads``: every blocked thread is woken and
       un-announced, as on close, and those not cancelled re-announce and sleep again).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, Optional, TypeVar, Union

from ._exceptions import StreamClosedError
from ._jobs import current_job

if TYPE_CHECKING:
    from ._jobs import Job

_get_ident = threading.get_ident

__all__ = ("Channel", "ChannelStatistics", "EndOfStream", "WouldBlock")

T = TypeVar("T")


class WouldBlock(Exception):
    """``receive_nowait`` found the buffer empty and the producer still running."""


class EndOfStream(Exception):
    """``receive_nowait`` found the buffer empty and the producer finished."""


class ChannelStatistics(NamedTuple):
    buffered: int
    capacity: int
    peak_buffered: int
    waiting_producers: int
    read_closed: bool
    write_closed: bool


_STREAM_ENDED = (
    "emit() was called after the stream's program had returned; join the threads and await "
    "the tasks the program starts before it returns"
)


class Channel(Generic[T]):
    __slots__ = (
        "_capacity",
        "_items",
        "_limit",
        "_lock",
        "_loop",
        "_peak",
        "_putters",
        "_read_closed",
        "_sleeper",
        "_space",
        "_stopped",
        "_thread_consumer",
        "_thread_waiting",
        "_wake_scheduled",
        "loop_thread",
        "producers_waiting",
        "write_closed",
    )

    def __init__(self, capacity: int, loop: asyncio.AbstractEventLoop, loop_thread: int) -> None:
        self._capacity = capacity
        # ``_limit`` is the capacity while the channel is open and -1 once either side closed,
        # so the fast paths need one comparison to catch "full" and "closed".
        self._limit = capacity
        self._items: deque[T] = deque()
        self._loop = loop
        self.loop_thread = loop_thread
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)  # threads waiting for space
        # The sleeping consumer: a Future (async consumer) or a Condition (thread consumer).
        self._sleeper: Union[asyncio.Future[Optional[bool]], threading.Condition, None] = None
        self._thread_consumer: Optional[threading.Condition] = None
        self._wake_scheduled = False
        self._putters: deque[asyncio.Future[None]] = deque()
        self._thread_waiting = 0  # threads waiting in put_blocking, not yet notified
        # Producers (async or thread) waiting for space and not yet woken; the consumer reads
        # it after every pop, without the lock.
        self.producers_waiting = 0
        self._read_closed = False
        self._stopped = False  # producers must stop: read closed, or the run was stopped
        self.write_closed = False
        self._peak = 0

    # ------------------------------------------------------------------ inspection
    @property
    def read_closed(self) -> bool:
        return self._read_closed

    @property
    def stopped(self) -> bool:
        """Producers must stop (the consumer left, or the run was stopped): puts raise
        ``CancelledError``."""
        return self._stopped

    def buffered_items(self) -> deque[T]:
        """The buffer itself, for a consumer's inlined hot path.  Only the consumer may pop
        from it, and after each pop it must call ``release_space()`` if
        ``producers_waiting`` is non-zero (that is all ``receive_nowait`` adds).  Only the
        async consumer uses it: inlining the pop saves up to 8% per item there (the figure
        is in ``_consumer``); every other reader goes through ``receive_nowait``."""
        return self._items

    def __len__(self) -> int:
        return len(self._items)

    def is_full(self) -> bool:
        """Whether ``capacity`` items (or more, by overflow) are buffered."""
        return len(self._items) >= self._capacity

    def statistics(self) -> ChannelStatistics:
        """A snapshot.  ``peak_buffered`` is tracked by the slow paths only: it shows whether
        the buffer ever reached (or, by overflow, passed) its capacity, not every level below."""
        return ChannelStatistics(
            len(self._items),
            self._capacity,
            self._peak,
            self.producers_waiting,
            self._read_closed,
            self.write_closed,
        )

    # ------------------------------------------------------------------ producers
    def _append_locked(self, item: T) -> None:
        items = self._items
        items.append(item)
        if len(items) > self._peak:  # only the slow paths track the peak (see statistics)
            self._peak = len(items)
        if self._sleeper is not None:
            self._wake_consumer_locked()

    def _raise_closed(self) -> None:
        if self._stopped:
            raise asyncio.CancelledError()
        raise StreamClosedError(_STREAM_ENDED)

    def try_put(self, item: T) -> bool:
        """Append if there is room, without waiting; ``False`` when full or closed."""
        # The hot path: acquire/release rather than ``with`` (nothing in between can raise).
        lock = self._lock
        lock.acquire()
        items = self._items
        if len(items) >= self._limit:
            lock.release()
            return False
        items.append(item)
        if self._sleeper is not None:
            self._wake_consumer_locked()
        lock.release()
        return True

    async def put(self, item: T) -> None:
        """Append from async code on the loop, waiting while the buffer is full."""
        if not self.try_put(item):
            await self.put_wait(item)

    async def wait_writable(self) -> None:
        """Wait (on the loop) until the buffer is below capacity; raise if it is closed."""
        await self.put_wait(_NOTHING)

    async def put_wait(self, item: T) -> None:
        """The slow path of ``put``: wait (on the loop) for space, then append ``item``.

        ``wait_writable`` passes ``_NOTHING``: the same wait, and nothing is appended (one
        loop for both, without a second coroutine frame on this per-item slow path)."""
        putters = self._putters
        while True:
            with self._lock:
                if self._limit < 0:
                    self._raise_closed()
                if len(self._items) < self._capacity:
                    if item is not _NOTHING:
                        self._append_locked(item)
                    return
                # Announce, then re-check (invariant 3): a thread consumer pops without the lock.
                waiter: asyncio.Future[None] = self._loop.create_future()
                putters.append(waiter)
                self.producers_waiting += 1
                if len(self._items) < self._capacity:
                    putters.remove(waiter)
                    self.producers_waiting -= 1
                    continue
            try:
                await waiter
            finally:
                if waiter in putters:  # not woken: cancelled while waiting
                    with self._lock:
                        if waiter in putters:
                            putters.remove(waiter)
                            self.producers_waiting -= 1

    def put_overflow(self, item: T) -> None:
        """Append from sync code on the loop thread without ever blocking the loop."""
        with self._lock:
            if self._limit < 0:
                self._raise_closed()
            self._append_locked(item)

    def put_blocking(self, item: T) -> None:
        """Append from a thread other than the loop's, blocking while the buffer is full."""
        lock = self._lock
        lock.acquire()
        if len(self._items) < self._limit:  # room: the common case
            self._append_locked(item)
            lock.release()
            return
        lock.release()
        job = current_job()
        if job is None:
            with lock:
                self._put_waiting_locked(item, None)
            return
        lent = job.lend()  # invariant 7: no slot held while blocked
        waker = self._wake_blocked_threads
        job.add_waker(waker)
        try:
            with lock:
                self._put_waiting_locked(item, job)
        finally:
            job.remove_waker(waker)
            if lent:
                job.reclaim()

    def _put_waiting_locked(self, item: T, job: Optional[Job]) -> None:
        while len(self._items) >= self._limit:
            if self._limit < 0:
                self._raise_closed()
            if job is not None and job.cancelled:
                raise asyncio.CancelledError()
            # Announce, then re-check (invariant 3): the consumer pops without the lock.
            self._thread_waiting += 1
            self.producers_waiting += 1
            if len(self._items) < self._capacity:
                self._thread_waiting -= 1
                self.producers_waiting -= 1
                break
            self._space.wait()  # the waker un-announces us
        self._append_locked(item)

    def _wake_blocked_threads(self) -> None:
        """Wake every thread blocked in this channel so that each re-checks (a job of one of
        them was cancelled)."""
        with self._lock:
            self.producers_waiting -= self._thread_waiting
            self._thread_waiting = 0
            self._space.notify_all()
            if self._thread_consumer is not None:
                self._thread_consumer.notify_all()

    # ------------------------------------------------------------------ wake-ups
    def _wake_consumer_locked(self) -> None:
        sleeper = self._sleeper
        if sleeper is None:
            return
        if isinstance(sleeper, threading.Condition):
            sleeper.notify()
            return
        if self._wake_scheduled:
            return
        if _get_ident() == self.loop_thread:
            self._sleeper = None
            if not sleeper.done():
                sleeper.set_result(None)
        else:
            self._wake_scheduled = True
            try:
                self._loop.call_soon_threadsafe(self._deliver_wake)
            except RuntimeError:  # the loop is closed: nobody is left to wake
                self._wake_scheduled = False

    def _deliver_wake(self) -> None:
        with self._lock:
            self._wake_scheduled = False
            sleeper = self._sleeper
            if isinstance(sleeper, asyncio.Future):
                self._sleeper = None
                if not sleeper.done():
                    sleeper.set_result(None)

    def release_space(self) -> None:
        """After a pop: wake the producers that wait for space (they re-check)."""
        if len(self._items) >= self._capacity:
            return  # still over capacity after an overflow
        with self._lock:
            if self._thread_waiting:
                self._thread_waiting -= 1
                self.producers_waiting -= 1
                self._space.notify()
            if self._putters:
                self._wake_putters_locked()

    def _wake_putters_locked(self) -> None:
        putters = self._putters
        if not putters:
            return
        waiters = list(putters)
        putters.clear()
        self.producers_waiting -= len(waiters)
        if _get_ident() == self.loop_thread:
            _set_results(waiters)
        else:
            try:
                self._loop.call_soon_threadsafe(_set_results, waiters)
            except RuntimeError:  # the loop is closed: nobody is left waiting
                pass

    # ------------------------------------------------------------------ consumer
    def receive_nowait(self) -> T:
        """Take the oldest item; ``WouldBlock`` or ``EndOfStream`` when there is none."""
        try:
            item = self._items.popleft()
        except IndexError:
            if self.write_closed and not self._items:
                raise EndOfStream from None
            raise WouldBlock from None
        if self.producers_waiting:
            self.release_space()
        return item

    async def wait_readable(self, timeout: Optional[float] = None) -> bool:
        """Wait on the loop until an item is buffered or the producer side has finished.

        Returns ``True`` then, ``False`` when ``timeout`` seconds passed first (a timer
        wakes the wait; nothing is cancelled).  On a loop that a worker job runs itself (a
        sync program iterating an inner stream with ``asyncio.run``), a cancelled job cancels
        this wait (see ``_jobs``)."""
        with self._lock:
            if self._items or self.write_closed:
                return True
            waiter: asyncio.Future[Optional[bool]] = self._loop.create_future()
            self._sleeper = waiter
        timer = None if timeout is None else self._loop.call_later(timeout, _time_out, waiter)
        job = current_job()
        waker = None
        if job is not None:
            if job.cancelled:
                waiter.cancel()
            loop = self._loop

            def waker() -> None:
                with contextlib.suppress(RuntimeError):  # that loop is closed
                    loop.call_soon_threadsafe(waiter.cancel)

            job.add_waker(waker)
        try:
            woken = await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if job is not None and waker is not None:
                job.remove_waker(waker)
            with self._lock:
                if self._sleeper is waiter:
                    self._sleeper = None
        return woken is not False or bool(self._items) or self.write_closed

    def wait_readable_blocking(self, timeout: Optional[float] = None) -> bool:
        """Block the consumer thread until an item or the end arrives; ``False`` on timeout."""
        with self._lock:
            if self._items or self.write_closed:
                return True
        job = current_job()
        lent = False
        if job is not None:
            lent = job.lend()  # invariant 7: no slot held while blocked
            job.add_waker(self._wake_blocked_threads)
        try:
            with self._lock:
                if self._items or self.write_closed:
                    return True
                condition = self._thread_consumer
                if condition is None:
                    condition = self._thread_consumer = threading.Condition(self._lock)
                self._sleeper = condition
                try:

                    def ready() -> bool:
                        cancelled = job is not None and job.cancelled
                        return bool(self._items) or self.write_closed or cancelled

                    if not condition.wait_for(ready, timeout):
                        return False
                finally:
                    self._sleeper = None
                if job is not None and job.cancelled and not self._items:
                    raise asyncio.CancelledError()
                return True
        finally:
            if job is not None:
                job.remove_waker(self._wake_blocked_threads)
                if lent:
                    job.reclaim()

    # ------------------------------------------------------------------ closing
    def close_write(self) -> None:
        """The producer side has finished: the consumer drains what is left, then ends."""
        with self._lock:
            self.write_closed = True
            self._close_locked()
            self._wake_consumer_locked()

    def close_read(self) -> None:
        """The consumer has left: drop what is buffered and make every producer stop."""
        with self._lock:
            self._read_closed = True
            self._stopped = True
            self._items.clear()
            self._close_locked()

    def stop_producers(self) -> None:
        """The run is being stopped: every put raises ``CancelledError`` from now on (blocked
        producers are woken to raise it); what is buffered stays for the consumer."""
        with self._lock:
            if self.write_closed:
                return  # the producer side already finished; nothing to stop
            self._stopped = True
            self._close_locked()

    def _close_locked(self) -> None:
        self._limit = -1
        self.producers_waiting -= self._thread_waiting
        self._thread_waiting = 0
        self._space.notify_all()
        self._wake_putters_locked()


def _time_out(waiter: asyncio.Future[Optional[bool]]) -> None:
    if not waiter.done():
        waiter.set_result(False)


_NOTHING: Any = object()  # what wait_writable "puts": nothing


def _set_results(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
