"""LMResponse, ToolCall, Usage and the assembler of raw provider chunks.

The provider chunks are built with the real SDK types (``openai``, ``anthropic``): validated
from the JSON the APIs send, as SDK objects, as their ``model_dump()`` dicts and as the raw
JSON dicts; and, end to end, parsed by the SDKs' own streaming clients from a server-sent
event body (an in-memory HTTP transport).  Tests that need an SDK skip when it is not
installed, unless ``STREAMIFY_REQUIRE_SDKS=1``, which makes its absence an error.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import os
import pickle
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamify._exceptions import StreamifyError
from streamify._lm_chunks import (
    ACCEPTED_SHAPES,
    FinishReason,
    LMChunkAssembler,
    LMEvent,
    LMStreamError,
    ReasoningDelta,
    ToolCallArgumentsDelta,
    ToolCallStarted,
    UsageReported,
)
from streamify._lm_response import LMResponse, ToolCall, Usage

Raw = Dict[str, Any]


def _available(name: str) -> bool:
    if importlib.util.find_spec(name) is not None:
        return True
    if os.environ.get("STREAMIFY_REQUIRE_SDKS") == "1":
        raise RuntimeError(f"STREAMIFY_REQUIRE_SDKS=1 but {name!r} is not installed")
    return False


HAVE_OPENAI = _available("openai")
HAVE_ANTHROPIC = _available("anthropic")
needs_openai = pytest.mark.skipif(not HAVE_OPENAI, reason="the openai SDK is not installed")
needs_anthropic = pytest.mark.skipif(
    not HAVE_ANTHROPIC, reason="the anthropic SDK is not installed"
)

FORMS = ("object", "model_dump", "raw")


def run(chunks: Sequence[object]) -> Tuple[LMResponse, List[LMEvent]]:
    """Feed every chunk to a fresh assembler; the response and all events, in order."""
    assembler = LMChunkAssembler()
    events: List[LMEvent] = []
    for chunk in chunks:
        events.extend(assembler.feed(chunk))
    return assembler.finish(), events


def check_events_match(response: LMResponse, events: Sequence[LMEvent]) -> None:
    """The events say the same as the response: text, reasoning, calls, usage, reason."""
    assert "".join(e for e in events if type(e) is str) == response
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert reasoning == response.reasoning
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [(e.index, e.id, e.name) for e in started] == [
        (i, c.id, c.name) for i, c in enumerate(response.tool_calls)
    ]
    for index, call in enumerate(response.tool_calls):
        position = events.index(started[index])
        deltas = [e for e in events if isinstance(e, ToolCallArgumentsDelta) and e.index == index]
        assert all(events.index(d) > position for d in deltas)
        assert all(d.id == call.id for d in deltas)
        assert "".join(d.delta for d in deltas) == call.arguments
    usages = [e.usage for e in events if isinstance(e, UsageReported)]
    if response.usage is None:
        assert usages == []
    reasons = [e.reason for e in events if isinstance(e, FinishReason)]
    assert (reasons[-1] if reasons else None) == response.finish_reason


# --------------------------------------------------------------------------------------------
# Building chunks with the SDK types.


def chat_chunk(
    delta: Optional[Raw] = None,
    finish_reason: Optional[str] = None,
    *,
    index: int = 0,
    usage: Optional[Raw] = None,
    choices: Optional[List[Raw]] = None,
    chunk_id: str = "chatcmpl-1",
    model: str = "gpt-4o-mini",
) -> Raw:
    """The JSON of one Chat Completions chunk, as the API sends it."""
    if choices is None:
        choices = [
            {"index": index, "delta": delta or {}, "logprobs": None, "finish_reason": finish_reason}
        ]
    raw: Raw = {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "system_fingerprint": "fp_1",
        "choices": choices,
    }
    if usage is not None:
        raw["usage"] = usage
    return raw


def as_chat(raws: Sequence[Raw], form: str) -> List[object]:
    from openai.types.chat import ChatCompletionChunk

    objects = [ChatCompletionChunk.model_validate(raw) for raw in raws]
    if form == "object":
        return list(objects)
    if form == "model_dump":
        return [obj.model_dump() for obj in objects]
    return list(raws)


def as_responses(raws: Sequence[Raw], form: str) -> List[object]:
    from openai.types.responses import ResponseStreamEvent
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    objects = [adapter.validate_python(raw) for raw in raws]
    for obj, raw in zip(objects, raws):
        assert obj.type == raw["type"]
    if form == "object":
        return list(objects)
    if form == "model_dump":
        return [obj.model_dump() for obj in objects]
    return list(raws)


def as_anthropic(raws: Sequence[Raw], form: str) -> List[object]:
    from anthropic.types import RawMessageStreamEvent
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    # The SDK drops "ping" events itself (they are no RawMessageStreamEvent); a raw reader
    # of the event stream sees them, so they stay dicts here.
    objects = [raw if raw["type"] == "ping" else adapter.validate_python(raw) for raw in raws]
    for obj, raw in zip(objects, raws):
        assert raw["type"] == "ping" or getattr(obj, "type", None) == raw["type"]
    if form == "object":
        return list(objects)
    if form == "model_dump":
        return [obj if isinstance(obj, dict) else obj.model_dump() for obj in objects]
    return list(raws)


def response_body(
    status: str = "completed",
    usage: Optional[Raw] = None,
    error: Optional[Raw] = None,
    incomplete: Optional[Raw] = None,
    output: Optional[List[Raw]] = None,
) -> Raw:
    body: Raw = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "model": "gpt-5-mini",
        "output": output or [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "status": status,
        "error": error,
        "incomplete_details": incomplete,
    }
    if usage is not None:
        body["usage"] = usage
    return body


def responses_usage(inp: int, out: int) -> Raw:
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": inp + out,
    }


_SEQ = iter(range(10**9))


def r_event(kind: str, **fields: Any) -> Raw:
    return {"type": kind, "sequence_number": next(_SEQ), **fields}


def r_text(text: str, item: str = "msg_1", output_index: int = 0) -> Raw:
    return r_event(
        "response.output_text.delta",
        item_id=item,
        output_index=output_index,
        content_index=0,
        delta=text,
        logprobs=[],
    )


def r_call_added(output_index: int, call_id: str, name: str, item_id: str) -> Raw:
    return r_event(
        "response.output_item.added",
        output_index=output_index,
        item={
            "type": "function_call",
            "id": item_id,
            "call_id": call_id,
            "name": name,
            "arguments": "",
            "status": "in_progress",
        },
    )


def r_args(output_index: int, item_id: str, delta: str) -> Raw:
    return r_event(
        "response.function_call_arguments.delta",
        output_index=output_index,
        item_id=item_id,
        delta=delta,
    )


def r_args_done(output_index: int, item_id: str, arguments: str, name: str) -> Raw:
    return r_event(
        "response.function_call_arguments.done",
        output_index=output_index,
        item_id=item_id,
        arguments=arguments,
        name=name,
    )


def a_message_start(
    inp: int = 10, out: int = 1, cache_read: int = 0, cache_write: int = 0, msg_id: str = "msg_1"
) -> Raw:
    return {
        "type": "message_start",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": inp,
                "output_tokens": out,
                "cache_read_input_tokens": cache_read,
                "cache_creation_input_tokens": cache_write,
            },
        },
    }


def a_block_start(index: int, block: Raw) -> Raw:
    return {"type": "content_block_start", "index": index, "content_block": block}


def a_delta(index: int, delta: Raw) -> Raw:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def a_text(index: int, text: str) -> Raw:
    return a_delta(index, {"type": "text_delta", "text": text})


def a_json(index: int, partial: str) -> Raw:
    return a_delta(index, {"type": "input_json_delta", "partial_json": partial})


def a_stop(index: int) -> Raw:
    return {"type": "content_block_stop", "index": index}


def a_message_delta(stop_reason: Optional[str], out: int, **usage: int) -> Raw:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": out, **usage},
    }


A_MESSAGE_STOP: Raw = {"type": "message_stop"}


def tool_use(tool_id: str, name: str) -> Raw:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": {}}


# --------------------------------------------------------------------------------------------
# LMResponse, ToolCall, Usage.


def full_response() -> LMResponse:
    return LMResponse(
        "The answer is 42.",
        reasoning="6 * 7",
        tool_calls=(ToolCall("call_1", "calc", '{"x": 6, "y": 7}'),),
        usage=Usage(12, 5, 17, "gpt-4o"),
        finish_reason="stop",
    )


def test_lm_response_is_its_text() -> None:
    response = full_response()
    assert isinstance(response, str)
    assert response == "The answer is 42."
    assert hash(response) == hash("The answer is 42.")
    lookup: Dict[str, int] = {response: 1}
    assert lookup["The answer is 42."] == 1
    assert response.upper() == "THE ANSWER IS 42."
    assert type(response.upper()) is str
    assert type(response + "!") is str
    assert type(response.text) is str and response.text == response
    assert f"{response}" == "The answer is 42."
    assert json.dumps(response) == '"The answer is 42."'
    assert LMResponse() == "" and LMResponse().tool_calls == ()


def test_lm_response_equality_is_text_equality() -> None:
    plain = LMResponse("same")
    rich = LMResponse("same", reasoning="r", finish_reason="stop")
    assert plain == rich
    assert plain.reasoning != rich.reasoning


def test_lm_response_fields() -> None:
    response = full_response()
    assert response.reasoning == "6 * 7"
    assert response.tool_calls == (ToolCall("call_1", "calc", '{"x": 6, "y": 7}'),)
    assert response.tool_calls[0].args == {"x": 6, "y": 7}
    assert response.usage == Usage(12, 5, 17, "gpt-4o")
    assert response.finish_reason == "stop"
    bare = LMResponse("hi")
    assert (bare.reasoning, bare.tool_calls, bare.usage, bare.finish_reason) == ("", (), None, None)
    listed = LMResponse("x", tool_calls=[ToolCall("a", "b", "{}")])
    assert listed.tool_calls == (ToolCall("a", "b", "{}"),)


def test_lm_response_repr() -> None:
    assert repr(LMResponse("hi")) == "LMResponse('hi')"
    assert repr(LMResponse("hi", finish_reason="stop")) == "LMResponse('hi', finish_reason='stop')"
    text = repr(full_response())
    assert text == (
        "LMResponse('The answer is 42.', reasoning='6 * 7', tool_calls=(ToolCall(id='call_1', "
        "name='calc', arguments='{\"x\": 6, \"y\": 7}'),), usage=Usage(input_tokens=12, "
        "output_tokens=5, total_tokens=17, model='gpt-4o'), finish_reason='stop')"
    )


def test_lm_response_is_immutable() -> None:
    response = full_response()
    with pytest.raises(AttributeError, match="immutable"):
        response.reasoning = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        response.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="immutable"):
        del response.usage
    with pytest.raises(AttributeError):
        response.tool_calls[0].name = "x"  # type: ignore[misc]
    assert response.reasoning == "6 * 7"


class _MyResponse(LMResponse):
    pass


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_lm_response_pickles(protocol: int) -> None:
    for response in (full_response(), LMResponse("plain"), _MyResponse("sub", reasoning="r")):
        back = pickle.loads(pickle.dumps(response, protocol=protocol))
        assert type(back) is type(response)
        assert back == response
        assert repr(back) == repr(response)


def test_lm_response_copies() -> None:
    response = full_response()
    for back in (copy.copy(response), copy.deepcopy(response)):
        assert type(back) is LMResponse
        assert repr(back) == repr(response)
        assert back.tool_calls == response.tool_calls


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": 1}, "text must be a str"),
        ({"text": "", "reasoning": None}, "reasoning must be a str"),
        ({"text": "", "tool_calls": [("a", "b", "{}")]}, "ToolCall objects"),
        ({"text": "", "usage": (1, 2, 3)}, "usage must be a Usage"),
        ({"text": "", "finish_reason": 1}, "finish_reason must be a str"),
    ],
)
def test_lm_response_refuses_bad_fields(kwargs: Dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        LMResponse(**kwargs)


def test_tool_call_args() -> None:
    assert ToolCall("id", "f", '{"a": [1, 2], "b": null}').args == {"a": [1, 2], "b": None}
    call = ToolCall("id", "f", '{"a": 1}')
    first = call.args
    first["a"] = 2
    assert call.args == {"a": 1}  # a fresh object each time
    assert ToolCall("id", "f", "").args == {}
    assert ToolCall("id", "f", "  ").args == {}


def test_tool_call_args_invalid_json_quotes_the_text() -> None:
    call = ToolCall("call_9", "search", '{"q": "cats"')
    with pytest.raises(ValueError, match="not valid JSON") as info:
        _ = call.args
    message = str(info.value)
    assert repr('{"q": "cats"') in message
    assert "'search'" in message and "'call_9'" in message
    assert isinstance(info.value.__cause__, json.JSONDecodeError)
    long_text = '{"q": "' + "x" * 5000
    with pytest.raises(ValueError, match=r"\.\.\.'$"):
        _ = ToolCall("i", "f", long_text).args


def test_tool_call_is_frozen() -> None:
    call = ToolCall("a", "b", "{}")
    with pytest.raises(AttributeError):
        call.arguments = "[]"  # type: ignore[misc]
    assert call == ToolCall("a", "b", "{}")
    assert len({call, ToolCall("a", "b", "{}")}) == 1


def test_usage_adds_within_one_model() -> None:
    total = Usage(1, 2, 3, "m") + Usage(10, 20, 30, "m")
    assert total == Usage(11, 22, 33, "m")
    assert sum([Usage(1, 2, 3, "m"), Usage(1, 1, 2, "m")]) == Usage(2, 3, 5, "m")
    assert Usage(1, 1, 2) + Usage(1, 1, 2) == Usage(2, 2, 4, None)
    with pytest.raises(ValueError, match="by_model"):
        Usage(1, 2, 3, "a") + Usage(1, 2, 3, "b")
    with pytest.raises(TypeError):
        Usage(1, 2, 3, "a") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = 1 + Usage(1, 2, 3, "a")


def test_usage_by_model() -> None:
    usages = [Usage(1, 1, 2, "a"), None, Usage(2, 2, 4, "b"), Usage(3, 3, 6, "a"), Usage(1, 0, 1)]
    totals = Usage.by_model(usages)
    assert list(totals) == ["a", "b", None]
    assert totals == {"a": Usage(4, 4, 8, "a"), "b": Usage(2, 2, 4, "b"), None: Usage(1, 0, 1)}
    assert Usage.by_model([]) == {}


# --------------------------------------------------------------------------------------------
# Plain str chunks, unknown chunks, the assembler's life cycle.


def test_str_chunks_are_text_deltas() -> None:
    response, events = run(["Hel", "", "lo"])
    assert events == ["Hel", "lo"]
    assert response == "Hello" and type(response) is LMResponse
    assert (response.reasoning, response.tool_calls, response.usage) == ("", (), None)
    assert response.finish_reason is None


def test_str_subclass_chunk_becomes_plain_text() -> None:
    assembler = LMChunkAssembler()
    (event,) = assembler.feed(LMResponse("inner", reasoning="r"))
    assert type(event) is str and event == "inner"
    assert assembler.finish() == "inner"


def test_add_text_is_the_str_fast_path() -> None:
    assembler = LMChunkAssembler()
    assembler.add_text("a")
    assert assembler.feed("b") == ("b",)
    assembler.add_text("c")
    assert assembler.finish() == "abc"


def test_no_chunks() -> None:
    response, events = run([])
    assert response == "" and events == []
    assert response.usage is None and response.finish_reason is None


def test_finish_is_final() -> None:
    assembler = LMChunkAssembler()
    assembler.feed("x")
    response = assembler.finish()
    assert assembler.finish() is response
    with pytest.raises(RuntimeError, match="after finish"):
        assembler.feed("y")


class _Opaque:
    pass


@pytest.mark.parametrize(
    ("chunk", "type_name"),
    [
        (_Opaque(), "_Opaque"),
        (42, "int"),
        (b"data: {}", "bytes"),
        (None, "NoneType"),
        ({"text": "hi"}, "dict"),
        ({"type": "message.delta", "text": "hi"}, "dict"),
        (["hi"], "list"),
    ],
)
def test_unknown_chunk_is_a_type_error(chunk: object, type_name: str) -> None:
    with pytest.raises(TypeError) as info:
        LMChunkAssembler().feed(chunk)
    message = str(info.value)
    assert type_name in message
    assert ACCEPTED_SHAPES in message
    assert "Chat Completions" in message and "Responses" in message and "Anthropic" in message


def test_unknown_chunk_after_provider_chunks_is_a_type_error() -> None:
    assembler = LMChunkAssembler()
    assembler.feed(chat_chunk({"content": "a"}))
    with pytest.raises(TypeError, match="_Opaque"):
        assembler.feed(_Opaque())
    assembler.feed(r_text("b"))
    with pytest.raises(TypeError, match="int"):
        assembler.feed(3)


# --------------------------------------------------------------------------------------------
# OpenAI Chat Completions.


@needs_openai
@pytest.mark.parametrize("form", FORMS)
def test_chat_text_finish_and_usage(form: str) -> None:
    raws = [
        chat_chunk({"role": "assistant", "content": "", "refusal": None}),
        chat_chunk({"content": "Hello"}),
        chat_chunk({"content": ", world"}),
        chat_chunk({}, "stop"),
        chat_chunk(
            choices=[],
            usage={
                "prompt_tokens": 9,
                "completion_tokens": 3,
                "total_tokens": 12,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        ),
    ]
    response, events = run(as_chat(raws, form))
    assert response == "Hello, world"
    assert response.finish_reason == "stop"
    assert response.usage == Usage(9, 3, 12, "gpt-4o-mini")
    assert events == [
        "Hello",
        ", world",
        FinishReason("stop"),
        UsageReported(Usage(9, 3, 12, "gpt-4o-mini")),
    ]
    check_events_match(response, events)


@needs_openai
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_chat_reasoning_both_spellings(form: str, field: str) -> None:
    raws = [
        chat_chunk({"role": "assistant", field: "Let me"}),
        chat_chunk({field: " think."}),
        chat_chunk({field: "", "content": "Done"}),
        chat_chunk({field: " (a transition chunk)", "content": " now"}),
        chat_chunk({"content": "."}, "stop"),
    ]
    response, events = run(as_chat(raws, form))
    assert response == "Done now."
    assert response.reasoning == "Let me think. (a transition chunk)"
    assert events == [
        ReasoningDelta("Let me"),
        ReasoningDelta(" think."),
        "Done",
        ReasoningDelta(" (a transition chunk)"),
        " now",
        ".",
        FinishReason("stop"),
    ]
    check_events_match(response, events)


@needs_openai
def test_chat_reasoning_content_is_preferred_to_a_duplicate_reasoning() -> None:
    raws = [
        chat_chunk({"reasoning_content": "r1", "reasoning": "r1"}),
        chat_chunk({"content": "t"}),
    ]
    response, _ = run(as_chat(raws, "object"))
    assert response.reasoning == "r1"


@needs_openai
@pytest.mark.parametrize("form", FORMS)
def test_chat_parallel_tool_calls_interleaved(form: str) -> None:
    def piece(index: int, arguments: str, **extra: Any) -> Raw:
        return chat_chunk(
            {"tool_calls": [{"index": index, "function": {"arguments": arguments}, **extra}]}
        )

    def opening(index: int, call_id: str, name: str) -> Raw:
        return chat_chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                ]
            }
        )

    raws = [
        chat_chunk({"role": "assistant", "content": None}),
        opening(0, "call_w", "weather"),
        piece(0, '{"city": '),
        opening(1, "call_t", "time"),
        piece(1, '{"tz": "Europe/'),
        piece(0, '"Paris"'),
        piece(1, 'Paris"}'),
        piece(0, "}"),
        chat_chunk(
            {
                "tool_calls": [
                    {"index": 1, "function": {"arguments": ""}},
                    {"index": 0, "function": {"arguments": ""}},
                ]
            }
        ),
        chat_chunk({}, "tool_calls"),
        chat_chunk(
            choices=[], usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        ),
    ]
    response, events = run(as_chat(raws, form))
    assert response == ""
    assert response.tool_calls == (
        ToolCall("call_w", "weather", '{"city": "Paris"}'),
        ToolCall("call_t", "time", '{"tz": "Europe/Paris"}'),
    )
    assert [c.args for c in response.tool_calls] == [{"city": "Paris"}, {"tz": "Europe/Paris"}]
    assert response.finish_reason == "tool_calls"
    assert events[:3] == [
        ToolCallStarted(0, "call_w", "weather"),
        ToolCallArgumentsDelta(0, "call_w", '{"city": '),
        ToolCallStarted(1, "call_t", "time"),
    ]
    check_events_match(response, events)


@needs_openai
@pytest.mark.parametrize("form", FORMS)
def test_chat_whole_tool_calls_in_one_chunk(form: str) -> None:
    # Some servers send each call whole, several in one delta, next to text.
    raws = [
        chat_chunk(
            {
                "content": "Calling.",
                "tool_calls": [
                    {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}},
                    {"index": 1, "id": "b", "function": {"name": "g", "arguments": '{"k":1}'}},
                ],
            },
            "tool_calls",
        )
    ]
    response, events = run(as_chat(raws, form))
    assert response == "Calling."
    assert response.tool_calls == (ToolCall("a", "f", "{}"), ToolCall("b", "g", '{"k":1}'))
    assert events == [
        "Calling.",
        ToolCallStarted(0, "a", "f"),
        ToolCallArgumentsDelta(0, "a", "{}"),
        ToolCallStarted(1, "b", "g"),
        ToolCallArgumentsDelta(1, "b", '{"k":1}'),
        FinishReason("tool_calls"),
    ]


def test_chat_tool_call_pieces_without_index_or_with_repeated_ids() -> None:
    # Dicts only: the SDK's model requires `index`, some servers omit it or repeat the id.
    raws = [
        chat_chunk({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": '{"x"'}}]}),
        chat_chunk({"tool_calls": [{"function": {"arguments": ": 1}"}}]}),
        chat_chunk({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": "{"}}]}),
        chat_chunk({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": "}"}}]}),
        chat_chunk(
            {"tool_calls": [{"index": 5, "id": "c", "function": {"name": "h", "arguments": "["}}]}
        ),
        chat_chunk(
            {"tool_calls": [{"index": 5, "id": "c", "function": {"name": "h", "arguments": "]"}}]}
        ),
    ]
    response, events = run(raws)
    assert response.tool_calls == (
        ToolCall("a", "f", '{"x": 1}'),
        ToolCall("b", "g", "{}"),
        ToolCall("c", "h", "[]"),
    )
    check_events_match(response, events)


def test_chat_index_reused_by_a_new_call_id_is_a_new_call() -> None:
    # Two completions streamed one after the other by one @lm generator.
    raws = [
        chat_chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f"}}]}),
        chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
        chat_chunk({"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g"}}]}),
        chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "[]"}}]}),
    ]
    response, _ = run(raws)
    assert response.tool_calls == (ToolCall("a", "f", "{}"), ToolCall("b", "g", "[]"))


@needs_openai
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("reason", ["stop", "length", "content_filter", "tool_calls"])
def test_chat_finish_reasons(form: str, reason: str) -> None:
    response, events = run(as_chat([chat_chunk({"content": "x"}, reason)], form))
    assert response == "x" and response.finish_reason == reason
    assert events == ["x", FinishReason(reason)]


@needs_openai
@pytest.mark.parametrize("form", FORMS)
def test_chat_refusal_is_text(form: str) -> None:
    raws = [chat_chunk({"refusal": "I can't "}), chat_chunk({"refusal": "help."}, "stop")]
    response, _ = run(as_chat(raws, form))
    assert response == "I can't help."


@needs_openai
@pytest.mark.parametrize("form", FORMS)
def test_chat_other_choices_are_ignored(form: str) -> None:
    raws = [
        chat_chunk({"content": "A"}, index=0),
        chat_chunk({"content": "B"}, index=1),
        chat_chunk(
            choices=[
                {"index": 1, "delta": {"content": "B"}, "finish_reason": None},
                {"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"},
            ]
        ),
    ]
    response, _ = run(as_chat(raws, form))
    assert response == "Aa" and response.finish_reason == "stop"


@needs_openai
@pytest.mark.parametrize("form", FORMS)
def test_chat_legacy_function_call(form: str) -> None:
    raws = [
        chat_chunk({"function_call": {"name": "lookup", "arguments": ""}}),
        chat_chunk({"function_call": {"arguments": '{"id": '}}),
        chat_chunk({"function_call": {"arguments": "7}"}}, "function_call"),
    ]
    response, _ = run(as_chat(raws, form))
    assert response.tool_calls == (ToolCall("", "lookup", '{"id": 7}'),)
    assert response.finish_reason == "function_call"


def test_chat_usage_on_every_chunk_is_cumulative() -> None:
    # vLLM's continuous usage stats: each chunk reports the request's usage so far.
    raws = [
        chat_chunk({"content": "a"}, usage={"prompt_tokens": 5, "completion_tokens": 1}),
        chat_chunk({"content": "b"}, usage={"prompt_tokens": 5, "completion_tokens": 2}),
    ]
    response, events = run(raws)
    assert response == "ab"
    assert response.usage == Usage(5, 2, 7, "gpt-4o-mini")  # total computed when absent
    assert [e for e in events if isinstance(e, UsageReported)] == [
        UsageReported(Usage(5, 1, 6, "gpt-4o-mini")),
        UsageReported(Usage(5, 2, 7, "gpt-4o-mini")),
    ]


def test_chat_content_parts() -> None:
    raws = [
        chat_chunk(
            {
                "content": [
                    {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                    {"type": "text", "text": "Answer"},
                ]
            }
        )
    ]
    response, events = run(raws)
    assert response == "Answer" and response.reasoning == "hmm"
    assert events == [ReasoningDelta("hmm"), "Answer"]


@pytest.mark.parametrize(
    "chunk",
    [
        {"error": {"message": "Rate limit reached", "type": "rate_limit", "code": "429"}},
        {"object": "error", "error": {"message": "Rate limit reached", "code": "429"}},
    ],
)
def test_chat_error_chunk_raises(chunk: Raw) -> None:
    assembler = LMChunkAssembler()
    assembler.feed(chat_chunk({"content": "partial"}))
    with pytest.raises(LMStreamError, match="Rate limit reached") as info:
        assembler.feed(chunk)
    error = info.value
    assert isinstance(error, StreamifyError)
    assert error.provider == "openai-chat"
    assert error.code == "429"
    assert error.message == "Rate limit reached"
    assert error.payload is chunk
    with pytest.raises(LMStreamError, match="Rate limit reached"):
        LMChunkAssembler().feed(chunk)


def test_lm_stream_error_pickles() -> None:
    error = LMStreamError("boom", provider="anthropic", code="overloaded_error", payload={"a": 1})
    back = pickle.loads(pickle.dumps(error))
    assert (back.message, back.provider, back.code, back.payload) == (
        "boom",
        "anthropic",
        "overloaded_error",
        {"a": 1},
    )
    assert str(back) == str(error) == "anthropic stream error (overloaded_error): boom"


# --------------------------------------------------------------------------------------------
# OpenAI Responses.


@needs_openai
@pytest.mark.parametrize("form", FORMS)
def test_responses_text_reasoning_and_usage(form: str) -> None:
    raws = [
        r_event("response.created", response=response_body("in_progress")),
        r_event("response.in_progress", response=response_body("in_progress")),
        r_event(
            "response.reasoning_summary_text.delta",
            item_id="rs_1",
            output_index=0,
            summary_index=0,
            delta="**Plan** ",
        ),
        r_event(
            "response.reasoning_text.delta",
            item_id="rs_1",
            output_index=0,
            content_index=0,
            delta="add them",
        ),
        r_text("The sum"),
        r_text(" is 4."),
        r_event(
            "response.output_text.done",
            item_id="msg_1",
            output_index=1,
            content_index=0,
            text="The sum is 4.",
            logprobs=[],
        ),
        r_event("response.completed", response=response_body(usage=responses_usage(20, 8))),
    ]
    response, events = run(as_responses(raws, form))
    assert response == "The sum is 4."
    assert response.reasoning == "**Plan** add them"
    assert response.usage == Usage(20, 8, 28, "gpt-5-mini")
    assert response.finish_reason == "completed"
    assert events == [
        ReasoningDelta("**Plan** "),
        ReasoningDelta("add them"),
        "The sum",
        " is 4.",
        UsageReported(Usage(20, 8, 28, "gpt-5-mini")),
        FinishReason("completed"),
    ]


@needs_openai
@pytest.mark.parametrize("form", FORMS)
def test_responses_parallel_function_calls_interleaved(form: str) -> None:
    raws = [
        r_event("response.created", response=response_body("in_progress")),
        r_call_added(0, "call_a", "weather", "fc_a"),
        r_call_added(1, "call_b", "time", "fc_b"),
        r_args(1, "fc_b", '{"tz":'),
        r_args(0, "fc_a", '{"city":'),
        r_args(0, "fc_a", '"Oslo"}'),
        r_args(1, "fc_b", '"CET"}'),
        r_args_done(1, "fc_b", '{"tz":"CET"}', "time"),
        r_args_done(0, "fc_a", '{"city":"Oslo"}', "weather"),
        r_event(
            "response.output_item.done",
            output_index=0,
            item={
                "type": "function_call",
                "id": "fc_a",
                "call_id": "call_a",
                "name": "weather",
                "arguments": '{"city":"Oslo"}',
                "status": "completed",
            },
        ),
        r_event("response.completed", response=response_body(usage=responses_usage(3, 4))),
    ]
    response, events = run(as_responses(raws, form))
    assert response.tool_calls == (
        ToolCall("call_a", "weather", '{"city":"Oslo"}'),
        ToolCall("call_b", "time", '{"tz":"CET"}'),
    )
    assert events[:3] == [
        ToolCallStarted(0, "call_a", "weather"),
        ToolCallStarted(1, "call_b", "time"),
        ToolCallArgumentsDelta(1, "call_b", '{"tz":'),
    ]
    check_events_match(response, events)


def test_responses_done_event_completes_or_corrects_the_arguments() -> None:
    raws = [
        r_call_added(0, "call_a", "f", "fc_a"),
        r_args(0, "fc_a", '{"a":'),
        r_args_done(0, "fc_a", '{"a":1}', "f"),  # the deltas stopped short
        r_call_added(1, "call_b", "g", "fc_b"),
        r_args(1, "fc_b", '{"b":2'),
        r_args_done(1, "fc_b", '{"b":3}', "g"),  # contradicts the deltas: the done text wins
    ]
    response, events = run(raws)
    assert response.tool_calls == (
        ToolCall("call_a", "f", '{"a":1}'),
        ToolCall("call_b", "g", '{"b":3}'),
    )
    assert ToolCallArgumentsDelta(0, "call_a", "1}") in events


def test_responses_function_call_seen_only_when_done() -> None:
    item = {"type": "function_call", "id": "fc", "call_id": "c", "name": "f", "arguments": "{}"}
    response, events = run([r_event("response.output_item.done", output_index=0, item=item)])
    assert response.tool_calls == (ToolCall("c", "f", "{}"),)
    assert events == [ToolCallStarted(0, "c", "f"), ToolCallArgumentsDelta(0, "c", "{}")]


@needs_openai
@pytest.mark.parametrize("form", FORMS)
def test_responses_incomplete(form: str) -> None:
    raws = [
        r_text("Once upon"),
        r_event(
            "response.incomplete",
            response=response_body(
                "incomplete", responses_usage(5, 16), incomplete={"reason": "max_output_tokens"}
            ),
        ),
    ]
    response, _ = run(as_responses(raws, form))
    assert response == "Once upon"
    assert response.finish_reason == "max_output_tokens"
    assert response.usage == Usage(5, 16, 21, "gpt-5-mini")


@needs_openai
@pytest.mark.parametrize("form", FORMS)
def test_responses_failed_raises(form: str) -> None:
    raws = [
        r_text("Par"),
        r_event(
            "response.failed",
            response=response_body(
                "failed", error={"code": "server_error", "message": "The server had an error"}
            ),
        ),
    ]
    chunks = as_responses(raws, form)
    assembler = LMChunkAssembler()
    assert assembler.feed(chunks[0]) == ("Par",)
    with pytest.raises(LMStreamError, match="The server had an error") as info:
        assembler.feed(chunks[1])
    assert info.value.provider == "openai-responses"
    assert info.value.code == "server_error"
    assert info.value.payload is chunks[1]


@needs_openai
@pytest.mark.parametrize("form", FORMS)
def test_responses_error_event_raises(form: str) -> None:
    raws = [r_event("error", code="rate_limit_exceeded", message="Slow down", param=None)]
    (chunk,) = as_responses(raws, form)
    with pytest.raises(LMStreamError, match="Slow down") as info:
        LMChunkAssembler().feed(chunk)
    assert info.value.provider == "openai-responses"
    assert info.value.code == "rate_limit_exceeded"


def test_responses_unknown_events_are_skipped() -> None:
    raws = [
        r_event("response.web_search_call.searching", output_index=0, item_id="ws"),
        r_event("response.some_future_event", whatever=1),
        r_text("ok"),
    ]
    response, events = run(raws)
    assert response == "ok" and events == ["ok"]


# --------------------------------------------------------------------------------------------
# Anthropic Messages.


@needs_anthropic
@pytest.mark.parametrize("form", FORMS)
def test_anthropic_text_thinking_and_usage(form: str) -> None:
    raws = [
        a_message_start(inp=100, out=1, cache_read=40, cache_write=8),
        a_block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        a_delta(0, {"type": "thinking_delta", "thinking": "The user wants"}),
        a_delta(0, {"type": "thinking_delta", "thinking": " a greeting."}),
        a_delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}),
        a_stop(0),
        {"type": "ping"},
        a_block_start(1, {"type": "text", "text": ""}),
        a_text(1, "Hello"),
        a_text(1, " there"),
        a_stop(1),
        a_message_delta("end_turn", 30),
        A_MESSAGE_STOP,
    ]
    response, events = run(as_anthropic(raws, form))
    assert response == "Hello there"
    assert response.reasoning == "The user wants a greeting."
    assert response.finish_reason == "end_turn"
    # input = input_tokens + cache_creation_input_tokens + cache_read_input_tokens
    assert response.usage == Usage(148, 30, 178, "claude-sonnet-4-5")
    assert events == [
        UsageReported(Usage(148, 1, 149, "claude-sonnet-4-5")),
        ReasoningDelta("The user wants"),
        ReasoningDelta(" a greeting."),
        "Hello",
        " there",
        FinishReason("end_turn"),
        UsageReported(Usage(148, 30, 178, "claude-sonnet-4-5")),
    ]
    check_events_match(response, events)


@needs_anthropic
@pytest.mark.parametrize("form", FORMS)
def test_anthropic_tool_use_blocks(form: str) -> None:
    raws = [
        a_message_start(),
        a_block_start(0, {"type": "text", "text": ""}),
        a_text(0, "Let me check."),
        a_stop(0),
        a_block_start(1, tool_use("toolu_a", "weather")),
        a_json(1, ""),
        a_json(1, '{"city": "Ro'),
        a_block_start(2, tool_use("toolu_b", "clock")),
        a_json(2, '{"tz": "CET"}'),
        a_json(1, 'me"}'),
        a_stop(2),
        a_stop(1),
        a_block_start(3, tool_use("toolu_c", "ping")),  # no parameters: no input_json_delta
        a_stop(3),
        a_message_delta("tool_use", 55),
        A_MESSAGE_STOP,
    ]
    response, events = run(as_anthropic(raws, form))
    assert response == "Let me check."
    assert response.tool_calls == (
        ToolCall("toolu_a", "weather", '{"city": "Rome"}'),
        ToolCall("toolu_b", "clock", '{"tz": "CET"}'),
        ToolCall("toolu_c", "ping", "{}"),
    )
    assert response.tool_calls[2].args == {}
    assert response.finish_reason == "tool_use"
    check_events_match(response, events)


@needs_anthropic
def test_anthropic_message_delta_may_repeat_the_input_tokens() -> None:
    raws = [
        a_message_start(inp=10, out=1),
        a_text(0, "x"),
        a_message_delta("max_tokens", 7, input_tokens=12, cache_read_input_tokens=3),
    ]
    response, _ = run(as_anthropic(raws, "object"))
    assert response.usage == Usage(15, 7, 22, "claude-sonnet-4-5")
    assert response.finish_reason == "max_tokens"


@needs_anthropic
@pytest.mark.parametrize("form", FORMS)
def test_anthropic_server_tools_are_not_tool_calls(form: str) -> None:
    raws = [
        a_message_start(),
        a_block_start(
            0, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
        ),
        a_json(0, '{"query": "weather"}'),
        a_stop(0),
        a_block_start(1, {"type": "text", "text": ""}),
        a_text(1, "Sunny."),
        a_stop(1),
        a_message_delta("end_turn", 9),
    ]
    response, _ = run(as_anthropic(raws, form))
    assert response == "Sunny." and response.tool_calls == ()


def test_anthropic_error_event_raises() -> None:
    chunk = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assembler = LMChunkAssembler()
    assembler.feed(a_message_start())
    with pytest.raises(LMStreamError, match="Overloaded") as info:
        assembler.feed(chunk)
    assert info.value.provider == "anthropic"
    assert info.value.code == "overloaded_error"
    assert info.value.payload is chunk


@needs_anthropic
def test_anthropic_error_event_as_an_sdk_object_raises() -> None:
    from pydantic import TypeAdapter

    try:
        from anthropic.types import ErrorResponse
    except ImportError:  # pragma: no cover - older SDKs name it only in anthropic.types.shared
        from anthropic.types.shared import ErrorResponse
    error = TypeAdapter(ErrorResponse).validate_python(
        {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}
    )
    with pytest.raises(LMStreamError, match="Internal server error") as info:
        LMChunkAssembler().feed(error)
    assert info.value.code == "api_error"


def test_anthropic_unknown_event_types_are_skipped_once_anthropic() -> None:
    response, _ = run(
        [a_message_start(), {"type": "content_block_flourish", "index": 0}, a_text(0, "hi")]
    )
    assert response == "hi"
    with pytest.raises(TypeError, match="content_block_flourish"):
        LMChunkAssembler().feed({"type": "content_block_flourish", "index": 0})


def test_two_replies_sum_their_usage() -> None:
    raws = [
        a_message_start(inp=10, out=1, msg_id="msg_a"),
        a_text(0, "one"),
        a_message_delta("tool_use", 5),
        a_message_start(inp=20, out=1, msg_id="msg_b"),
        a_text(0, " two"),
        a_message_delta("end_turn", 6),
    ]
    assembler = LMChunkAssembler()
    for raw in raws:
        assembler.feed(raw)
    response = assembler.finish()
    assert response == "one two"
    assert assembler.usages == (
        Usage(10, 5, 15, "claude-sonnet-4-5"),
        Usage(20, 6, 26, "claude-sonnet-4-5"),
    )
    assert response.usage == Usage(30, 11, 41, "claude-sonnet-4-5")
    assert response.finish_reason == "end_turn"


def test_replies_of_two_models_sum_to_no_model() -> None:
    assembler = LMChunkAssembler()
    assembler.feed(a_message_start(inp=10, out=1))
    assembler.feed(a_message_delta("end_turn", 5))
    assembler.feed(
        chat_chunk(
            choices=[], usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        )
    )
    response = assembler.finish()
    assert Usage.by_model(assembler.usages) == {
        "claude-sonnet-4-5": Usage(10, 5, 15, "claude-sonnet-4-5"),
        "gpt-4o-mini": Usage(1, 2, 3, "gpt-4o-mini"),
    }
    assert response.usage == Usage(11, 7, 18, None)


# --------------------------------------------------------------------------------------------
# Mixed chunks.


@needs_openai
@needs_anthropic
@pytest.mark.parametrize("form", FORMS)
def test_mixed_str_and_provider_chunks(form: str) -> None:
    chunks: List[object] = ["[", *as_chat([chat_chunk({"content": "chat"})], form), "|"]
    chunks += as_responses([r_text("responses")], form)
    chunks += ["|"]
    chunks += as_anthropic([a_message_start(), a_text(0, "anthropic")], form)
    chunks += ["]", *as_chat([chat_chunk({"content": "!"}, "stop")], form)]
    response, events = run(chunks)
    assert response == "[chat|responses|anthropic]!"
    assert response.finish_reason == "stop"
    check_events_match(response, events)


@needs_openai
def test_dicts_and_objects_alternate() -> None:
    objects = as_chat([chat_chunk({"content": str(i)}) for i in range(6)], "object")
    dicts = [chat_chunk({"content": str(i)}) for i in range(6)]
    chunks = [objects[0], dicts[1], objects[2], "x", dicts[3], dicts[4], objects[5]]
    response, _ = run(chunks)
    assert response == "012x345"


def _namespace(value: Any) -> Any:
    """A JSON value as attribute objects with no pydantic in sight."""
    from types import SimpleNamespace

    if isinstance(value, dict):
        return SimpleNamespace(**{k: _namespace(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_namespace(v) for v in value]
    return value


def test_plain_attribute_objects() -> None:
    # Objects of no pydantic kind (sparse: fields the JSON lacks are missing attributes).
    raws = [
        chat_chunk({"reasoning": "r"}),
        chat_chunk({"content": "a"}),
        chat_chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f"}}]}),
        chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}, "tool_calls"),
    ]
    response, events = run([_namespace(raw) for raw in raws])
    assert response == "a" and response.reasoning == "r"
    assert response.tool_calls == (ToolCall("c", "f", "{}"),)
    assert response.finish_reason == "tool_calls"
    check_events_match(response, events)
    response, _ = run([_namespace(a_message_start()), _namespace(a_text(0, "x")), "y"])
    assert response == "xy" and response.usage is not None


@needs_openai  # pydantic comes with the SDKs
def test_litellm_like_objects_with_deleted_fields() -> None:
    # litellm's Delta declares reasoning_content and deletes it when None, so reading the
    # attribute goes through pydantic's slow, raising __getattr__; the assembler must still
    # see both the text and the reasoning.
    from pydantic import BaseModel, ConfigDict

    class Delta(BaseModel):
        model_config = ConfigDict(extra="allow")
        content: Optional[str] = None
        reasoning_content: Optional[str] = None
        tool_calls: Optional[List[Any]] = None

        def __init__(self, **data: Any) -> None:
            super().__init__(**data)
            if self.reasoning_content is None:
                del self.reasoning_content

    class Choice(BaseModel):
        index: int = 0
        delta: Delta
        finish_reason: Optional[str] = None

    class Chunk(BaseModel):
        id: str = "x"
        model: str = "deepseek-reasoner"
        choices: List[Choice]

    def chunk(finish: Optional[str] = None, **delta: Any) -> Chunk:
        return Chunk(choices=[Choice(delta=Delta(**delta), finish_reason=finish)])

    with pytest.raises(AttributeError):
        _ = chunk(content="x").choices[0].delta.reasoning_content
    chunks = [
        chunk(reasoning_content="Think"),
        chunk(content="Ans", reasoning_content="."),
        chunk(content="wer", finish="stop"),
    ]
    response, events = run(chunks)
    assert response == "Answer" and response.reasoning == "Think."
    assert response.finish_reason == "stop"
    check_events_match(response, events)


@needs_openai
def test_feed_looked_up_before_the_first_chunk_still_works() -> None:
    assembler = LMChunkAssembler()
    feed = assembler.feed
    chunks = as_chat([chat_chunk({"content": "a"}), chat_chunk({"content": "b"}, "stop")], "object")
    events = [event for chunk in ["<", *chunks, ">"] for event in feed(chunk)]
    assert events == ["<", "a", "b", FinishReason("stop"), ">"]
    assert assembler.finish() == "<ab>"
    with pytest.raises(RuntimeError):
        feed(chunks[0])


# --------------------------------------------------------------------------------------------
# End to end: the SDKs' own streaming clients, reading a server-sent event body.


def _sse(events: Sequence[Raw], *, named: bool, done: bool) -> bytes:
    lines = []
    for event in events:
        if named:
            lines.append(f"event: {event['type']}\n")
        lines.append(f"data: {json.dumps(event)}\n\n")
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def _http_client(sdk_base_client: Any, body: bytes) -> Any:
    httpx = getattr(sdk_base_client, "httpx2", None) or sdk_base_client.httpx

    def handler(request: Any) -> Any:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx.Client(transport=httpx.MockTransport(handler))


def _openai_client(body: bytes) -> Any:
    import openai
    from openai import _base_client

    return openai.OpenAI(
        api_key="test", base_url="http://test/v1", http_client=_http_client(_base_client, body)
    )


def _anthropic_client(body: bytes) -> Any:
    import anthropic
    from anthropic import _base_client

    return anthropic.Anthropic(
        api_key="test", base_url="http://test", http_client=_http_client(_base_client, body)
    )


CHAT_STREAM = [
    chat_chunk({"role": "assistant", "content": "", "refusal": None}),
    chat_chunk({"reasoning_content": "Short."}),
    chat_chunk({"content": "It is "}),
    chat_chunk({"content": "sunny."}),
    chat_chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "log", "arguments": ""},
                }
            ]
        }
    ),
    chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ok": true}'}}]}),
    chat_chunk({}, "tool_calls"),
    chat_chunk(choices=[], usage={"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}),
]
CHAT_EXPECTED = LMResponse(
    "It is sunny.",
    reasoning="Short.",
    tool_calls=(ToolCall("call_1", "log", '{"ok": true}'),),
    usage=Usage(4, 6, 10, "gpt-4o-mini"),
    finish_reason="tool_calls",
)


def assert_same_response(got: LMResponse, expected: LMResponse) -> None:
    assert repr(got) == repr(expected)


@needs_openai
def test_e2e_openai_chat_stream() -> None:
    client = _openai_client(_sse(CHAT_STREAM, named=False, done=True))
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    response, events = run(list(stream))
    assert_same_response(response, CHAT_EXPECTED)
    check_events_match(response, events)


@needs_openai
def test_e2e_openai_chat_stream_helper() -> None:
    # client.chat.completions.stream() wraps each chunk in a "chunk" event and adds derived
    # events ("content.delta", ...) that repeat it: nothing may count twice.
    client = _openai_client(_sse(CHAT_STREAM, named=False, done=True))
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        items = list(stream)
    kinds = {item.type for item in items}
    assert {"chunk", "content.delta"} <= kinds
    response, events = run(items)
    assert_same_response(response, CHAT_EXPECTED)
    check_events_match(response, events)


_OUTPUT_TEXT: Raw = {"type": "output_text", "text": "Calling", "annotations": []}
_REASONING_ITEM: Raw = {
    "type": "reasoning",
    "id": "rs_1",
    "summary": [{"type": "summary_text", "text": "Thinking."}],
}
_MESSAGE_ITEM: Raw = {
    "type": "message",
    "id": "msg_1",
    "role": "assistant",
    "status": "completed",
    "content": [_OUTPUT_TEXT],
}
_CALL_ITEM: Raw = {
    "type": "function_call",
    "id": "fc_x",
    "call_id": "call_x",
    "name": "search",
    "arguments": '{"q":"cats"}',
    "status": "completed",
}
RESPONSES_STREAM = [
    r_event("response.created", response=response_body("in_progress")),
    r_event(
        "response.output_item.added",
        output_index=0,
        item={"type": "reasoning", "id": "rs_1", "summary": []},
    ),
    r_event(
        "response.reasoning_summary_part.added",
        item_id="rs_1",
        output_index=0,
        summary_index=0,
        part={"type": "summary_text", "text": ""},
    ),
    r_event(
        "response.reasoning_summary_text.delta",
        item_id="rs_1",
        output_index=0,
        summary_index=0,
        delta="Thinking.",
    ),
    r_event(
        "response.reasoning_summary_text.done",
        item_id="rs_1",
        output_index=0,
        summary_index=0,
        text="Thinking.",
    ),
    r_event("response.output_item.done", output_index=0, item=_REASONING_ITEM),
    r_event(
        "response.output_item.added",
        output_index=1,
        item={
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        },
    ),
    r_event(
        "response.content_part.added",
        item_id="msg_1",
        output_index=1,
        content_index=0,
        part={"type": "output_text", "text": "", "annotations": []},
    ),
    r_text("Calling", output_index=1),
    r_event(
        "response.output_text.done",
        item_id="msg_1",
        output_index=1,
        content_index=0,
        text="Calling",
        logprobs=[],
    ),
    r_event(
        "response.content_part.done",
        item_id="msg_1",
        output_index=1,
        content_index=0,
        part=_OUTPUT_TEXT,
    ),
    r_event("response.output_item.done", output_index=1, item=_MESSAGE_ITEM),
    r_call_added(2, "call_x", "search", "fc_x"),
    r_args(2, "fc_x", '{"q":'),
    r_args(2, "fc_x", '"cats"}'),
    r_args_done(2, "fc_x", '{"q":"cats"}', "search"),
    r_event("response.output_item.done", output_index=2, item=_CALL_ITEM),
    r_event(
        "response.completed",
        response=response_body(
            usage=responses_usage(11, 22), output=[_REASONING_ITEM, _MESSAGE_ITEM, _CALL_ITEM]
        ),
    ),
]
RESPONSES_EXPECTED = LMResponse(
    "Calling",
    reasoning="Thinking.",
    tool_calls=(ToolCall("call_x", "search", '{"q":"cats"}'),),
    usage=Usage(11, 22, 33, "gpt-5-mini"),
    finish_reason="completed",
)


@needs_openai
def test_e2e_openai_responses_stream() -> None:
    client = _openai_client(_sse(RESPONSES_STREAM, named=True, done=False))
    stream = client.responses.create(model="gpt-5-mini", input="hi", stream=True)
    response, events = run(list(stream))
    assert_same_response(response, RESPONSES_EXPECTED)
    check_events_match(response, events)


@needs_openai
def test_e2e_openai_responses_stream_helper() -> None:
    client = _openai_client(_sse(RESPONSES_STREAM, named=True, done=False))
    with client.responses.stream(model="gpt-5-mini", input="hi") as stream:
        items = list(stream)
    response, events = run(items)
    assert_same_response(response, RESPONSES_EXPECTED)
    check_events_match(response, events)


ANTHROPIC_STREAM = [
    a_message_start(inp=7, out=1, cache_read=3),
    a_block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
    a_delta(0, {"type": "thinking_delta", "thinking": "Easy."}),
    a_delta(0, {"type": "signature_delta", "signature": "c2ln"}),
    a_stop(0),
    a_block_start(1, {"type": "text", "text": ""}),
    a_text(1, "Looking"),
    a_text(1, " it up."),
    a_stop(1),
    a_block_start(2, tool_use("toolu_1", "lookup")),
    a_json(2, '{"key": '),
    a_json(2, '"k1"}'),
    a_stop(2),
    a_message_delta("tool_use", 25),
    A_MESSAGE_STOP,
]
ANTHROPIC_EXPECTED = LMResponse(
    "Looking it up.",
    reasoning="Easy.",
    tool_calls=(ToolCall("toolu_1", "lookup", '{"key": "k1"}'),),
    usage=Usage(10, 25, 35, "claude-sonnet-4-5"),
    finish_reason="tool_use",
)


@needs_anthropic
def test_e2e_anthropic_stream() -> None:
    client = _anthropic_client(_sse(ANTHROPIC_STREAM, named=True, done=False))
    stream = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
    )
    response, events = run(list(stream))
    assert_same_response(response, ANTHROPIC_EXPECTED)
    check_events_match(response, events)


@needs_anthropic
def test_e2e_anthropic_stream_helper() -> None:
    # client.messages.stream() adds "text", "thinking", "input_json", "signature" events that
    # repeat the raw deltas: nothing may count twice.
    client = _anthropic_client(_sse(ANTHROPIC_STREAM, named=True, done=False))
    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        items = list(stream)
    assert {"text", "thinking", "input_json"} <= {item.type for item in items}
    response, events = run(items)
    assert_same_response(response, ANTHROPIC_EXPECTED)
    check_events_match(response, events)


# --------------------------------------------------------------------------------------------
# Properties.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
json_texts = st.builds(
    lambda value, ascii_only: json.dumps(value, ensure_ascii=ascii_only),
    st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    st.booleans(),
)


@st.composite
def pieces_of(draw: st.DrawFn, text: str) -> List[str]:
    """``text`` cut at any points, empty pieces included."""
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=10)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


@st.composite
def two_interleaved_calls(draw: st.DrawFn) -> Tuple[List[str], List[Tuple[int, str]]]:
    """Two argument texts and one interleaving of their pieces: ``(call, piece)`` pairs."""
    texts = [draw(json_texts), draw(json_texts)]
    split = [draw(pieces_of(text)) for text in texts]
    order = draw(st.permutations([0] * len(split[0]) + [1] * len(split[1])))
    taken = [0, 0]
    sequence = []
    for call in order:
        sequence.append((call, split[call][taken[call]]))
        taken[call] += 1
    return texts, sequence


IDS = ("call_0", "call_1")
NAMES = ("first", "second")


def chat_interleaving(sequence: List[Tuple[int, str]]) -> List[Raw]:
    raws, opened = [], set()
    for call, piece in sequence:
        entry: Raw = {"index": call, "function": {"arguments": piece}}
        if call not in opened:
            opened.add(call)
            entry.update(id=IDS[call], type="function")
            entry["function"]["name"] = NAMES[call]
        raws.append(chat_chunk({"tool_calls": [entry]}))
    return raws


def responses_interleaving(sequence: List[Tuple[int, str]], texts: List[str]) -> List[Raw]:
    raws, opened = [], set()
    for call, piece in sequence:
        if call not in opened:
            opened.add(call)
            raws.append(r_call_added(call + 3, IDS[call], NAMES[call], f"fc_{call}"))
        raws.append(r_args(call + 3, f"fc_{call}", piece))
    for call in sorted(opened):
        raws.append(r_args_done(call + 3, f"fc_{call}", texts[call], NAMES[call]))
    return raws


def anthropic_interleaving(sequence: List[Tuple[int, str]]) -> List[Raw]:
    raws, opened = [a_message_start()], set()
    for call, piece in sequence:
        if call not in opened:
            opened.add(call)
            raws.append(a_block_start(call + 1, tool_use(IDS[call], NAMES[call])))
        raws.append(a_json(call + 1, piece))
    raws.extend(a_stop(call + 1) for call in sorted(opened))
    return raws


def _expected_calls(texts: List[str], sequence: List[Tuple[int, str]]) -> Tuple[ToolCall, ...]:
    first_seen: List[int] = []
    for call, _ in sequence:
        if call not in first_seen:
            first_seen.append(call)
    return tuple(ToolCall(IDS[c], NAMES[c], texts[c]) for c in first_seen)


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

_Builder = Callable[[List[Tuple[int, str]], List[str]], List[Raw]]
_BUILDERS: Dict[str, _Builder] = {
    "chat": lambda sequence, texts: chat_interleaving(sequence),
    "responses": responses_interleaving,
    "anthropic": lambda sequence, texts: anthropic_interleaving(sequence),
}


@pytest.mark.parametrize("provider", sorted(_BUILDERS))
@PROPERTY_SETTINGS
@given(case=two_interleaved_calls())
def test_any_interleaving_of_two_calls_reassembles(
    provider: str, case: Tuple[List[str], List[Tuple[int, str]]]
) -> None:
    texts, sequence = case
    raws = _BUILDERS[provider](sequence, texts)
    response, events = run(raws)
    expected = _expected_calls(texts, sequence)
    if provider == "anthropic":  # a call whose pieces were all empty is the tool's "{}"
        expected = tuple(ToolCall(c.id, c.name, c.arguments or "{}") for c in expected)
    assert response.tool_calls == expected
    assert [call.args for call in response.tool_calls] == [
        json.loads(call.arguments) for call in expected
    ]
    check_events_match(response, events)


_SDK_FORM = {"chat": as_chat, "responses": as_responses, "anthropic": as_anthropic}


@pytest.mark.parametrize(
    "provider",
    [
        pytest.param("chat", marks=needs_openai),
        pytest.param("responses", marks=needs_openai),
        pytest.param("anthropic", marks=needs_anthropic),
    ],
)
@PROPERTY_SETTINGS
@given(case=two_interleaved_calls(), form=st.sampled_from(["object", "model_dump"]))
def test_any_interleaving_of_two_calls_reassembles_from_sdk_chunks(
    provider: str, case: Tuple[List[str], List[Tuple[int, str]]], form: str
) -> None:
    texts, sequence = case
    chunks = _SDK_FORM[provider](_BUILDERS[provider](sequence, texts), form)
    response, events = run(chunks)
    expected = _expected_calls(texts, sequence)
    if provider == "anthropic":
        expected = tuple(ToolCall(c.id, c.name, c.arguments or "{}") for c in expected)
    assert response.tool_calls == expected
    check_events_match(response, events)


def _as_chunk(kind: str, piece: str) -> object:
    if kind == "str":
        return piece
    if kind == "chat":
        return chat_chunk({"content": piece})
    if kind == "responses":
        return r_text(piece)
    return a_text(0, piece)


@PROPERTY_SETTINGS
@given(
    text=st.text(max_size=40),
    data=st.data(),
)
def test_text_in_any_mix_of_chunks_reassembles(text: str, data: st.DataObject) -> None:
    pieces = data.draw(pieces_of(text))
    kinds = data.draw(
        st.lists(
            st.sampled_from(["str", "chat", "responses", "anthropic"]),
            min_size=len(pieces),
            max_size=len(pieces),
        )
    )
    chunks = [_as_chunk(kind, piece) for kind, piece in zip(kinds, pieces)]
    response, events = run(chunks)
    assert response == text
    assert events == [piece for piece in pieces if piece]
