"""Guarantee 3: no combination of program kind, consumer kind, buffer size and number of
messages hangs (every test has a timeout: a hang is a failure)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamify import asyncify, emit, emit_sync, streamify, tool

from .helpers import split


@tool
def sync_tool(i: int) -> int:
    return i


@tool
async def async_tool(i: int) -> int:
    return i


def sync_program(n: int) -> int:
    for i in range(n):
        emit_sync(i)
        sync_tool(i)
    return n


async def async_program(n: int) -> int:
    for i in range(n):
        await emit(i)
        sync_tool(i)  # sync callback on the loop thread
        await async_tool(i)
        emit_sync(i)  # sync emit on the loop thread
        await asyncify(emit_sync)(i)  # emit from a worker thread of an async program
    return n


PROGRAMS = {"sync": (sync_program, 3), "async": (async_program, 7)}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("buffer_size", [1, 2, 16, 1024])
@pytest.mark.parametrize("n", [0, 1, 17, 400])
async def test_async_consumer_never_deadlocks(kind: str, buffer_size: int, n: int) -> None:
    program, per_step = PROGRAMS[kind]
    items = [item async for item in streamify(program, buffer_size=buffer_size)(n)]
    before, prediction = split(items)
    assert len(before) == per_step * n
    assert prediction.raw == n


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("buffer_size", [1, 2, 16, 1024])
@pytest.mark.parametrize("n", [0, 1, 17, 400])
def test_sync_consumer_never_deadlocks(kind: str, buffer_size: int, n: int) -> None:
    program, per_step = PROGRAMS[kind]
    items = list(streamify(program, buffer_size=buffer_size, async_streaming=False)(n))
    before, prediction = split(items)
    assert len(before) == per_step * n
    assert prediction.raw == n


@pytest.mark.timeout(30)
async def test_many_concurrent_sync_programs_beyond_the_thread_limit_never_deadlock() -> None:
    # 60 sync programs share 40 worker threads; each blocks on a buffer of 1 until its
    # consumer reads, and the consumers read in an order that needs all of them to progress.
    stream = streamify(sync_program, buffer_size=1)

    async def consume(n: int) -> int:
        return len([item async for item in stream(n)])

    counts = await asyncio.gather(*(consume(20) for _ in range(60)))
    assert counts == [3 * 20 + 1] * 60


@pytest.mark.timeout(30)
def test_slow_sync_consumer_with_async_program_and_buffer_one_never_deadlocks() -> None:
    received: list[Any] = []
    for item in streamify(async_program, buffer_size=1, async_streaming=False)(50):
        received.append(item)
    assert len(received) == 7 * 50 + 1
