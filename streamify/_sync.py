"""The sync consumer: iterate a stream from plain synchronous code.

The producer side of every sync stream runs on one long-lived event loop in a thread of its
own (see ``_loop_thread``); the consumer's thread reads the very same bounded channel
directly, so there is no second buffer and no per-item hop through the loop:

* ``streamify(..., async_streaming=False)``: the loop runs the program's producer task; the
  consumer reads the stream's channel (at most ``buffer_size`` items wait).
* ``apply_sync_streaming(agen, buffer_size=16)``: the loop iterates any async iterator and
  puts its items into a channel of ``buffer_size`` that the consumer reads.

The program's exception is re-raised in the consumer as the same object, after the items
before it.

Closing.  ``close()`` (``break``, an exception in the consuming loop, the end) closes the
channel's read side, cancels the producer task on the loop, and waits until it has finished
before returning: nothing is left running.  Two closes must *not* wait, because the wait
could need the very thread that would be waiting:

* a generator that was dropped without being closed is closed by its finalizer, and the
  garbage collector may run that in any thread, the stream's own worker or loop thread
  included.  A weak reference whose callback runs before the finalizer marks such a stream
  as *dropped*; its close stops the program without waiting, and the outcome, if it is an
  error, is logged when the producer finishes (nothing is printed, no thread is joined);
* a close that runs on the stream's own loop thread (the wait needs that loop to run).

The waits of the consumer thread (for an item, for the program to stop) lend the thread-limit
slot of the ``asyncify`` call they run in, if any (see ``_limiter``).

Used from a thread that is already running an event loop, it still works (the program runs on
the stream loop, never on the caller's), but each ``next()`` blocks the caller's loop while it
waits; iterate the async stream with ``async for`` there instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from ._channel import Channel, EndOfStream, WouldBlock
from ._idle import IDLE, TICKS
from ._jobs import current_job
from ._loop_thread import LoopThread, loop_for_sync_stream
from ._stream import (
    ProgramExit,
    StreamConfig,
    final_prediction,
    log_abandoned_outcome,
    program_result,
    start_run,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Generator

__all__ = ("apply_sync_streaming", "sync_stream")

T = TypeVar("T")

Starter = Callable[[asyncio.AbstractEventLoop], "tuple[Channel[Any], asyncio.Task[Any]]"]


class _Dropped:
    """Set by a weak reference's callback when the consumer generator is garbage."""

    __slots__ = ("dropped",)

    def __init__(self) -> None:
        self.dropped = False


# The weak references themselves must stay reachable, or the cyclic garbage collector
# clears them with their generator without calling their callbacks.
_watching: set[weakref.ref[Any]] = set()


def _watch(generator: Generator[Any, None, None], state: _Dropped) -> None:
    def on_drop(ref: weakref.ref[Any]) -> None:
        state.dropped = True
        _watching.discard(ref)

    _watching.add(weakref.ref(generator, on_drop))


class _ProducerSide:
    """One sync stream's producer task on its loop thread, as seen from the consumer."""

    __slots__ = (
        "_detached",
        "_report_lock",
        "_reported",
        "channel",
        "done",
        "loop_thread",
        "private",
        "producer",
    )

    def __init__(self, loop_thread: LoopThread, private: bool) -> None:
        self.loop_thread = loop_thread
        self.private = private
        self.done = threading.Event()
        self.channel: Channel[Any]
        self.producer: asyncio.Task[Any]
        self._detached = False
        self._reported = False
        self._report_lock = threading.Lock()

    @classmethod
    def start(cls, starter: Starter) -> _ProducerSide:
        loop_thread, private = loop_for_sync_stream()
        side = cls(loop_thread, private)
        ready = threading.Event()
        failure: list[BaseException] = []

        def begin() -> None:  # on the loop thread, in the consumer's context
            try:
                side.channel, side.producer = starter(loop_thread.loop)
                side.producer.add_done_callback(side._on_done)
            except BaseException as exc:  # delivered to the consumer below
                failure.append(exc)
            finally:
                ready.set()

        loop_thread.call_soon(begin, context=contextvars.copy_context())
        ready.wait()
        if failure:
            if private:
                loop_thread.stop(wait=True)
            raise failure.pop()
        return side

    def _on_done(self, _: object) -> None:  # on the loop thread
        self.done.set()
        if self._detached:
            self._report_detached()
            if self.private:
                self.loop_thread.stop(wait=False)

    def wait_done(self) -> None:
        """Block until the producer task has finished (the channel's end came first)."""
        if self.done.is_set():
            return
        job = current_job()
        if job is None:
            self.done.wait()
            return
        lent = job.lend()
        try:
            self.done.wait()
        finally:
            if lent:
                job.reclaim()

    def stop(self, delivered: bool, *, wait: bool) -> None:
        """Cancel the producer side; wait for it unless ``wait`` is false (see docstring)."""
        self.channel.close_read()
        wait = wait and threading.get_ident() != self.loop_thread.ident
        if not wait:
            self._detached = True
        if not self.done.is_set():
            try:
                self.loop_thread.call_soon(self.producer.cancel)
            except RuntimeError:  # the loop is closed: the producer cannot be running
                pass
        if not wait:
            if self.done.is_set():
                self._report_detached()
            return
        self.wait_done()
        if self.private:
            self.loop_thread.stop(wait=True)
        if not delivered:
            log_abandoned_outcome(self.producer)

    def _report_detached(self) -> None:
        """The outcome of a stream nobody waits for: errors are logged, never raised."""
        with self._report_lock:
            if self._reported:
                return
            self._reported = True
        log_abandoned_outcome(self.producer)  # logs; raises nothing


