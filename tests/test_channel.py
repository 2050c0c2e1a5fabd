"""The channel's own contract (``streamify/_channel.py``): cancellation is atomic, closing
releases every waiting producer, and the waiting-producer bookkeeping always returns to zero.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from streamify import StreamClosedError
from streamify._channel import Channel, EndOfStream, WouldBlock


def new_channel(capacity: int) -> Channel[int]:
    return Channel(capacity, asyncio.get_running_loop(), threading.get_ident())


async def test_cancel_during_receive_loses_nothing() -> None:
    channel = new_channel(2)
    waiter = asyncio.ensure_future(channel.wait_readable())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    channel.try_put(1)
    assert channel.receive_nowait() == 1  # the item went to the channel, not to the dead waiter
    with pytest.raises(WouldBlock):
        channel.receive_nowait()


async def test_cancel_during_put_leaves_the_item_out_and_the_bookkeeping_clean() -> None:
    channel = new_channel(1)
    assert channel.try_put(1)
    putter = asyncio.ensure_future(channel.put(2))
    await asyncio.sleep(0)
    assert channel.producers_waiting == 1
    putter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await putter
    assert channel.producers_waiting == 0
    assert channel.receive_nowait() == 1
    with pytest.raises(WouldBlock):
        channel.receive_nowait()  # the cancelled put delivered nothing


async def test_a_waiting_async_producer_resumes_when_the_consumer_makes_room() -> None:
    channel = new_channel(1)
    channel.try_put(1)
    putter = asyncio.ensure_future(channel.put(2))
    await asyncio.sleep(0)
    assert not putter.done()
    assert channel.receive_nowait() == 1
    await putter
    assert channel.receive_nowait() == 2
    assert channel.producers_waiting == 0


async def test_closing_the_read_side_releases_a_blocked_thread_with_cancellation() -> None:
    channel = new_channel(1)
    channel.try_put(0)
    outcome: list[BaseException] = []
    blocked = threading.Event()

    def producer() -> None:
        blocked.set()
        try:
            channel.put_blocking(1)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=producer)
    thread.start()
    await asyncio.get_running_loop().run_in_executor(None, blocked.wait)
    while channel.producers_waiting == 0:  # the thread announced itself: it waits for space
        await asyncio.sleep(0)
    channel.close_read()
    await asyncio.get_running_loop().run_in_executor(None, thread.join)
    assert len(outcome) == 1 and isinstance(outcome[0], asyncio.CancelledError)
    assert channel.producers_waiting == 0


async def test_a_put_after_the_producer_side_closed_raises_stream_closed() -> None:
    channel = new_channel(4)
    channel.try_put(1)
    channel.close_write()
    with pytest.raises(StreamClosedError, match="join the threads"):
        channel.put_overflow(2)
    errors: list[BaseException] = []

    def late() -> None:
        try:
            channel.put_blocking(3)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=late)
    thread.start()
    await asyncio.get_running_loop().run_in_executor(None, thread.join)
    assert isinstance(errors[0], StreamClosedError)
    assert channel.receive_nowait() == 1  # what was buffered before the end is still delivered
    with pytest.raises(EndOfStream):
        channel.receive_nowait()


async def test_overflow_from_the_loop_thread_never_waits_and_holds_back_the_next_put() -> None:
    channel = new_channel(2)
    for i in range(5):
        channel.put_overflow(i)
    assert len(channel) == 5
    assert channel.statistics().peak_buffered == 5
    putter = asyncio.ensure_future(channel.put(5))
    await asyncio.sleep(0)
    for expected in range(4):
        assert channel.receive_nowait() == expected
        await asyncio.sleep(0)
    await putter  # room again only once the overflow was drained below the capacity
    assert [channel.receive_nowait() for _ in range(2)] == [4, 5]
