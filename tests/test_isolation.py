"""Guarantee 6: calls are isolated.  Concurrent or not, two calls of one streamified program
share no mutable state, and ``streamify`` never mutates global settings."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from streamify import (
    BaseCallback,
    Prediction,
    StatusMessage,
    StatusMessageProvider,
    configure,
    emit,
    streamify,
    tool,
)
from streamify._context import current_settings


@tool
async def echo(tag: int) -> int:
    await asyncio.sleep(0)
    return tag


class TaggingProvider(StatusMessageProvider):
    def tool_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> Optional[str]:
        return f"start {inputs['tag']}"


async def test_one_hundred_concurrent_calls_see_only_their_own_items() -> None:
    async def program(tag: int) -> int:
        for i in range(20):
            await emit((tag, i))
            await echo(tag)
        return tag

    stream = streamify(program, TaggingProvider(), buffer_size=2)

    async def consume(tag: int) -> list[Any]:
        return [item async for item in stream(tag)]

    results = await asyncio.gather(*(consume(tag) for tag in range(100)))
    for tag, items in enumerate(results):
        emitted = [item for item in items if isinstance(item, tuple)]
        status = [item.message for item in items if isinstance(item, StatusMessage)]
        assert emitted == [(tag, i) for i in range(20)]
        assert (
            status
            == [
                f"start {tag}",
                "Tool calling finished! Querying the LLM with tool calling results...",
            ]
            * 20
        )
        assert items[-1].raw == tag


async def test_sequential_calls_start_from_fresh_state() -> None:
    async def program(n: int) -> int:
        for i in range(n):
            await emit(i)
        return n

    stream = streamify(program, buffer_size=1)
    first = [item async for item in stream(3)]
    second = [item async for item in stream(2)]
    assert first[:-1] == [0, 1, 2]
    assert second[:-1] == [0, 1]


class Recorder(BaseCallback):
    def __init__(self) -> None:
        self.starts: list[str] = []

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.starts.append(instance.name)


async def test_streamify_never_mutates_global_callbacks() -> None:
    recorder = Recorder()
    configure(callbacks=[recorder])
    try:
        before = current_settings()
        seen_inside: list[Any] = []

        async def program() -> int:
            seen_inside.append(current_settings().callbacks)
            return await echo(1)

        stream = streamify(program, TaggingProvider())
        items = [item async for item in stream()]
        assert current_settings() is before
        assert seen_inside == [(recorder,)]  # the stream's own status handling is no callback
        assert recorder.starts == ["echo"]
        assert isinstance(items[0], StatusMessage) and items[0].message == "start 1"
    finally:
        configure(callbacks=[])


async def test_a_stream_outside_any_call_sees_no_other_streams_items() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def long_program() -> None:
        await emit("long")
        started.set()
        await release.wait()

    async def short_program() -> int:
        await echo(5)  # would go to the long stream if state leaked between calls
        return 5

    long_stream = streamify(long_program)()
    first = await long_stream.__anext__()
    await started.wait()
    short_items = [item async for item in streamify(short_program)()]
    release.set()
    rest = [item async for item in long_stream]
    assert first == "long"
    assert len(rest) == 1 and isinstance(rest[0], Prediction) and rest[0].raw is None
    assert len(short_items) == 3
