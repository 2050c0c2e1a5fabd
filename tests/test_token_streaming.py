"""Token streaming through a stream: ``@lm`` chunk forwarding to ``StreamListener``s."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamify import (
    BaseCallback,
    Prediction,
    StatusMessageProvider,
    StreamListener,
    StreamResponse,
    context,
    lm,
    module,
    streamify,
)

REPLY = (
    "[[ ## reasoning ## ]]\nBecause it is.\n\n"
    "[[ ## answer ## ]]\nHow are you doing?\n\n"
    "[[ ## completed ## ]]"
)


def pieces(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@lm
async def chat_lm(reply: str = REPLY, size: int = 3) -> AsyncIterator[str]:
    for piece in pieces(reply, size):
        await asyncio.sleep(0)
        yield piece


@module(outputs=("reasoning", "answer"))
async def qa(reply: str = REPLY, size: int = 3) -> Prediction:
    text = await chat_lm(reply, size)
    return Prediction(text=text)


def tokens(items: list[Any], field: Optional[str] = None) -> list[StreamResponse]:
    return [
        item
        for item in items
        if isinstance(item, StreamResponse)
        and (field is None or item.signature_field_name == field)
    ]


def text_of(responses: list[StreamResponse]) -> str:
    return "".join(response.chunk for response in responses)


async def run(stream: Any, *args: Any) -> list[Any]:
    return [item async for item in stream(*args)]


async def test_listener_streams_only_its_field_with_markers_stripped_and_one_last_chunk() -> None:
    items = await run(streamify(qa, stream_listeners=[StreamListener("answer")]))
    answer = tokens(items)
    assert text_of(answer) == "How are you doing?"
    assert [r.is_last_chunk for r in answer].count(True) == 1
    assert answer[-1].is_last_chunk
    assert items[-1].text == REPLY  # the caller of the @lm function got the joined text


async def test_chunks_are_tagged_with_the_innermost_module_call() -> None:
    recorded: list[str] = []

    class Ids(BaseCallback):
        def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            recorded.append(call_id)

    with context(callbacks=[Ids()]):
        items = await run(streamify(qa, stream_listeners=[StreamListener("answer")]))
    answer = tokens(items)
    assert {r.predict_name for r in answer} == {"qa"}
    assert {r.call_id for r in answer} == {recorded[0]}


async def test_two_fields_stream_side_by_side_from_one_reply() -> None:
    listeners = [StreamListener("reasoning"), StreamListener("answer")]
    items = await run(streamify(qa, stream_listeners=listeners))
    assert text_of(tokens(items, "reasoning")) == "Because it is."
    assert text_of(tokens(items, "answer")) == "How are you doing?"
    fields = [r.signature_field_name for r in tokens(items)]
    assert fields.index("answer") > max(i for i, f in enumerate(fields) if f == "reasoning")


async def test_a_reply_in_one_chunk_still_yields_the_field() -> None:
    @lm
    def cached_lm() -> str:
        return REPLY

    @module(outputs=("answer",))
    def cached() -> str:
        return cached_lm()

    items = await run(streamify(cached, stream_listeners=[StreamListener("answer")]))
    (only,) = tokens(items)
    assert only.chunk == "How are you doing?"
    assert only.is_last_chunk


async def test_listeners_are_per_call_templates_so_every_call_streams() -> None:
    # DSPy #8425: a listener streams only on its first call, and concurrent calls corrupt it.
    listener = StreamListener("answer")
    stream = streamify(qa, stream_listeners=[listener])
    first = await run(stream)
    second = await run(stream)
    assert text_of(tokens(first)) == text_of(tokens(second)) == "How are you doing?"

    async def one(i: int) -> str:
        reply = REPLY.replace("How are you doing?", f"answer number {i}")
        return text_of(tokens(await run(stream, reply, 1 + i % 5)))

    results = await asyncio.gather(*(one(i) for i in range(100)))
    assert results == [f"answer number {i}" for i in range(100)]


async def test_final_prediction_is_left_out_only_when_a_listener_streamed() -> None:
    streamed = await run(
        streamify(
            qa,
            stream_listeners=[StreamListener("answer")],
            include_final_prediction_in_output_stream=False,
        )
    )
    assert not any(isinstance(item, Prediction) for item in streamed)
    assert text_of(tokens(streamed)) == "How are you doing?"

    nothing = await run(
        streamify(
            qa,
            stream_listeners=[StreamListener("missing_field", predict_name="qa")],
            include_final_prediction_in_output_stream=False,
        )
    )
    assert isinstance(nothing[-1], Prediction)  # nothing streamed: the answer still comes


@lm
async def agent_lm(step: int) -> AsyncIterator[str]:
    yield f"[[ ## answer ## ]]\nstep {step}\n\n[[ ## completed ## ]]"


@module(outputs=("answer",))
async def agent_loop() -> int:
    for step in range(3):
        await agent_lm(step)
    return 3


async def test_allow_reuse_streams_the_field_again_in_later_lm_calls() -> None:
    reused = await run(
        streamify(agent_loop, stream_listeners=[StreamListener("answer", allow_reuse=True)])
    )
    assert [r.chunk for r in tokens(reused) if r.chunk] == ["step 0", "step 1", "step 2"]
    assert [r.is_last_chunk for r in tokens(reused)].count(True) == 3

    once = await run(streamify(agent_loop, stream_listeners=[StreamListener("answer")]))
    assert [r.chunk for r in tokens(once) if r.chunk] == ["step 0"]


class Program:
    @module(name="draft", outputs=("answer",))
    async def draft(self) -> str:
        return await chat_lm(REPLY.replace("How are you doing?", "draft answer"))

    @module(name="final", outputs=("answer",))
    async def final(self) -> str:
        return await chat_lm(REPLY.replace("How are you doing?", "final answer"))

    async def __call__(self) -> str:
        await self.draft()
        return await self.final()


async def test_listener_matching_by_predict_and_by_predict_name() -> None:
    program = Program()
    by_method = await run(
        streamify(program, stream_listeners=[StreamListener("answer", predict=program.final)])
    )
    assert text_of(tokens(by_method)) == "final answer"
    by_name = await run(
        streamify(program, stream_listeners=[StreamListener("answer", predict_name="draft")])
    )
    assert text_of(tokens(by_name)) == "draft answer"
    assert {r.predict_name for r in tokens(by_name)} == {"draft"}


def test_an_ambiguous_automatic_listener_is_refused_when_wrapping() -> None:
    with pytest.raises(ValueError, match="'draft', 'final'.*predict= or predict_name="):
        streamify(Program(), stream_listeners=[StreamListener("answer")])


async def test_an_ambiguity_only_visible_while_running_is_refused_with_the_fix() -> None:
    draft, final = Program().draft, Program().final

    async def program() -> str:  # a plain function: its modules are only known as it runs
        await draft()
        return await final()

    with pytest.raises(ValueError, match="'draft' and 'final'.*predict= or predict_name="):
        await run(streamify(program, stream_listeners=[StreamListener("answer")]))


def test_listener_configuration_errors_are_refused_when_wrapping() -> None:
    def plain() -> None:
        pass

    with pytest.raises(TypeError, match="decorate it with @streamify.module"):
        streamify(qa, stream_listeners=[StreamListener("answer", predict=plain)])
    with pytest.raises(ValueError, match="declares outputs .* not 'summary'"):
        streamify(qa, stream_listeners=[StreamListener("summary", predict=qa)])
    with pytest.raises(ValueError, match="two listeners for field 'answer'"):
        streamify(qa, stream_listeners=[StreamListener("answer"), StreamListener("answer")])
    with pytest.raises(TypeError, match="is a @lm"):
        streamify(qa, stream_listeners=[StreamListener("answer", predict=chat_lm)])


async def test_module_declared_field_format_is_used_by_listeners_without_one() -> None:
    @lm
    async def json_lm() -> AsyncIterator[str]:
        for piece in pieces('{"reasoning": "r", "answer": "line\\nbreak \\u00e9"}', 4):
            yield piece

    @module(outputs=("reasoning", "answer"), field_format="json")
    async def json_module() -> str:
        return await json_lm()

    items = await run(streamify(json_module, stream_listeners=[StreamListener("answer")]))
    assert text_of(tokens(items)) == "line\nbreak \u00e9"


async def test_sync_lm_generator_in_a_sync_program_streams_with_backpressure() -> None:
    @lm
    def sync_lm() -> Iterator[str]:
        yield from pieces(REPLY, 2)

    @module(outputs=("answer",))
    def sync_module() -> str:
        return sync_lm()

    items = await run(
        streamify(sync_module, stream_listeners=[StreamListener("answer")], buffer_size=1)
    )
    assert text_of(tokens(items)) == "How are you doing?"
    assert items[-1].raw == REPLY


async def test_lm_events_reach_callbacks_and_the_status_provider() -> None:
    events: list[str] = []

    class Calls(BaseCallback):
        def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            events.append(f"start {instance.name} {inputs}")

        def on_lm_end(
            self, call_id: str, outputs: Optional[Any], exception: Optional[BaseException] = None
        ) -> None:
            events.append(f"end {len(outputs or '')}")

    class Provider(StatusMessageProvider):
        def lm_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> str:
            return "thinking..."

    with context(callbacks=[Calls()]):
        items = await run(streamify(qa, Provider()), "[[ ## answer ## ]] x", 5)
    assert events == ["start chat_lm {'reply': '[[ ## answer ## ]] x', 'size': 5}", "end 20"]
    assert items[0].message == "thinking..."


def test_lm_outside_a_stream_is_a_plain_call_returning_the_joined_text() -> None:
    assert asyncio.run(chat_lm("abcdef", 2)) == "abcdef"

    @lm
    def bad_lm() -> Iterator[Any]:
        yield b"bytes"

    with pytest.raises(TypeError, match="chunk of type bytes has no known shape"):
        bad_lm()


async def test_chunks_of_a_module_nobody_listens_to_produce_no_items(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        items = await run(
            streamify(qa, stream_listeners=[StreamListener("answer", predict_name="x")])
        )
    assert tokens(items) == []
    assert len(items) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.integers(1, len(REPLY) - 1), unique=True, max_size=30),
    buffer_size=st.sampled_from([1, 3, 16]),
)
def test_any_chunking_of_the_reply_streams_the_same_field_text_end_to_end(
    cuts: list[int], buffer_size: int
) -> None:
    bounds = [0, *sorted(cuts), len(REPLY)]
    chunks = [REPLY[a:b] for a, b in zip(bounds, bounds[1:])]

    @lm
    async def split_lm() -> AsyncIterator[str]:
        for chunk in chunks:
            yield chunk

    @module(outputs=("answer",))
    async def split_module() -> str:
        return await split_lm()

    stream = streamify(
        split_module, stream_listeners=[StreamListener("answer")], buffer_size=buffer_size
    )
    items = asyncio.run(run(stream), debug=True)
    answer = tokens(items)
    assert text_of(answer) == "How are you doing?"
    assert [r.is_last_chunk for r in answer].count(True) == 1
