"""``timeout=`` (the whole run) and ``idle_timeout=`` (the wait for any one item)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from streamify import Prediction, emit, emit_sync, streamify
from streamify._channel import Channel


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


def test_sync_consumer_idle_timeout_stops_a_sync_program_at_its_next_emit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The program waits for a hand-off that comes once the consumer has given up (when the
    # stream closes its read side), then emits: that emit is where it must stop.
    gave_up = threading.Event()
    stopped = threading.Event()
    reached: list[str] = []
    close_read = Channel.close_read

    def close_read_and_signal(self: Channel[Any]) -> None:
        close_read(self)
        gave_up.set()

    monkeypatch.setattr(Channel, "close_read", close_read_and_signal)

    def program() -> None:
        try:
            emit_sync("first")
            assert gave_up.wait(10), "the consumer never timed out"
            reached.append("after the timeout")
            emit_sync("stopped here")  # the cancellation point
            reached.append("not stopped")
        finally:
            stopped.set()

    received: list[Any] = []
    with pytest.raises(TimeoutError, match="idle_timeout"):
        for item in streamify(program, idle_timeout=0.05, async_streaming=False)():
            received.append(item)
    assert received == ["first"]
    assert stopped.is_set()
    assert reached == ["after the timeout"]


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
    assert items[0] == "x" and isinstance(items[1], Prediction) and items[1].raw == 1
