"""The sync consumer: iterate a stream from plain synchronous code.

A sync consumer gets a private event loop in a thread of its own (the *host*), which runs the
producer side; the consumer's thread reads the very same bounded channel directly, so there
is no second buffer and no per-item hop through the loop:

* ``streamify(..., async_streaming=False)``: the host runs the program's producer task; the
  consumer reads the stream's channel (at most ``buffer_size`` items wait).
* ``apply_sync_streaming(agen, buffer_size=16)``: the host iterates any async iterator and
  puts its items into a channel of ``buffer_size`` that the consumer reads.

Closing the sync generator (``break``, ``close()``, garbage collection, an exception in the
consuming loop) closes the channel's read side, cancels the producer task on the host loop,
and joins the host thread before ``close()`` returns: nothing is left running.  The program's
exception is re-raised in the consumer as the same object, after the items before it.

Used from a thread that is already running an event loop, it still works (the program runs on
the host loop, never on the caller's), but each ``next()`` blocks the caller's loop while it
waits; iterate the async stream with ``async for`` there instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from ._channel import Channel, EndOfStream, WouldBlock
from ._stream import Fatal, StreamSpec, outcome, report_after_stop, result_of, start_call

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Generator

__all__ = ("apply_sync_streaming", "sync_stream")

T = TypeVar("T")

Starter = Callable[[asyncio.AbstractEventLoop], "tuple[Channel[Any], asyncio.Task[Any]]"]


class _Host:
    """A private event loop in its own thread, running one stream's producer side."""

    def __init__(self, starter: Starter) -> None:
        self._starter = starter
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.channel: Optional[Channel[Any]] = None
        self.producer: Optional[asyncio.Task[Any]] = None
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._main,), name="streamify-sync-host", daemon=True
        )

    def start(self) -> tuple[Channel[Any], asyncio.Task[Any]]:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            error, self._error = self._error, None
            raise error
        assert self.channel is not None
        assert self.producer is not None
        return self.channel, self.producer

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._body(loop))
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _body(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self.channel, self.producer = self._starter(loop)
        except BaseException as exc:
            self._error = exc
            return
        finally:
            self._ready.set()
        await asyncio.wait((self.producer,))

    def join(self) -> None:
        self._thread.join()

    def stop(self, delivered: bool) -> None:
        """Cancel the producer side (if still running) and wait for the host to finish."""
        channel, producer, loop = self.channel, self.producer, self.loop
        if channel is None or producer is None or loop is None:
            return
        channel.close_read()
        if self._thread.is_alive():
            try:
                loop.call_soon_threadsafe(producer.cancel)
            except RuntimeError:  # the loop already closed: the producer is done
                pass
            self._thread.join()
        if not delivered:
            report_after_stop(producer)


def _iterate(
    starter: Starter,
    finish: Callable[[asyncio.Task[Any]], Any],
    idle_timeout: Optional[float],
) -> Generator[Any, None, None]:
    host = _Host(starter)
    channel, producer = host.start()
    delivered = False
    try:
        receive = channel.receive_nowait
        while True:
            try:
                item = receive()
            except WouldBlock:
                if not channel.wait_readable_blocking(idle_timeout):
                    raise TimeoutError(
                        f"no item arrived for idle_timeout={idle_timeout}s; "
                        "the program was cancelled"
                    ) from None
                continue
            except EndOfStream:
                break
            yield item
        host.join()
        delivered = True
        final = finish(producer)
        if final is not None:
            yield final
    finally:
        host.stop(delivered)


def sync_stream(spec: StreamSpec, args: Any, kwargs: Any) -> Generator[Any, None, None]:
    """The sync generator ``streamify(..., async_streaming=False)`` returns."""
    calls: list[Any] = []

    def starter(loop: asyncio.AbstractEventLoop) -> tuple[Channel[Any], asyncio.Task[Any]]:
        call, producer = start_call(spec, args, kwargs, loop)
        calls.append(call)
        return call.channel, producer

    def finish(producer: asyncio.Task[Any]) -> Any:
        return outcome(calls[0], producer, spec.include_final)

    return _iterate(starter, finish, spec.idle_timeout)


async def _pump(source: AsyncIterable[Any], channel: Channel[Any]) -> Any:
    iterator = source.__aiter__()
    try:
        try_put = channel.try_put
        async for item in iterator:
            if not try_put(item):  # the common case needs no coroutine
                await channel.put_wait(item)
    except (KeyboardInterrupt, SystemExit) as exc:
        return Fatal(exc)
    finally:
        channel.close_write()
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def _result_of(producer: asyncio.Task[Any]) -> None:
    if producer.cancelled():
        raise asyncio.CancelledError()
    result_of(producer)  # the stream's exception, the same object


def apply_sync_streaming(
    async_generator: AsyncIterable[T], *, buffer_size: int = 16
) -> Generator[T, None, None]:
    """Iterate an async stream from sync code, as a sync generator.

    ``for item in apply_sync_streaming(stream(...)): ...``.  The async iterator runs on a
    private event loop in a helper thread; at most ``buffer_size`` items wait between it and
    the reader.  Closing the generator (``break``, ``close()``) stops the stream and joins the
    helper thread; an exception of the stream is re-raised as the same object.  For a
    streamified program, ``streamify(..., async_streaming=False)`` does the same with no
    second buffer.
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
        return channel, loop.create_task(_pump(async_generator, channel))

    return _iterate(starter, _result_of, None)