def _iterate(
    starter: Starter,
    finish: Callable[[asyncio.Task[Any]], Any],
    idle_timeout: Optional[float],
    state: _Dropped,
) -> Generator[Any, None, None]:
    side = _ProducerSide.start(starter)
    channel = side.channel
    delivered = False
    try:
        receive = channel.receive_nowait
        while True:
            try:
                item = receive()
            except WouldBlock:
                pass
            except EndOfStream:
                break
            else:
                yield item
                continue
            # Nothing buffered: wait, with a response's keepalive ticks if any (see ``_idle``;
            # this generator's frame is the key, looked up here and not kept in a local, which
            # would make the frame refer to itself).
            deadline = None if idle_timeout is None else time.monotonic() + idle_timeout
            while not _wait_blocking(channel, deadline, _ticks(sys._getframe()), idle_timeout):
                yield IDLE
        side.wait_done()
        delivered = True
        final = finish(side.producer)
        if final is not None:
            yield final
    finally:
        side.stop(delivered, wait=not state.dropped)


def _ticks(frame: object) -> Optional[float]:
    return TICKS.get(frame) if TICKS else None


def _wait_blocking(
    channel: Channel[Any],
    deadline: Optional[float],
    tick: Optional[float],
    idle_timeout: Optional[float],
) -> bool:
    """Block for an item: ``False`` when ``tick`` seconds passed first (a keepalive is due);
    ``TimeoutError`` at the idle ``deadline`` (``time.monotonic``)."""
    if deadline is None:
        return channel.wait_readable_blocking(tick)
    left = deadline - time.monotonic()
    if tick is not None and tick < left:
        return channel.wait_readable_blocking(tick)
    if left > 0 and channel.wait_readable_blocking(left):
        return True
    raise TimeoutError(
        f"no item arrived for idle_timeout={idle_timeout}s; the program was cancelled"
    )


def _sync_generator(
    starter: Starter,
    finish: Callable[[asyncio.Task[Any]], Any],
    idle_timeout: Optional[float],
) -> Generator[Any, None, None]:
    state = _Dropped()
    generator = _iterate(starter, finish, idle_timeout, state)
    _watch(generator, state)
    return generator


def sync_stream(config: StreamConfig, args: Any, kwargs: Any) -> Generator[Any, None, None]:
    """The sync generator ``streamify(..., async_streaming=False)`` returns."""
    runs: list[Any] = []

    def starter(loop: asyncio.AbstractEventLoop) -> tuple[Channel[Any], asyncio.Task[Any]]:
        run, producer = start_run(config, args, kwargs, loop)
        runs.append(run)
        return run.channel, producer

    def finish(producer: asyncio.Task[Any]) -> Any:
        return final_prediction(runs[0], producer, config.include_final)

    return _sync_generator(starter, finish, config.idle_timeout)


async def _copy_into_channel(source: AsyncIterable[Any], channel: Channel[Any]) -> Any:
    iterator = source.__aiter__()
    try:
        try_put = channel.try_put
        async for item in iterator:
            if not try_put(item):  # the common case needs no coroutine
                await channel.put_wait(item)
    except (KeyboardInterrupt, SystemExit) as exc:
        return ProgramExit(exc)
    finally:
        channel.close_write()
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def _raise_if_failed(producer: asyncio.Task[Any]) -> None:
    """The end of ``apply_sync_streaming``: nothing after the items, or the stream's exception
    (the same object), or ``CancelledError``."""
    if producer.cancelled():
        raise asyncio.CancelledError()
    program_result(producer)


def apply_sync_streaming(
    async_generator: AsyncIterable[T], *, buffer_size: int = 16
) -> Generator[T, None, None]:
    """Iterate an async stream from sync code, as a sync generator.

    ``for item in apply_sync_streaming(stream(...)): ...``.  The async iterator runs on
    streamify's sync-stream event loop (one per process, in a thread of its own); at most
    ``buffer_size`` items wait between it and the reader.  Closing the generator (``break``,
    ``close()``) stops the stream and returns once it has stopped; an exception of the stream
    is re-raised as the same object.  For a streamified program,
    ``streamify(..., async_streaming=False)`` does the same with no second buffer.

    Returns a generator of the iterator's own items (a type checker sees the same item
    type).  Raises ``TypeError`` for ``async_generator`` that is not async-iterable or a
    ``buffer_size`` that is not an int, ``ValueError`` for ``buffer_size < 1``.
    """
    if not hasattr(async_generator, "__aiter__"):
        raise TypeError(
            "apply_sync_streaming() takes an async iterator (what a streamified program "
            f"returns), got {type(async_generator).__name__}"
        )
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int):
        raise TypeError(f"buffer_size must be an int, got {type(buffer_size).__name__}")
    if buffer_size < 1:
        raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")

    def starter(loop: asyncio.AbstractEventLoop) -> tuple[Channel[Any], asyncio.Task[Any]]:
        channel: Channel[Any] = Channel(buffer_size, loop, threading.get_ident())
        return channel, loop.create_task(_copy_into_channel(async_generator, channel))

    return _sync_generator(starter, _raise_if_failed, None)
