"""Guarantee 4: the program's exception reaches the consumer as the same object, after the
items produced before it, never wrapped or swallowed; a failing callback or status provider
is logged with its traceback and the program goes on, unless strict mode asks for raising."""

from __future__ import annotations

import logging
from typing import Any, Optional

import pytest

from streamify import (
    BaseCallback,
    CallbackError,
    Prediction,
    StatusMessageProvider,
    context,
    emit,
    emit_sync,
    streamify,
    tool,
)

from .helpers import messages


class Boom(Exception):
    pass


async def test_async_program_error_reaches_the_consumer_as_the_same_object_after_items() -> None:
    error = Boom("the program failed")

    async def program() -> None:
        await emit(1)
        await emit(2)
        raise error

    received: list[Any] = []
    with pytest.raises(Boom) as caught:
        async for item in streamify(program, buffer_size=1)():
            received.append(item)
    assert caught.value is error
    assert received == [1, 2]


async def test_sync_program_error_reaches_the_consumer_as_the_same_object_after_items() -> None:
    error = Boom("the sync program failed")

    def program() -> None:
        emit_sync("a")
        emit_sync("b")
        raise error

    received: list[Any] = []
    with pytest.raises(Boom) as caught:
        async for item in streamify(program)():
            received.append(item)
    assert caught.value is error
    assert received == ["a", "b"]


@pytest.mark.parametrize("program_is_async", [True, False])
def test_sync_consumer_reraises_the_same_exception_object_after_the_items(
    program_is_async: bool,
) -> None:
    error = Boom("failed")

    async def async_program() -> None:
        await emit("x")
        raise error

    def sync_program() -> None:
        emit_sync("x")
        raise error

    program: Any = async_program if program_is_async else sync_program
    received: list[Any] = []
    with pytest.raises(Boom) as caught:
        for item in streamify(program, async_streaming=False)():
            received.append(item)
    assert caught.value is error
    assert received == ["x"]


async def test_exception_is_never_wrapped_in_an_exception_group() -> None:
    async def program() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError) as caught:
        async for _ in streamify(program)():
            pass
    assert type(caught.value) is KeyError


class FailingProvider(StatusMessageProvider):
    def tool_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> Optional[str]:
        raise RuntimeError("provider bug")


class FailingCallback(BaseCallback):
    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        raise RuntimeError("callback bug")


@tool
def search(query: str) -> str:
    return f"found {query}"


async def program_using_search() -> str:
    return search("x")


async def test_failing_status_provider_is_logged_with_traceback_and_the_program_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="streamify"):
        items = [i async for i in streamify(program_using_search, FailingProvider())()]
    assert isinstance(items[-1], Prediction) and items[-1].raw == "found x"
    assert messages(items) == [
        "Tool calling finished! Querying the LLM with tool calling results..."
    ]
    (record,) = caplog.records
    assert "FailingProvider.tool_start_status_message" in record.getMessage()
    assert record.exc_info is not None and "provider bug" in str(record.exc_info[1])


async def test_failing_callback_is_logged_with_traceback_and_the_program_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="streamify"), context(callbacks=[FailingCallback()]):
        items = [i async for i in streamify(program_using_search)()]
    assert isinstance(items[-1], Prediction) and items[-1].raw == "found x"
    (record,) = caplog.records
    assert "FailingCallback.on_tool_start" in record.getMessage()
    assert record.exc_info is not None and "callback bug" in str(record.exc_info[1])


async def test_strict_mode_raises_a_failing_provider_to_the_consumer() -> None:
    stream = streamify(program_using_search, FailingProvider(), strict=True)
    with pytest.raises(CallbackError) as caught:
        async for _ in stream():
            pass
    assert isinstance(caught.value.__cause__, RuntimeError)


async def test_strict_mode_from_settings_raises_a_failing_callback_to_the_consumer() -> None:
    with context(callbacks=[FailingCallback()], strict=True), pytest.raises(CallbackError):
        async for _ in streamify(program_using_search)():
            pass


async def test_provider_returning_a_non_string_is_reported_as_a_provider_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class WrongType(StatusMessageProvider):
        def tool_end_status_message(self, outputs: Any) -> Any:
            return 42

    with caplog.at_level(logging.ERROR, logger="streamify"):
        items = [i async for i in streamify(program_using_search, WrongType())()]
    assert messages(items) == ["Calling tool search..."]
    assert "returned int" in str(caplog.records[0].exc_info[1])  # type: ignore[index]


@pytest.mark.parametrize("program_is_async", [True, False])
async def test_stop_iteration_from_a_program_arrives_as_runtime_error_and_never_hangs(
    program_is_async: bool,
) -> None:
    # A Future cannot carry StopIteration, and Python itself turns one that escapes a
    # coroutine into RuntimeError; the original stays reachable as the cause.
    error = StopIteration("leaked")

    async def async_program() -> None:
        await emit("before")
        raise error

    def sync_program() -> None:
        emit_sync("before")
        raise error

    program: Any = async_program if program_is_async else sync_program
    received: list[Any] = []
    with pytest.raises(RuntimeError) as caught:
        async for item in streamify(program)():
            received.append(item)
    assert received == ["before"]
    assert caught.value.__cause__ is error
