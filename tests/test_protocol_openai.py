"""The ``"openai-responses"`` protocol and the error frame, read by the real ``openai`` SDK.

A uvicorn server started here serves a streamified program (a fake ``@lm`` that streams
Chat Completions chunks with native reasoning, a chat-format answer and usage) at
``/v1/responses`` in the ``"openai-responses"`` protocol and at ``/v1/chat/completions`` in the
default ``"streamify"`` protocol; the SDK's own clients are pointed at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFailedEvent,
    ResponseOutputItemDoneEvent,
    ResponseReasoningTextDeltaEvent,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)

import streamify
from streamify import (
    OpenAIResponsesProtocol,
    StreamListener,
    encode_json,
    protocol_headers,
    streaming_response,
)
from streamify._protocol_openai import _Output
from tests.test_encoding import (
    collect,
    from_list,
    hostile_text,
    hypothesis_settings,
    parse_sse,
    streams,
)
from tests.web_support import http_client, serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

ROOT = Path(__file__).resolve().parent.parent
GUIDE = "docs/protocols.md"
_BLOCK = re.compile(r"<!-- tested by tests/test_protocol_openai\.py -->\n```python\n(.*?)```", re.S)
GUIDE_URL = "http://127.0.0.1:8000"

REASONING = "Six times seven is forty-two."
ANSWER = "The answer is 42, as always.\n\nWith a blank line and data: [DONE] in it."
FAILURE = "the LM lost its connection\n\ndata: [DONE]"
EVENTS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
"""The SDK's models of every Responses stream event (built once: building it is slow)."""
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def _chunk(**delta: Any) -> dict[str, Any]:
    return {"model": "fake-model", "choices": [{"index": 0, "delta": delta}]}


def _pieces(text: str, size: int = 5) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)]


@streamify.lm(name="fake_lm")
async def fake_lm(question: str, fail: bool) -> AsyncIterator[dict[str, Any]]:
    for piece in _pieces(REASONING):
        yield _chunk(reasoning_content=piece)
    reply = f"[[ ## answer ## ]]\n{ANSWER}\n\n[[ ## completed ## ]]"
    for index, piece in enumerate(_pieces(reply)):
        if fail and index == 6:
            raise ConnectionError(FAILURE)
        yield _chunk(content=piece)
    yield {"model": "fake-model", "choices": [], "usage": USAGE}


@streamify.module(name="answerer", outputs=("reasoning", "answer"))
async def answerer(question: str, fail: bool = False) -> dict[str, str]:
    await fake_lm(question, fail)
    return {"answer": ANSWER}


ask = streamify.streamify(
    answerer, stream_listeners=[StreamListener("reasoning"), StreamListener("answer")]
)


async def responses(request: Request) -> Response:
    from starlette.responses import StreamingResponse

    body = await request.json()
    stream = ask(body["input"], fail=body["input"] == "fail")
    return StreamingResponse(
        streaming_response(stream, protocol="openai-responses"),
        headers=protocol_headers("openai-responses"),
    )


async def chat_completions(request: Request) -> Response:
    from starlette.responses import StreamingResponse

    body = await request.json()
    stream = ask(str(body["messages"][-1].get("content")), fail=True)
    return StreamingResponse(streaming_response(stream), headers=protocol_headers())


