"""What a user's type checker infers, checked by ``mypy --strict`` in CI (and run by pytest).

``assert_type`` fails the type check when the inferred type differs; each ``# type: ignore``
below marks a call that must be *rejected* — ``mypy --strict`` reports an unused ignore, so
the check fails if such a call were ever accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Generator, Iterator
from typing import Any, Optional, Union

from typing_extensions import assert_type

import streamify
from streamify import LMResponse, Prediction, StreamListener, asyncify, lm, module


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
    assert_type(stream("q"), AsyncGenerator[Any, None])
    assert_type(stream("q", depth=2), AsyncGenerator[Any, None])

    def rejected() -> None:  # type-checked, never run
        stream(1)  # type: ignore[arg-type]
        stream("q", width=2)  # type: ignore[call-arg]

    sync = streamify.streamify(sync_answer, async_streaming=False)
    assert_type(sync("q"), Generator[Any, None, None])

    flag: bool = bool(len("x"))
    either = streamify.streamify(sync_answer, async_streaming=flag)
    made = either("a")
    assert_type(made, Union[AsyncGenerator[Any, None], Generator[Any, None, None]])
    assert isinstance(made, AsyncGenerator)  # the flag is true here; never started


def test_wrong_arguments_to_streamify_are_rejected() -> None:
    def rejected() -> None:  # type-checked, never run: each call must be an error
        streamify.streamify(answer, stream_listeners=["answer"])  # type: ignore[list-item]
        streamify.streamify(answer, buffer_size="16")  # type: ignore[call-overload]
        streamify.configure(strcit=True)  # type: ignore[call-arg]
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
