"""Guarantee 2: at most ``buffer_size`` items wait between producer and consumer, whatever the
stream's length, from async code and from worker threads; a sync callback on the loop thread
never blocks the loop (it may overflow briefly, and the producer is held back at its next
emit or instrumented async call)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from streamify import emit, emit_sync, streamify, tool

from .helpers import current_run, split, wait_until


@pytest.mark.parametrize("buffer_size", [1, 4, 16])
async def test_async_producer_never_gets_more_than_buffer_size_ahead(buffer_size: int) -> None:
    produced = 0

    async def program(n: int) -> int:
        nonlocal produced
        for i in range(n):
            await emit(i)
            produced += 1
        return n

    received = 0
    ahead: list[int] = []
    async for item in streamify(program, buffer_size=buffer_size)(300):
        if isinstance(item, int):
            received += 1
            # Let the producer run as far as it can before looking.
            await wait_until(
                lambda: produced == 300 or produced - received >= buffer_size,  # noqa: B023
                "the producer fills the buffer",
            )
            for _ in range(5):
                await asyncio.sleep(0)
            ahead.append(produced - received)
    assert max(ahead) <= buffer_size
    assert max(ahead) == buffer_size  # the producer did run ahead: the bound was exercised


@pytest.mark.parametrize("buffer_size", [1, 4, 16])
async def test_worker_thread_producer_never_gets_more_than_buffer_size_ahead(
    buffer_size: int,
) -> None:
    produced = 0
    finished = threading.Event()
    calls: list[Any] = []

    def program(n: int) -> int:
        nonlocal produced
        calls.append(current_run())
        for i in range(n):
            emit_sync(i)
            produced += 1
        finished.set()
        return n

    received = 0
    ahead: list[int] = []
    async for item in streamify(program, buffer_size=buffer_size)(200):
        if isinstance(item, int):
            received += 1
            # Hand-off on observed state: wait until the thread is blocked on a full buffer
            # (or done), then check how far ahead it got.
            await wait_until(
                lambda: finished.is_set() or calls[0].channel.producers_waiting > 0,
                "the producer thread blocks on the full buffer",
            )
            ahead.append(produced - received)
    assert max(ahead) <= buffer_size
    assert max(ahead) >= buffer_size - 1  # it did run ahead until the buffer was full


def test_sync_consumer_keeps_the_producer_within_buffer_size() -> None:
    produced = 0

    def program(n: int) -> int:
        nonlocal produced
        for i in range(n):
            emit_sync(i)
            produced += 1
        return n

    received = 0
    for item in streamify(program, buffer_size=4, async_streaming=False)(500):
        if isinstance(item, int):
            received += 1
            assert produced - received <= 4


@tool
def quick_tool(i: int) -> int:
    return i


@pytest.mark.parametrize("buffer_size", [1, 16])
async def test_async_program_making_thousands_of_sync_tool_calls_without_await_never_hangs(
    buffer_size: int,
) -> None:
    # DSPy 3.4.1 deadlocks here from 17 calls on: its status callback blocks the loop thread
    # waiting for buffer space only the blocked loop could free.
    async def program(n: int) -> int:
        total = 0
        for i in range(n):
            total += quick_tool(i)
        return total

    items = [item async for item in streamify(program, buffer_size=buffer_size)(3000)]
    before, prediction = split(items)
    assert len(before) == 6000
    assert prediction.raw == sum(range(3000))


async def test_overflow_from_loop_thread_is_held_back_at_the_next_emit() -> None:
    observed: dict[str, int] = {}

    async def program() -> None:
        channel = current_run().channel
        for i in range(50):
            quick_tool(i)  # sync, on the loop thread: must not block, so it overflows
        observed["after_sync_calls"] = len(channel)
        await emit("next")  # the producer is held back here until the buffer has room
        observed["after_emit"] = len(channel)

    items = [item async for item in streamify(program, buffer_size=2)()]
    assert len(items) == 102
    assert observed["after_sync_calls"] == 100  # the loop was never blocked
    assert observed["after_emit"] <= 2  # ...and the next emit waited for the consumer


async def test_overflow_from_loop_thread_is_held_back_at_the_next_instrumented_async_call() -> None:
    observed: dict[str, int] = {}

    @tool
    async def async_tool() -> None:
        observed["inside"] = len(current_run().channel)

    async def program() -> None:
        for i in range(30):
            quick_tool(i)
        await async_tool()

    items = [item async for item in streamify(program, buffer_size=3)()]
    assert len(items) == 63
    # Held back before the call started: at most the buffer plus its own start message.
    assert observed["inside"] <= 3 + 1