def create_app() -> Starlette:
    """The two endpoints (starlette is imported once ``tests.web_support`` has checked it)."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    return Starlette(
        routes=[
            Route("/v1/responses", responses, methods=["POST"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, timeout=30)


@pytest.mark.timeout(60)
def test_responses_sdk_reads_typed_events_whose_deltas_join_to_the_answer(base_url: str) -> None:
    with _client(base_url) as client:
        events = list(client.responses.create(model="m", input="why?", stream=True))
    assert isinstance(events[0], ResponseCreatedEvent)
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if isinstance(e, ResponseTextDeltaEvent))
    reasoning = "".join(e.delta for e in events if isinstance(e, ResponseReasoningTextDeltaEvent))
    assert text == ANSWER
    assert reasoning == REASONING
    (done,) = [event for event in events if isinstance(event, ResponseTextDoneEvent)]
    assert done.text == ANSWER
    finished = [event for event in events if isinstance(event, ResponseOutputItemDoneEvent)]
    items = [event.item for event in sorted(finished, key=lambda event: event.output_index)]
    assert [item.type for item in items] == ["reasoning", "message"]  # in the LM's order
    completed = events[-1]
    assert isinstance(completed, ResponseCompletedEvent)
    response = completed.response
    assert response.status == "completed"
    assert response.output_text == ANSWER
    assert response.id == events[0].response.id and response.id.startswith("resp_")
    assert [item.id for item in response.output] == [item.id for item in items]
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)
    assert response.usage.total_tokens == 18


@pytest.mark.timeout(60)
def test_every_responses_event_validates_against_the_sdk_models(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    for question in ("why?", "fail"):
        with http_client() as client:
            reply = client.post(f"{base_url}/v1/responses", json={"input": question})
        assert reply.headers["content-type"] == "text/event-stream; charset=utf-8"
        frames = [frame for frame in reply.text.split("\n\n") if frame]
        for frame in frames:  # each an event and its JSON: no [DONE] marker
            event_line, data_line = frame.split("\n")
            data = json.loads(data_line.removeprefix("data: "))
            assert event_line == f"event: {data['type']}"
            event = EVENTS.validate_python(data)  # raises on a missing or mistyped field
            assert event.type == data["type"]
        assert data["type"] == ("error" if question == "fail" else "response.completed")


@pytest.mark.timeout(60)
def test_a_failing_program_reaches_the_responses_sdk_as_its_error_with_our_message(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen = []
    with _client(base_url) as client, pytest.raises(openai.APIError) as caught:
        for event in client.responses.create(model="m", input="fail", stream=True):
            seen.append(event)
    assert caught.value.message == FAILURE
    failed = seen[-1]
    assert isinstance(failed, ResponseFailedEvent)
    assert failed.response.status == "failed"
    assert failed.response.error is not None and failed.response.error.message == FAILURE
    streamed = "".join(e.delta for e in seen if isinstance(e, ResponseTextDeltaEvent))
    assert streamed and ANSWER.startswith(streamed) and streamed != ANSWER


@pytest.mark.timeout(60)
def test_the_chat_completions_sdk_raises_with_the_message_of_streamifys_error_frame(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with _client(base_url) as client, pytest.raises(openai.APIError) as caught:
        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "why?"}], stream=True
        )
        for _chunk in stream:
            pass
    assert caught.value.message == FAILURE
    assert caught.value.body == {"type": "ConnectionError", "message": FAILURE}
    with http_client() as client:  # and the frame keeps its readable top-level fields
        text = client.post(f"{base_url}/v1/chat/completions", json={"messages": [{}]}).text
    last = json.loads(text.rstrip("\n").rsplit("\n\n", 1)[-1].removeprefix("data: "))
    assert last == {
        "type": "error",
        "error": {"type": "ConnectionError", "message": FAILURE},
        "message": FAILURE,
    }


@pytest.mark.timeout(60)
def test_the_guides_client_prints_the_streamed_answer_then_the_usage(base_url: str) -> None:
    (code,) = _BLOCK.findall((ROOT / GUIDE).read_text(encoding="utf-8"))
    assert GUIDE_URL in code
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code.replace(GUIDE_URL, base_url), GUIDE, "exec"), {})
    out = printed.getvalue()
    assert out.startswith(ANSWER + "\n ")
    usage = out[len(ANSWER) :]
    assert "input_tokens=11" in usage and "output_tokens=7" in usage


@hypothesis_settings
@given(items=streams)
def test_for_any_stream_every_event_is_a_valid_sdk_event_in_sequence(items: list[Any]) -> None:
    frames = asyncio.run(collect(streaming_response(from_list(items), protocol="openai-responses")))
    events = [EVENTS.validate_json(event.data) for event in parse_sse("".join(frames)).events]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert isinstance(events[0], ResponseCreatedEvent)
    if isinstance(events[-1], ResponseCompletedEvent):
        output = events[-1].response.output
        deltas: dict[str, str] = {item.id: "" for item in output if item.type == "message"}
        for event in events:
            if isinstance(event, ResponseTextDeltaEvent):
                deltas[event.item_id] += event.delta  # items may interleave
        assert events[-1].response.output_text == "".join(deltas.values())
        finished = [e for e in events if isinstance(e, ResponseOutputItemDoneEvent)]
        assert sorted(e.output_index for e in finished) == list(range(len(output)))
        assert [e.item.id for e in sorted(finished, key=lambda e: e.output_index)] == [
            item.id for item in output
        ]
    else:  # an item the encoder refused (two keys that become one JSON key)
        assert events[-1].type == "error"


@hypothesis_settings
@given(text=hostile_text, item_id=hostile_text, reasoning=st.booleans())
def test_the_direct_delta_json_is_the_general_encoders(
    text: str, item_id: str, reasoning: bool
) -> None:
    protocol = OpenAIResponsesProtocol().new("run-1")
    output = _Output(3, item_id, reasoning)
    fast = protocol._delta(output, text)
    protocol._sequence -= 1  # the same sequence number again
    general = protocol._delta_event(output, fast.type, text)
    assert fast == (general.type, encode_json(general.data))
