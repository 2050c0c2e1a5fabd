"""The loopback LLM server (``tests/llm_server.py``) speaks each wire format to the real SDKs.

Every test points the official ``openai`` / ``anthropic`` client at the server with
``base_url`` and checks what the SDK makes of the stream: typed events, deltas that join to
the script's text, tool-call arguments that reassemble, usage, the SDK's own error for an
error event, a connection error for a dropped connection, and a disconnect the server sees
when the consumer breaks off and closes the SDK stream.  Every event the server sent is also
validated against the SDK's own pydantic model (the SDKs themselves build their objects
without validation), and must carry no field that model lacks.

The SDKs are test extras: without them this module is skipped, unless
``STREAMIFY_REQUIRE_SDKS=1`` makes a missing SDK an error.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import threading
import typing
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Type

import pytest

try:
    import anthropic
    import openai
    import pydantic
except ImportError as missing:  # pragma: no cover - depends on the environment
    if os.environ.get("STREAMIFY_REQUIRE_SDKS", "") not in ("", "0"):
        raise
    pytest.skip(
        f"the LLM SDKs are not installed ({missing.name} is missing): pip install openai anthropic",
        allow_module_level=True,
    )

from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent

from tests.llm_server import (
    SCENARIOS,
    SCRIPT_HEADER,
    Exchange,
    LLMServer,
    Script,
    ToolCallScript,
    llm_server_fixture,  # noqa: F401  (the ``llm_server`` fixture)
    make_script,
    script_headers,
    serve_llm,
)
from tests.llm_server import _script_from_header as script_from_header

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from anthropic.types import MessageParam, RawContentBlockDeltaEvent
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.responses import ResponseFunctionCallArgumentsDeltaEvent

TIMEOUT = 20.0
"""Bound on every client request and every wait on the server's events."""

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
PROMPT: list[MessageParam] = [{"role": "user", "content": "hi"}]


def _http_errors(name: str) -> Tuple[Type[BaseException], ...]:
    """An error class of the HTTP libraries the SDKs use (``httpx``, or ``httpx2`` later)."""
    errors: list[Type[BaseException]] = []
    for module in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            errors.append(getattr(importlib.import_module(module), name))
    return tuple(errors)


CUT_OFF = _http_errors("RemoteProtocolError")
"""What a body that ends mid-chunk raises in the HTTP library."""


def assert_cut_off(error: BaseException) -> None:
    """A response cut off mid-body: newer ``openai`` releases raise their ``APIConnectionError``
    over the HTTP library's ``RemoteProtocolError``; older ones, and ``anthropic``, let that
    ``RemoteProtocolError`` through as it is."""
    if isinstance(error, (openai.APIConnectionError, anthropic.APIConnectionError)):
        assert error.__cause__ is not None, repr(error)
        error = error.__cause__
    assert isinstance(error, CUT_OFF), repr(error)


# -- clients -------------------------------------------------------------------------------------


def openai_client(server: LLMServer, headers: Optional[Mapping[str, str]] = None) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.openai_url,
        api_key="test",
        max_retries=0,
        timeout=TIMEOUT,
        default_headers=dict(headers or {}),
    )


def async_openai_client(
    server: LLMServer, headers: Optional[Mapping[str, str]] = None
) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=server.openai_url,
        api_key="test",
        max_retries=0,
        timeout=TIMEOUT,
        default_headers=dict(headers or {}),
    )


def anthropic_client(
    server: LLMServer, headers: Optional[Mapping[str, str]] = None
) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.anthropic_url,
        api_key="test",
        max_retries=0,
        timeout=TIMEOUT,
        default_headers=dict(headers or {}),
    )


def async_anthropic_client(
    server: LLMServer, headers: Optional[Mapping[str, str]] = None
) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=server.anthropic_url,
        api_key="test",
        max_retries=0,
        timeout=TIMEOUT,
        default_headers=dict(headers or {}),
    )


# -- strict validation of what the server sent ---------------------------------------------------

ALLOWED_EXTRAS = {
    # the reasoning spellings of OpenAI-compatible servers, not in OpenAI's own schema
    ("ChoiceDelta", "reasoning_content"),
    ("ChoiceDelta", "reasoning"),
    # older SDKs require ``name`` here, newer ones dropped it
    ("ResponseFunctionCallArgumentsDoneEvent", "name"),
    # the nested error object the live Responses API sends besides the documented fields
    ("ResponseErrorEvent", "error"),
}


