"""Guarantee 7: contextvars set by the caller are visible inside the program, its worker
threads and its callbacks."""

from __future__ import annotations

import contextvars
import threading
from typing import Any, Optional

from streamify import (
    BaseCallback,
    Prediction,
    StatusMessage,
    StatusMessageProvider,
    asyncify,
    context,
    emit_sync,
    streamify,
    tool,
)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


class ContextProvider(StatusMessageProvider):
    def tool_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> Optional[str]:
        return f"provider sees {request_id.get()}"


class ContextCallback(BaseCallback):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.seen.append(request_id.get())


@tool
def lookup() -> str:
    return request_id.get()


async def test_caller_context_is_visible_in_an_async_program_its_threads_and_callbacks() -> None:
    def in_thread() -> tuple[str, bool]:
        return request_id.get(), threading.current_thread() is not threading.main_thread()

    async def program() -> dict[str, Any]:
        return {
            "program": request_id.get(),
            "thread": await asyncify(in_thread)(),
            "tool": lookup(),
        }

    callback = ContextCallback()
    request_id.set("req-1")
    with context(callbacks=[callback]):
        items = [item async for item in streamify(program, ContextProvider())()]
    result = items[-1]
    assert isinstance(result, Prediction)
    assert result.program == "req-1"
    assert result.thread == ("req-1", True)
    assert result.tool == "req-1"
    assert callback.seen == ["req-1"]
    assert isinstance(items[0], StatusMessage) and items[0].message == "provider sees req-1"


async def test_caller_context_is_visible_in_a_sync_program_running_in_a_worker_thread() -> None:
    def program() -> dict[str, Any]:
        emit_sync(request_id.get())
        return {"thread": threading.current_thread().name, "tool": lookup()}

    request_id.set("req-2")
    items = [item async for item in streamify(program, ContextProvider())()]
    assert items[0] == "req-2"
    assert isinstance(items[1], StatusMessage) and items[1].message == "provider sees req-2"
    result = items[-1]
    assert isinstance(result, Prediction)
    assert result.tool == "req-2"
    assert result.thread.startswith("streamify-worker")


def test_caller_context_is_visible_through_the_sync_consumer() -> None:
    async def program() -> str:
        return request_id.get()

    token = request_id.set("req-3")
    try:
        items = list(streamify(program, async_streaming=False)())
    finally:
        request_id.reset(token)
    assert isinstance(items[-1], Prediction) and items[-1].raw == "req-3"


async def test_context_is_captured_when_the_stream_starts_not_when_it_is_wrapped() -> None:
    async def program() -> str:
        return request_id.get()

    stream = streamify(program)
    request_id.set("later")
    items = [item async for item in stream()]
    assert isinstance(items[-1], Prediction) and items[-1].raw == "later"


async def test_context_changes_inside_the_program_do_not_leak_to_the_caller() -> None:
    async def program() -> None:
        request_id.set("inside")

    request_id.set("outside")
    [item async for item in streamify(program)()]
    assert request_id.get() == "outside"
