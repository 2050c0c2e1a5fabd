"""Small shared helpers for the tests (no timing, no sleeps used to order steps)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import TYPE_CHECKING, Any, TypeVar, cast

from streamify import Prediction, StatusMessage
from streamify._context import CURRENT_RUN

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator

    from streamify._stream import StreamRun


T = TypeVar("T")


async def collect(stream: AsyncIterator[T]) -> list[T]:
    return [item async for item in stream]


def split(items: Iterable[T]) -> tuple[list[T], Prediction]:
    """(everything before the prediction, the prediction); checks it is last and unique."""
    items = list(items)
    predictions = [item for item in items if isinstance(item, Prediction)]
    assert len(predictions) == 1, f"expected exactly one Prediction, got {predictions}"
    assert isinstance(items[-1], Prediction), "the Prediction must come last"
    return items[:-1], items[-1]


def messages(items: Iterable[object]) -> list[str]:
    return [item.message for item in items if isinstance(item, StatusMessage)]


def current_run() -> StreamRun:
    """The stream run the running program feeds (test-only peek at the internals)."""
    run = CURRENT_RUN.get()
    assert run is not None, "not inside a stream"
    return cast("StreamRun", run)


async def wait_until(predicate: Any, what: str, limit: int = 200_000) -> None:
    """Yield to the loop until ``predicate()`` holds: a hand-off on observed state."""
    for _ in range(limit):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


@contextlib.contextmanager
def garbage_collector_off() -> Iterator[None]:
    """No automatic collection inside the block (``gc.collect()`` still runs when called):
    what happens there cannot depend on when some thread's allocations trigger one."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
