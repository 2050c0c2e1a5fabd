"""What a user's type checker infers, checked by ``mypy --strict`` in CI (and run by pytest).

``assert_type`` fails the type check when the inferred type differs; each ``# type: ignore``
below marks a call that must be *rejected* — ``mypy --strict`` reports an unused ignore, so
the check fails if such a call were ever accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
)
from typing import Any, Optional, Union

from typing_extensions import assert_never, assert_type

import streamify
from streamify import (
    LMResponse,
    Prediction,
    StatusMessage,
    StreamifyItem,
    StreamItem,
    StreamListener,
    StreamResponse,
    apply_sync_streaming,
    asyncify,
    lm,
    module,
)


async def answer(question: str, *, depth: int = 1) -> str:
    return question * depth


def sync_answer(question: str) -> str:
    return question


@lm
def sync_reply(question: str) -> Iterator[str]:
    yield question


@lm
async def async_reply(question: str) -> AsyncIterator[str]:
    yield question


@module(outputs=("answer",))
def qa(question: str) -> str:
    return sync_reply(question)


def test_streamify_keeps_the_programs_parameters_and_the_consumer_kind() -> None:
    stream = streamify.streamify(answer)
    assert_type(stream("q"), AsyncGenerator[StreamItem, None])
    assert_type(stream("q", depth=2), AsyncGenerator[StreamItem, None])

    def rejected() -> None:  # type-checked, never run
        stream(1)  # type: ignore[arg-type]
        stream("q", width=2)  # type: ignore[call-arg]

    sync = streamify.streamify(sync_answer, async_streaming=False)
    assert_type(sync("q"), Generator[StreamItem, None, None])

    flag: bool = bool(len("x"))
    either = streamify.streamify(sync_answer, async_streaming=flag)
    made = either("a")
    assert_type(made, Union[AsyncGenerator[StreamItem, None], Generator[StreamItem, None, None]])
    assert isinstance(made, AsyncGenerator)  # the flag is true here; never started


def test_an_item_is_an_object_until_narrowed_with_isinstance() -> None:
    assert StreamItem is object  # the alias is typing only

    def chunks(stream: Iterable[StreamItem]) -> list[str]:
        texts = []
        for item in stream:
            assert_type(item, StreamItem)
            if isinstance(item, StreamResponse):
                texts.append(item.chunk)
        return texts

    def rejected(item: StreamItem) -> str:  # type-checked, never run
        return str(item.chunk)  # type: ignore[attr-defined]  # a status, a result, anything

    def answer_of(item: StreamItem) -> Any:
        if isinstance(item, Prediction):
            return item.answer  # a Prediction's fields are Any, by name
        return None

    items = [StatusMessage("m"), StreamResponse("qa", "answer", "4", False), 42, Prediction()]
    assert chunks(items) == ["4"]
    assert answer_of(Prediction(answer="42")) == "42"
    assert callable(rejected)


def test_streamify_item_lets_a_checker_see_every_case_handled() -> None:
    def kind(item: StreamifyItem) -> str:
        if isinstance(item, StatusMessage):
            return "status"
        if isinstance(item, StreamResponse):
            return "token"
        if isinstance(item, Prediction):
            return "result"
        assert_never(item)  # a fourth kind of item would be an error here

    def leaves_out_prediction(item: StreamifyItem) -> str:
        if isinstance(item, (StatusMessage, StreamResponse)):
            return "status or token"
        assert_never(item)  # type: ignore[arg-type]  # a Prediction reaches this line

    def from_stream(item: StreamItem) -> str:
        if isinstance(item, (StatusMessage, StreamResponse, Prediction)):
            return kind(item)
        return "custom"

    def rejected(item: StreamItem) -> str:  # type-checked, never run
        return kind(item)  # type: ignore[arg-type]  # an item may be anything emitted

    assert kind(StatusMessage("m")) == "status" and from_stream(1) == "custom"
    assert from_stream(Prediction()) == "result"
    assert callable(leaves_out_prediction) and callable(rejected)


def test_apply_sync_streaming_keeps_the_item_type() -> None:
    async def numbers() -> AsyncIterator[int]:
        yield 1

    assert_type(apply_sync_streaming(numbers()), Generator[int, None, None])
    stream = streamify.streamify(answer)
    assert_type(apply_sync_streaming(stream("q")), Generator[StreamItem, None, None])
    assert list(apply_sync_streaming(numbers())) == [1]

    def rejected() -> None:  # type-checked, never run
        apply_sync_streaming([1, 2])  # type: ignore[arg-type]
        apply_sync_streaming(numbers(), buffer_size="16")  # type: ignore[arg-type]

    assert callable(rejected)


def test_emit_takes_any_object() -> None:
    async def program() -> None:
        assert_type(await streamify.emit(1), bool)
        assert_type(streamify.emit_sync({"step": 1}), bool)

    assert asyncio.run(program()) is None  # outside a stream: both do nothing


def test_wrong_arguments_to_streamify_are_rejected() -> None:
    def rejected() -> None:  # type-checked, never run: each call must be an error
        streamify.streamify(answer, stream_listeners=["answer"])  # type: ignore[list-item]
        streamify.streamify(answer, buffer_size="16")  # type: ignore[call-overload]
        streamify.streamify(answer, stream_listeners=StreamListener("a"))  # type: ignore[call-overload]
        StreamListener(1)  # type: ignore[arg-type]
        StreamListener("answer", partial="yes")  # type: ignore[arg-type]
        streamify.configure(strcit=True)  # type: ignore[call-arg]
        streamify.configure(thread_limit="4")  # type: ignore[arg-type]
        module(field_format=123)  # type: ignore[call-overload]
        with streamify.context(callbacks=[object()]):  # type: ignore[list-item]
            pass

    streamify.streamify(answer, stream_listeners=[StreamListener("answer")])
    assert callable(rejected)


def test_lm_functions_return_an_lm_response_or_a_coroutine_of_one() -> None:
    assert_type(sync_reply("q"), LMResponse)
    assert_type(qa("q"), str)
    pending = async_reply("q")
    _ = assert_type(pending, Coroutine[Any, Any, LMResponse])
    assert asyncio.run(pending) == "q"


def test_asyncify_returns_a_coroutine_that_create_task_accepts() -> None:
    def twice(x: int) -> int:
        return 2 * x

    double = asyncify(twice)

    async def main() -> int:
        pending = double(21)
        _ = assert_type(pending, Coroutine[Any, Any, int])
        return await asyncio.create_task(pending)

    async def rejected() -> None:  # type-checked, never run
        await double("x")  # type: ignore[arg-type]

    assert asyncio.run(main()) == 42
    assert callable(rejected)


def test_printing_helpers_take_streams_and_return_the_prediction() -> None:
    sync = streamify.streamify(sync_answer, async_streaming=False)
    assert_type(streamify.print_stream(sync("q"), color=False), Optional[Prediction])

    async def main() -> Optional[Prediction]:
        stream = streamify.streamify(answer)
        return await streamify.aprint_stream(stream("q"), width=80)

    def rejected() -> None:  # type-checked, never run
        streamify.print_stream(sync("q"), colour=False)  # type: ignore[call-arg]
        streamify.print_stream(streamify.streamify(answer)("q"))  # type: ignore[arg-type]

    assert callable(main) and callable(rejected)


def test_hooks_receive_the_exported_component() -> None:
    class Provider(streamify.StatusMessageProvider):
        def tool_start_status_message(
            self, instance: streamify.Component, inputs: dict[str, Any]
        ) -> Optional[str]:
            assert_type(instance.name, str)
            return instance.name

    class Wrong(streamify.StatusMessageProvider):
        def tool_start_status_message(  # type: ignore[override]
            self, instance: int, inputs: dict[str, Any]
        ) -> Optional[str]:
            return None

    assert Provider().tool_start_status_message is not None and Wrong is not None
