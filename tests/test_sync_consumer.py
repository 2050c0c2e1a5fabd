"""The sync consumer: ``async_streaming=False`` and ``apply_sync_streaming``."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

import pytest

from streamify import Prediction, apply_sync_streaming, emit, streamify

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


async def numbers(n: int, fail: BaseException | None = None) -> AsyncIterator[int]:
    for i in range(n):
        yield i
    if fail is not None:
        raise fail


def test_apply_sync_streaming_yields_every_item_of_any_async_iterator_in_order() -> None:
    assert list(apply_sync_streaming(numbers(100), buffer_size=3)) == list(range(100))


def test_apply_sync_streaming_reraises_the_same_exception_after_the_items() -> None:
    error = RuntimeError("boom")
    received: list[int] = []
    with pytest.raises(RuntimeError) as caught:
        for item in apply_sync_streaming(numbers(3, error)):
            received.append(item)
    assert caught.value is error
    assert received == [0, 1, 2]


def test_apply_sync_streaming_of_a_stream_keeps_the_prediction_last() -> None:
    async def program() -> str:
        await emit("a")
        return "done"

    items = list(apply_sync_streaming(streamify(program)()))
    assert items[0] == "a"
    assert isinstance(items[1], Prediction) and items[1].raw == "done"


def test_closing_apply_sync_streaming_closes_the_async_iterator() -> None:
    closed = threading.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    stream = apply_sync_streaming(endless(), buffer_size=1)
    assert next(stream) == 0
    stream.close()
    assert closed.is_set()


def test_apply_sync_streaming_refuses_what_is_not_async_iterable() -> None:
    with pytest.raises(TypeError, match="takes an async iterator"):
        apply_sync_streaming([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 1"):
        apply_sync_streaming(numbers(1), buffer_size=0)


async def test_sync_consumer_works_from_a_thread_that_is_running_an_event_loop() -> None:
    # Documented behaviour: it works (the program runs on a private loop in a helper thread),
    # but each next() blocks the caller's loop while it waits.
    async def program() -> int:
        await emit("from the private loop")
        await asyncio.sleep(0)
        return 7

    items: list[Any] = list(streamify(program, async_streaming=False)())
    assert items[0] == "from the private loop"
    assert items[-1].raw == 7
