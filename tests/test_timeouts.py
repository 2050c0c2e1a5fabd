"""``timeout=`` (the whole run) and ``idle_timeout=`` (the wait for any one item)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from streamify import emit, emit_sync, streamify


async def test_timeout_cancels_a_stuck_async_program_and_raises_timeout_error() -> None:
    stopped = asyncio.Event()

    async def program() -> None:
        try:
            await emit("before")
            await asyncio.Event().wait()  # never set
        finally:
            stopped.set()

    received: list[Any] = []
    with pytest.raises(TimeoutError, match="timeout=0.05s"):
        async for item in streamify(program, timeout=0.05)():
            received.append(item)
    assert received == ["before"]
    assert stopped.is_set()


async def test_idle_timeout_cancels_the_program_when_no_item_comes() -> None:
    stopped = asyncio.Event()

    async def program() -> None:
        try:
            await emit(1)
            await asyncio.Event().wait()
        finally:
            stopped.set()

    received: list[Any] = []
    with pytest.raises(TimeoutError, match="idle_timeout=0.05s"):
        async for item in streamify(program, idle_timeout=0.05)():
            received.append(item)
    assert received == [1]
    assert stopped.is_set()


def test_sync_consumer_timeouts_cancel_a_sync_program() -> None:
    release = threading.Event()
    stopped = threading.Event()

    def program() -> None:
        try:
            emit_sync("first")
            release.wait(5)
            emit_sync("stopped here")  # the cancellation point
        finally:
            stopped.set()

    received: list[Any] = []
    with pytest.raises(TimeoutError, match="idle_timeout"):
        for item in streamify(program, idle_timeout=0.05, async_streaming=False)():
            received.append(item)
    release.set()
    assert received == ["first"]
    assert stopped.is_set()


def test_sync_consumer_whole_run_timeout() -> None:
    async def program() -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError, match="timeout=0.05s"):
        list(streamify(program, timeout=0.05, async_streaming=False)())


async def test_a_program_that_finishes_in_time_is_unaffected_by_timeouts() -> None:
    async def program() -> int:
        await emit("x")
        return 1

    items = [item async for item in streamify(program, timeout=30, idle_timeout=30)()]
    assert items[0] == "x" and items[1].raw == 1
