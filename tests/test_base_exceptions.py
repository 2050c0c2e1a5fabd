"""``KeyboardInterrupt`` and ``SystemExit`` raised in a program reach the consumer as the same
object, after the items before them; ``GeneratorExit`` during ``aclose()`` is clean."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streamify import apply_sync_streaming, emit, emit_sync, streamify


@pytest.mark.parametrize("error_type", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("program_kind", ["async", "sync"])
@pytest.mark.parametrize("consumer_kind", ["async", "sync", "apply_sync"])
def test_keyboard_interrupt_and_system_exit_reach_the_consumer_as_the_same_object(
    error_type: type[BaseException], program_kind: str, consumer_kind: str
) -> None:
    error = error_type("stop everything")

    async def async_program() -> None:
        await emit("before")
        raise error

    def sync_program() -> None:
        emit_sync("before")
        raise error

    program: Any = async_program if program_kind == "async" else sync_program
    received: list[Any] = []

    async def consume_async() -> None:
        async for item in streamify(program)():
            received.append(item)

    with pytest.raises(error_type) as caught:
        if consumer_kind == "async":
            asyncio.run(consume_async(), debug=True)
        elif consumer_kind == "sync":
            for item in streamify(program, async_streaming=False)():
                received.append(item)
        else:
            for item in apply_sync_streaming(streamify(program)()):
                received.append(item)
    assert caught.value is error
    assert received == ["before"]


async def test_generator_exit_thrown_into_the_stream_closes_it_cleanly() -> None:
    stopped = asyncio.Event()

    async def program() -> None:
        try:
            while True:
                await emit("tick")
        finally:
            stopped.set()

    stream = streamify(program, buffer_size=1)()
    assert await stream.__anext__() == "tick"
    with pytest.raises(GeneratorExit):
        await stream.athrow(GeneratorExit)
    assert stopped.is_set()
    await stream.aclose()  # closing again is a no-op