def _event_classes(union: Any) -> Dict[str, Type[pydantic.BaseModel]]:
    """``type`` literal -> model class, for one of the SDKs' (annotated) event unions."""
    if hasattr(union, "__metadata__"):  # Annotated[Union[...], PropertyInfo(...)]
        union = typing.get_args(union)[0]
    classes: Dict[str, Type[pydantic.BaseModel]] = {}
    for member in typing.get_args(union):
        for literal in typing.get_args(member.model_fields["type"].annotation):
            classes[literal] = member
    return classes


RESPONSES_EVENTS = _event_classes(ResponseStreamEvent)
MESSAGES_EVENTS = _event_classes(RawMessageStreamEvent)


def _no_unknown_fields(value: object, where: str) -> None:
    if isinstance(value, pydantic.BaseModel):
        name = type(value).__name__
        extra = {key for key in value.model_extra or {} if (name, key) not in ALLOWED_EXTRAS}
        assert not extra, f"{where}: {name} has no field(s) {sorted(extra)}"
        for field in type(value).model_fields:
            _no_unknown_fields(getattr(value, field), f"{where}.{field}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _no_unknown_fields(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_unknown_fields(item, f"{where}[{key!r}]")


def _strict(cls: Type[pydantic.BaseModel], data: object, where: str) -> pydantic.BaseModel:
    model = cls.model_validate(data)  # required fields, literals and types, validated
    _no_unknown_fields(model, where)
    return model


def validate_sent(exchange: Exchange) -> None:
    """Every event the server sent validates against the SDK's model of that event."""
    assert exchange.frames, exchange
    for number, (event, data) in enumerate(exchange.frames):
        where = f"{exchange.path} frame {number}"
        if exchange.path.endswith("/chat/completions"):
            assert event is None, where
            if data == "[DONE]":
                assert number == len(exchange.frames) - 1, f"{where}: [DONE] before the end"
                continue
            assert isinstance(data, dict), where
            if "error" in data:  # the error event of a stream that failed: not a chunk
                assert set(data) == {"error"} and exchange.outcome == "error-event", where
                _strict(openai.types.ErrorObject, data["error"], where)
                continue
            _strict(ChatCompletionChunk, data, where)
        else:
            assert isinstance(data, dict), where
            assert event == data["type"], f"{where}: event {event!r} for data {data['type']!r}"
            classes = RESPONSES_EVENTS if exchange.path.endswith("/responses") else MESSAGES_EVENTS
            if classes is MESSAGES_EVENTS and data["type"] == "ping":
                assert data == {"type": "ping"}, where  # not a stream event: the SDK skips it
            elif classes is MESSAGES_EVENTS and data["type"] == "error":
                _strict(anthropic.types.ErrorResponse, data, where)  # the SDK raises on it
            else:
                _strict(classes[data["type"]], data, where)
    if exchange.path.endswith("/responses"):
        numbers = [data["sequence_number"] for _event, data in exchange.frames]  # type: ignore[index]
        assert numbers == list(range(len(numbers))), numbers


def validate_refusal(exchange: Exchange) -> None:
    """The error body of a refused request validates as the provider's error model."""
    assert exchange.status is not None and exchange.status >= 400, exchange
    if exchange.path.endswith("/messages"):
        _strict(anthropic.types.ErrorResponse, exchange.error_body, exchange.path)
    else:
        assert exchange.error_body is not None and set(exchange.error_body) == {"error"}
        _strict(openai.types.ErrorObject, exchange.error_body["error"], exchange.path)


def finished(exchange: Exchange, outcome: str) -> Exchange:
    assert exchange.finished.wait(TIMEOUT), exchange
    assert exchange.outcome == outcome, exchange
    return exchange


async def afinished(exchange: Exchange, outcome: str) -> Exchange:
    """``finished`` for async tests: the wait leaves the event loop free."""
    assert await exchange.finished.async_wait(TIMEOUT), exchange
    assert exchange.outcome == outcome, exchange
    return exchange


def tool_arguments(script: Script) -> list[tuple[str, Any]]:
    return [(call.name, json.loads(call.arguments_json)) for call in script.tool_calls]


# -- Chat Completions ----------------------------------------------------------------------------


def _chat_text(chunks: Iterable[ChatCompletionChunk]) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


def test_chat_text_with_usage_sync(llm_server: LLMServer) -> None:
    with openai_client(llm_server) as client:
        stream = client.chat.completions.create(
            model="text", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        with stream:
            chunks = list(stream)
    assert all(isinstance(chunk, ChatCompletionChunk) for chunk in chunks)
    assert _chat_text(chunks) == SCENARIOS["text"].joined_text
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices]
    assert finish[-1] == "stop" and not any(finish[:-1])
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (11, 4)
    assert last.usage.total_tokens == 15
    assert all(chunk.usage is None for chunk in chunks[:-1])
    validate_sent(finished(llm_server.requests[0], "completed"))


async def test_chat_text_with_usage_async(llm_server: LLMServer) -> None:
    async with async_openai_client(llm_server) as client:
        stream = await client.chat.completions.create(
            model="text", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        async with stream:
            chunks = [chunk async for chunk in stream]
    assert _chat_text(chunks) == "Hello, world!"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    validate_sent(await afinished(llm_server.requests[0], "completed"))


def test_chat_without_include_usage_sends_no_usage(llm_server: LLMServer) -> None:
    with (
        openai_client(llm_server) as client,
        client.chat.completions.create(model="text", messages=USER, stream=True) as stream,
    ):
        chunks = list(stream)
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)
    exchange = finished(llm_server.requests[0], "completed")
    assert all("usage" not in data for data in exchange.events() if isinstance(data, dict))
    validate_sent(exchange)


@pytest.mark.parametrize(
    ("scenario", "field"), [("reasoning", "reasoning_content"), ("reasoning-alt", "reasoning")]
)
def test_chat_reasoning_then_text(llm_server: LLMServer, scenario: str, field: str) -> None:
    with (
        openai_client(llm_server) as client,
        client.chat.completions.create(
            model=scenario, messages=USER, stream=True, stream_options={"include_usage": True}
        ) as stream,
    ):
        chunks = list(stream)
    deltas = [chunk.choices[0].delta for chunk in chunks if chunk.choices]
    reasoning = "".join((delta.model_extra or {}).get(field) or "" for delta in deltas)
    script = SCENARIOS[scenario]
    assert reasoning == script.reasoning_text
    assert _chat_text(chunks) == script.joined_text
    # all the reasoning comes before the first text
    kinds = [
        "r" if (d.model_extra or {}).get(field) else "t"
        for d in deltas
        if d.content or d.model_extra
    ]
    assert kinds == sorted(kinds)
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == len(script.reasoning)
    validate_sent(finished(llm_server.requests[0], "completed"))


def test_chat_parallel_tool_calls_interleave_and_reassemble(llm_server: LLMServer) -> None:
    with (
        openai_client(llm_server) as client,
        client.chat.completions.create(model="tools", messages=USER, stream=True) as stream,
    ):
        chunks = list(stream)
    calls: dict[int, dict[str, str]] = {}
    order = []
    for chunk in chunks:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            if call.id:
                entry["id"] = call.id
            if call.function is not None:
                entry["name"] += call.function.name or ""
                if call.function.arguments:
                    entry["arguments"] += call.function.arguments
                    order.append(call.index)
    script = SCENARIOS["tools"]
    got = [(calls[i]["name"], json.loads(calls[i]["arguments"])) for i in sorted(calls)]
    assert got == tool_arguments(script)
    assert len({entry["id"] for entry in calls.values()}) == 2
    assert order[:4] == [0, 1, 0, 1], order  # the two calls' argument deltas interleave
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    validate_sent(finished(llm_server.requests[0], "completed"))


def test_chat_stream_helper_accumulates(llm_server: LLMServer) -> None:
    with (
        openai_client(llm_server) as client,
        client.chat.completions.stream(model="tools", messages=USER) as stream,
    ):
        for _event in stream:
            pass
        completion = stream.get_final_completion()
    message = completion.choices[0].message
    assert message.tool_calls is not None
    got = [
        (call.function.name, json.loads(call.function.arguments))
        for call in message.tool_calls
        if call.type == "function"
    ]
    assert got == tool_arguments(SCENARIOS["tools"])


def test_chat_chunk_texts_from_a_reply(llm_server: LLMServer) -> None:
    pieces = ["[[ ## reasoning ## ]]\n", "Because.", "\n\n[[ ## answer ## ]]\n", "42", "\n\n"]
    pieces += ["[[ ## completed ## ]]"]
    reply = llm_server.reply("text", text=pieces)
    with (
        openai_client(llm_server, reply.headers) as client,
        client.chat.completions.create(
            model="any-model-name", messages=USER, stream=True
        ) as stream,
    ):
        deltas = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
    assert [delta for delta in deltas if delta] == pieces
    exchange = finished(reply.exchange(), "completed")
    assert exchange.model == "any-model-name"


def test_chat_script_in_a_header_non_ascii(llm_server: LLMServer) -> None:
    pieces = ["café ", "naïve ", "→ ✓", " 日本"]
    headers = script_headers("text", text=pieces)
    with (
        openai_client(llm_server, headers) as client,
        client.chat.completions.create(model="whatever", messages=USER, stream=True) as stream,
    ):
        assert _chat_text(stream) == "".join(pieces)


def test_chat_error_event_raises_api_error_sync(llm_server: LLMServer) -> None:
    received = []
    with (
        openai_client(llm_server) as client,
        client.chat.completions.create(model="error", messages=USER, stream=True) as stream,
        pytest.raises(openai.APIError, match="The server had an error") as caught,
    ):
        for chunk in stream:
            received.append(chunk)
    assert not isinstance(caught.value, openai.APIConnectionError)
    assert _chat_text(received) == "Hello, "
    validate_sent(finished(llm_server.requests[0], "error-event"))


async def test_chat_error_event_raises_api_error_async(llm_server: LLMServer) -> None:
    async with async_openai_client(llm_server) as client:
        stream = await client.chat.completions.create(model="error", messages=USER, stream=True)
        async with stream:
            with pytest.raises(openai.APIError, match="The server had an error"):
                async for _chunk in stream:
                    pass
    await afinished(llm_server.requests[0], "error-event")


def test_chat_dropped_connection_raises_connection_error(llm_server: LLMServer) -> None:
    received = []
    with (
        openai_client(llm_server) as client,
        client.chat.completions.create(model="drop", messages=USER, stream=True) as stream,
        pytest.raises((openai.APIConnectionError, *CUT_OFF)) as caught,
    ):
        for chunk in stream:
            received.append(chunk)
    assert_cut_off(caught.value)
    assert _chat_text(received) == "Hello, "
    validate_sent(finished(llm_server.requests[0], "dropped"))


async def test_chat_dropped_connection_async(llm_server: LLMServer) -> None:
    async with async_openai_client(llm_server) as client:
        stream = await client.chat.completions.create(model="drop", messages=USER, stream=True)
        async with stream:
            with pytest.raises((openai.APIConnectionError, *CUT_OFF)) as caught:
                async for _chunk in stream:
                    pass
    assert_cut_off(caught.value)
    await afinished(llm_server.requests[0], "dropped")


def test_chat_break_and_close_is_seen_by_the_server_sync(llm_server: LLMServer) -> None:
    reply = llm_server.reply("gated")
    with openai_client(llm_server, reply.headers) as client:
        stream = client.chat.completions.create(model="m", messages=USER, stream=True)
        exchange = reply.exchange()
        assert not exchange.finished.is_set()  # headers and the role chunk only, so far
        reply.release(1)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                assert chunk.choices[0].delta.content == "Hello"
                break
        stream.close()
        assert reply.disconnected.wait(TIMEOUT), exchange
    assert finished(exchange, "disconnected").steps_sent == 1
    assert exchange.disconnected.is_set()


async def test_chat_break_and_close_is_seen_by_the_server_async(llm_server: LLMServer) -> None:
    reply = llm_server.reply("endless")
    async with async_openai_client(llm_server, reply.headers) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        reply.release(3)
        ticks = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                ticks += 1
                if ticks == 3:
                    break
        await stream.close()
        assert await reply.disconnected.async_wait(TIMEOUT)
    exchange = await afinished(reply.exchange(), "disconnected")
    assert exchange.steps_sent == 3


def test_chat_rejected_and_unknown_model(llm_server: LLMServer) -> None:
    with openai_client(llm_server) as client:
        with pytest.raises(openai.BadRequestError, match="rejected by the test server"):
            client.chat.completions.create(model="rejected", messages=USER, stream=True)
        with pytest.raises(openai.NotFoundError, match="does not exist"):
            client.chat.completions.create(model="no-such-scenario", messages=USER, stream=True)
    for exchange, status in zip(llm_server.wait_for_requests(2), (400, 404)):
        validate_refusal(finished(exchange, "rejected"))
        assert exchange.status == status


# -- Responses -----------------------------------------------------------------------------------


def test_responses_text_sync(llm_server: LLMServer) -> None:
    with (
        openai_client(llm_server) as client,
        client.responses.create(model="text", input="hi", stream=True) as stream,
    ):
        events = list(stream)
    types = [event.type for event in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    for event in events:
        assert isinstance(event, RESPONSES_EVENTS[event.type]), event
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert text == "Hello, world!"
    done = [event for event in events if event.type == "response.output_text.done"]
    assert [event.text for event in done] == [text]
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == text
    usage = completed.response.usage
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (11, 4)
    assert [event.sequence_number for event in events] == list(range(len(events)))
    validate_sent(finished(llm_server.requests[0], "completed"))


async def test_responses_text_async(llm_server: LLMServer) -> None:
    async with async_openai_client(llm_server) as client:
        stream = await client.responses.create(model="text", input="hi", stream=True)
        async with stream:
            events = [event async for event in stream]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello, world!"
    assert events[-1].type == "response.completed"
    validate_sent(await afinished(llm_server.requests[0], "completed"))


@pytest.mark.parametrize("style", ["summary", "text"])
def test_responses_reasoning_then_text(llm_server: LLMServer, style: str) -> None:
    reply = llm_server.reply("reasoning", responses_reasoning=style)
    with (
        openai_client(llm_server, reply.headers) as client,
        client.responses.create(model="o-test", input="hi", stream=True) as stream,
    ):
        events = list(stream)
    delta_type = (
        "response.reasoning_summary_text.delta"
        if style == "summary"
        else "response.reasoning_text.delta"
    )
    reasoning = "".join(getattr(event, "delta", "") for event in events if event.type == delta_type)
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert (reasoning, text) == (reply.script.reasoning_text, reply.script.joined_text)
    completed = events[-1]
    assert completed.type == "response.completed"
    item = completed.response.output[0]
    assert item.type == "reasoning"
    parts = item.summary if style == "summary" else (item.content or [])
    assert [part.text for part in parts] == [reasoning]
    usage = completed.response.usage
    assert usage is not None and usage.output_tokens_details.reasoning_tokens == 3
    validate_sent(finished(reply.exchange(), "completed"))


@pytest.mark.parametrize("interleave", [True, False])
def test_responses_parallel_function_calls(llm_server: LLMServer, interleave: bool) -> None:
    reply = llm_server.reply("tools", interleave_tool_calls=interleave)
    with (
        openai_client(llm_server, reply.headers) as client,
        client.responses.create(model="m", input="hi", stream=True) as stream,
    ):
        events = list(stream)
    names = {}
    arguments: dict[str, str] = {}
    order = []
    for event in events:
        if event.type == "response.output_item.added" and event.item.type == "function_call":
            names[event.item.id] = event.item.name
            arguments[event.item.id or ""] = ""
        elif event.type == "response.function_call_arguments.delta":
            delta: ResponseFunctionCallArgumentsDeltaEvent = event
            arguments[delta.item_id] += delta.delta
            order.append(delta.output_index)
        elif event.type == "response.function_call_arguments.done":
            assert event.arguments == arguments[event.item_id]
    got = [(names[item_id], json.loads(arguments[item_id])) for item_id in arguments]
    assert got == tool_arguments(reply.script)
    assert (order[:4] == [0, 1, 0, 1]) is interleave, order
    completed = events[-1]
    assert completed.type == "response.completed"
    final = [
        (item.name, json.loads(item.arguments))
        for item in completed.response.output
        if item.type == "function_call"
    ]
    assert final == got
    validate_sent(finished(reply.exchange(), "completed"))


def test_responses_stream_helper(llm_server: LLMServer) -> None:
    with (
        openai_client(llm_server) as client,
        client.responses.stream(model="reasoning", input="hi") as stream,
    ):
        text = "".join(
            event.delta for event in stream if event.type == "response.output_text.delta"
        )
        response = stream.get_final_response()
    assert text == response.output_text == SCENARIOS["reasoning"].joined_text


async def test_responses_stream_helper_async_tools(llm_server: LLMServer) -> None:
    async with (
        async_openai_client(llm_server) as client,
        client.responses.stream(model="tools", input="hi") as stream,
    ):
        async for _event in stream:
            pass
        response = await stream.get_final_response()
    got = [
        (item.name, json.loads(item.arguments))
        for item in response.output
        if item.type == "function_call"
    ]
    assert got == tool_arguments(SCENARIOS["tools"])


def test_responses_error_event_raises_api_error(llm_server: LLMServer) -> None:
    seen = []
    with (
        openai_client(llm_server) as client,
        client.responses.create(model="error", input="hi", stream=True) as stream,
        pytest.raises(openai.APIError, match="The server had an error") as caught,
    ):
        for event in stream:
            seen.append(event.type)
    assert not isinstance(caught.value, openai.APIConnectionError)
    assert seen.count("response.output_text.delta") == 2
    exchange = finished(llm_server.requests[0], "error-event")
    validate_sent(exchange)  # the error event validates as the SDK's ``ResponseErrorEvent``
    assert exchange.frames[-1][0] == "error"


async def test_responses_failed_is_a_typed_event(llm_server: LLMServer) -> None:
    async with async_openai_client(llm_server) as client:
        stream = await client.responses.create(model="failed", input="hi", stream=True)
        async with stream:
            events = [event async for event in stream]
    failed = events[-1]
    assert failed.type == "response.failed"
    assert failed.response.status == "failed"
    assert failed.response.error is not None
    assert failed.response.error.message == SCENARIOS["failed"].error_message
    validate_sent(await afinished(llm_server.requests[0], "error-event"))


def test_responses_dropped_connection(llm_server: LLMServer) -> None:
    with (
        openai_client(llm_server) as client,
        client.responses.create(model="drop", input="hi", stream=True) as stream,
        pytest.raises((openai.APIConnectionError, *CUT_OFF)) as caught,
    ):
        for _event in stream:
            pass
    assert_cut_off(caught.value)
    validate_sent(finished(llm_server.requests[0], "dropped"))


async def test_responses_break_and_close_is_seen_by_the_server(llm_server: LLMServer) -> None:
    reply = llm_server.reply("gated")
    async with async_openai_client(llm_server, reply.headers) as client:
        stream = await client.responses.create(model="m", input="hi", stream=True)
        reply.release(2)
        deltas = []
        async for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
                if len(deltas) == 2:
                    break
        await stream.close()
        assert await reply.disconnected.async_wait(TIMEOUT)
    assert deltas == ["Hello", ", "]
    assert (await afinished(reply.exchange(), "disconnected")).steps_sent == 2


# -- Anthropic Messages --------------------------------------------------------------------------


def _anthropic_text(events: Iterable[Any], kind: str = "text_delta") -> str:
    pieces = []
    for event in events:
        if event.type == "content_block_delta" and event.delta.type == kind:
            pieces.append(event.delta.text if kind == "text_delta" else event.delta.thinking)
    return "".join(pieces)


def test_messages_text_with_usage_sync(llm_server: LLMServer) -> None:
    with (
        anthropic_client(llm_server) as client,
        client.messages.create(model="text", max_tokens=64, messages=PROMPT, stream=True) as stream,
    ):
        events = list(stream)
    for event in events:
        assert isinstance(event, MESSAGES_EVENTS[event.type]), event
    types = [event.type for event in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert _anthropic_text(events) == "Hello, world!"
    start, delta = events[0], events[-2]
    assert start.type == "message_start" and start.message.usage.input_tokens == 11
    assert delta.type == "message_delta"
    assert delta.delta.stop_reason == "end_turn" and delta.usage.output_tokens == 4
    exchange = finished(llm_server.requests[0], "completed")
    assert "ping" in [event for event, _data in exchange.frames]  # sent, and skipped by the SDK
    validate_sent(exchange)


async def test_messages_text_async(llm_server: LLMServer) -> None:
    async with async_anthropic_client(llm_server) as client:
        stream = await client.messages.create(
            model="text", max_tokens=64, messages=PROMPT, stream=True
        )
        async with stream:
            events = [event async for event in stream]
    assert _anthropic_text(events) == "Hello, world!"
    validate_sent(await afinished(llm_server.requests[0], "completed"))


def test_messages_thinking_then_text(llm_server: LLMServer) -> None:
    with (
        anthropic_client(llm_server) as client,
        client.messages.create(
            model="reasoning", max_tokens=64, messages=PROMPT, stream=True
        ) as stream,
    ):
        events = list(stream)
    script = SCENARIOS["reasoning"]
    assert _anthropic_text(events, "thinking_delta") == script.reasoning_text
    assert _anthropic_text(events) == script.joined_text
    signatures = [
        event.delta.signature
        for event in events
        if event.type == "content_block_delta" and event.delta.type == "signature_delta"
    ]
    assert signatures == [script.signature]
    validate_sent(finished(llm_server.requests[0], "completed"))


def test_messages_parallel_tool_use_interleaved(llm_server: LLMServer) -> None:
    with (
        anthropic_client(llm_server) as client,
        client.messages.create(
            model="tools", max_tokens=64, messages=PROMPT, stream=True
        ) as stream,
    ):
        events = list(stream)
    names: dict[int, str] = {}
    partial: dict[int, str] = {}
    order = []
    for event in events:
        if event.type == "content_block_start" and event.content_block.type == "tool_use":
            names[event.index] = event.content_block.name
            partial[event.index] = ""
        elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
            block_delta: RawContentBlockDeltaEvent = event
            partial[event.index] += event.delta.partial_json
            order.append(block_delta.index)
    got = [(names[index], json.loads(partial[index])) for index in sorted(names)]
    assert got == tool_arguments(SCENARIOS["tools"])
    assert order[:4] == [0, 1, 0, 1], order
    stop = [event for event in events if event.type == "message_delta"]
    assert stop[0].delta.stop_reason == "tool_use"
    validate_sent(finished(llm_server.requests[0], "completed"))


def test_messages_stream_helper_sync(llm_server: LLMServer) -> None:
    with anthropic_client(llm_server) as client:
        with client.messages.stream(model="reasoning", max_tokens=64, messages=PROMPT) as stream:
            text = "".join(stream.text_stream)
            message = stream.get_final_message()
        with client.messages.stream(model="tools", max_tokens=64, messages=PROMPT) as stream:
            tools_message = stream.get_final_message()
    script = SCENARIOS["reasoning"]
    assert text == script.joined_text
    thinking = [block for block in message.content if block.type == "thinking"]
    assert [(block.thinking, block.signature) for block in thinking] == [
        (script.reasoning_text, script.signature)
    ]
    assert message.usage.output_tokens == script.steps
    got = [(block.name, block.input) for block in tools_message.content if block.type == "tool_use"]
    assert got == tool_arguments(SCENARIOS["tools"])
    assert tools_message.stop_reason == "tool_use"


async def test_messages_stream_helper_async(llm_server: LLMServer) -> None:
    async with (
        async_anthropic_client(llm_server) as client,
        client.messages.stream(model="text", max_tokens=64, messages=PROMPT) as stream,
    ):
        pieces = [piece async for piece in stream.text_stream]
        message = await stream.get_final_message()
    assert pieces == list(SCENARIOS["text"].text)
    assert message.content[0].type == "text" and message.content[0].text == "Hello, world!"


def test_messages_error_event_raises_api_status_error(llm_server: LLMServer) -> None:
    with (
        anthropic_client(llm_server) as client,
        client.messages.create(
            model="error", max_tokens=64, messages=PROMPT, stream=True
        ) as stream,
        pytest.raises(anthropic.APIStatusError, match="overloaded_error") as caught,
    ):
        for _event in stream:
            pass
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "overloaded_error"
    validate_sent(finished(llm_server.requests[0], "error-event"))


async def test_messages_error_event_async(llm_server: LLMServer) -> None:
    async with async_anthropic_client(llm_server) as client:
        stream = await client.messages.create(
            model="error", max_tokens=64, messages=PROMPT, stream=True
        )
        async with stream:
            with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
                async for _event in stream:
                    pass
    await afinished(llm_server.requests[0], "error-event")


def test_messages_dropped_connection(llm_server: LLMServer) -> None:
    with (
        anthropic_client(llm_server) as client,
        client.messages.create(model="drop", max_tokens=64, messages=PROMPT, stream=True) as stream,
        pytest.raises((anthropic.APIConnectionError, *CUT_OFF)) as caught,
    ):
        for _event in stream:
            pass
    assert_cut_off(caught.value)
    validate_sent(finished(llm_server.requests[0], "dropped"))


def test_messages_break_and_close_is_seen_by_the_server_sync(llm_server: LLMServer) -> None:
    reply = llm_server.reply("endless")
    reply.release(2)  # credits handed over before the request: they wait for it
    with anthropic_client(llm_server, reply.headers) as client:
        stream = client.messages.create(model="m", max_tokens=64, messages=PROMPT, stream=True)
        texts = []
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                texts.append(event.delta.text)
                if len(texts) == 2:
                    break
        stream.close()
        assert reply.disconnected.wait(TIMEOUT)
    assert texts == ["tick ", "tick "]
    assert finished(reply.exchange(), "disconnected").steps_sent == 2


async def test_messages_break_and_close_is_seen_by_the_server_async(llm_server: LLMServer) -> None:
    reply = llm_server.reply("gated", text=["[[ ## answer ## ]]", "Par", "is"])
    async with async_anthropic_client(llm_server, reply.headers) as client:
        async with client.messages.stream(model="m", max_tokens=64, messages=PROMPT) as stream:
            reply.release(1)
            async for piece in stream.text_stream:
                assert piece == "[[ ## answer ## ]]"
                break
        assert await reply.disconnected.async_wait(TIMEOUT)
    assert (await afinished(reply.exchange(), "disconnected")).steps_sent == 1


def test_messages_rejected(llm_server: LLMServer) -> None:
    with anthropic_client(llm_server) as client:
        with pytest.raises(anthropic.BadRequestError, match="rejected by the test server"):
            client.messages.create(model="rejected", max_tokens=64, messages=PROMPT, stream=True)
        with pytest.raises(anthropic.NotFoundError):
            client.messages.create(model="nope", max_tokens=64, messages=PROMPT, stream=True)
    for exchange, status in zip(llm_server.wait_for_requests(2), (400, 404)):
        validate_refusal(finished(exchange, "rejected"))
        assert exchange.status == status


# -- the server itself ---------------------------------------------------------------------------


def test_gated_steps_wait_for_release(llm_server: LLMServer) -> None:
    reply = llm_server.reply("gated")
    with (
        openai_client(llm_server, reply.headers) as client,
        client.chat.completions.create(model="m", messages=USER, stream=True) as stream,
    ):
        chunks = iter(stream)
        assert next(chunks).choices[0].delta.role == "assistant"
        exchange = reply.exchange()
        assert exchange.steps_sent == 0
        reply.release(1)
        assert next(chunks).choices[0].delta.content == "Hello"
        assert exchange.steps_sent == 1 and not exchange.finished.is_set()
        reply.release_all()
        assert _chat_text(chunks) == ", world!"
    finished(exchange, "completed")


def test_a_client_streams_requests_in_turn(llm_server: LLMServer) -> None:
    with openai_client(llm_server) as client:
        for scenario in ("text", "reasoning", "tools"):
            with client.chat.completions.create(
                model=scenario, messages=USER, stream=True
            ) as stream:
                list(stream)
    for exchange in llm_server.wait_for_requests(3):
        finished(exchange, "completed")


def test_stopping_ends_an_open_exchange() -> None:
    with serve_llm() as server:
        reply = server.reply("gated")
        client = openai_client(server, reply.headers)
        stream = client.chat.completions.create(model="m", messages=USER, stream=True)
        exchange = reply.exchange()
    # the server stopped while the client waited for a gated step
    assert finished(exchange, "shutdown")
    assert not [t for t in threading.enumerate() if t.name == "llm-test-server"]
    with client, stream, pytest.raises((openai.APIConnectionError, *CUT_OFF)) as caught:
        for _chunk in stream:
            pass
    assert_cut_off(caught.value)


def test_script_round_trips_through_the_header() -> None:
    script = make_script(
        "tools",
        text=["a", "b"],
        reasoning=("r",),
        tool_calls=[{"name": "f", "arguments": ["{", "}"], "id": "call_1"}],
        gated=True,
        chat_reasoning_field="reasoning",
    )
    assert script.tool_calls == (ToolCallScript(name="f", arguments=("{", "}"), id="call_1"),)
    header = script_headers(script)
    assert script_from_header(header[SCRIPT_HEADER], "m") == script
    with pytest.raises(ValueError, match="unknown scenario"):
        make_script("no-such-scenario")
    with pytest.raises(ValueError, match="endless"):
        Script(text=(), endless=True)


def test_every_scenario_parses_in_every_format(llm_server: LLMServer) -> None:
    """Each streaming scenario through each endpoint: every event validates strictly."""
    finite = [
        name
        for name, script in SCENARIOS.items()
        if not script.gated and script.status is None and script.drop_after is None
    ]
    with openai_client(llm_server) as oai, anthropic_client(llm_server) as ant:
        for name in finite:
            with (
                contextlib.suppress(openai.APIError),
                oai.chat.completions.create(
                    model=name, messages=USER, stream=True, stream_options={"include_usage": True}
                ) as chat,
            ):
                list(chat)
            with (
                contextlib.suppress(openai.APIError),
                oai.responses.create(model=name, input="hi", stream=True) as responses,
            ):
                list(responses)
            with (
                contextlib.suppress(anthropic.APIStatusError),
                ant.messages.create(
                    model=name, max_tokens=64, messages=PROMPT, stream=True
                ) as messages,
            ):
                list(messages)
    assert len(llm_server.requests) == 3 * len(finite)
    for exchange in llm_server.requests:
        assert exchange.finished.wait(TIMEOUT), exchange
        assert exchange.outcome in ("completed", "error-event"), exchange
        validate_sent(exchange)
