"""The example app speaks every front-end protocol, each read by its own real client.

The app (``examples/web/app.py``) serves its assistant at the path each client posts to by
default: ``/v1/responses`` (the ``openai`` SDK), ``/api/chat`` (Vercel's ``useChat``),
``/ag-ui`` (an AG-UI ``HttpAgent``), ``/dspy``; and ``/stream?protocol=NAME``.  A uvicorn server
runs it; the clients are the real ones (the SDK, the ``ai`` npm package's reader, the
``ag-ui-protocol`` models).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from .web_support import ANSWER, create_app, http_client, serve

if TYPE_CHECKING:
    from collections.abc import Iterator

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(create_app(delay=0, keepalive=None)) as base:
        yield base


def _data_frames(body: str) -> list[str]:
    return [line[6:] for line in body.splitlines() if line.startswith("data: ")]


def test_openai_sdk_reads_the_example_answer_from_its_responses_endpoint(base_url: str) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)
    events = list(client.responses.create(model="demo", input="Why?", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    deltas = [event for event in events if event.type == "response.output_text.delta"]
    assert ANSWER in {"".join(d.delta for d in deltas if d.item_id == i) for i in _ids(deltas)}
    assert [event.sequence_number for event in events] == list(range(len(events)))


def _ids(deltas: list[Any]) -> set[str]:
    return {delta.item_id for delta in deltas}


def test_a_failing_example_program_reaches_the_openai_sdk_with_its_message(
    base_url: str,
) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)
    stream = client.responses.create(
        model="demo", input="Why?", stream=True, extra_query={"fail": "1"}
    )
    with pytest.raises(openai.APIError, match="lost its connection half-way"):
        for _ in stream:
            pass


def test_the_ai_sdk_rebuilds_the_example_answer_from_the_vercel_stream(base_url: str) -> None:
    from .node_support import run_node

    read = run_node("vercel_read.mjs", f"{base_url}/stream?protocol=vercel-ui&question=Why")
    assert read["invalid"] == []
    texts = [part["text"] for part in read["message"]["parts"] if part["type"] == "text"]
    assert ANSWER in texts
    assert read["types"][-1] == "finish"


def test_use_chats_default_endpoint_answers_in_the_vercel_protocol(base_url: str) -> None:
    message = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Why?"}]}
    with http_client() as client:
        reply = client.post(f"{base_url}/api/chat", json={"id": "c1", "messages": [message]})
    assert reply.headers["x-vercel-ai-ui-message-stream"] == "v1"
    frames = _data_frames(reply.text)
    assert json.loads(frames[0])["type"] == "start" and frames[-1] == "[DONE]"
    deltas = [json.loads(f) for f in frames[:-1] if json.loads(f)["type"] == "text-delta"]
    assert ANSWER in "".join(delta["delta"] for delta in deltas)


def test_every_ag_ui_frame_of_the_example_validates_and_echoes_the_clients_ids(
    base_url: str,
) -> None:
    from ag_ui.core import Event as AGUIEvent
    from pydantic import TypeAdapter

    events: TypeAdapter[Any] = TypeAdapter(AGUIEvent)
    body = {
        "threadId": "thread-1",
        "runId": "run-1",
        "messages": [{"id": "u1", "role": "user", "content": "Why?"}],
        "tools": [],
        "context": [],
        "state": None,
        "forwardedProps": None,
    }
    with http_client() as client:
        reply = client.post(f"{base_url}/ag-ui", json=body)
    parsed = [events.validate_json(frame) for frame in _data_frames(reply.text)]
    assert parsed[0].type == "RUN_STARTED" and parsed[0].thread_id == "thread-1"
    assert parsed[-1].type == "RUN_FINISHED" and parsed[-1].run_id == "run-1"
    text = "".join(e.delta for e in parsed if e.type == "TEXT_MESSAGE_CONTENT")
    assert ANSWER in text


def test_the_dspy_endpoint_ends_with_the_prediction_then_done(base_url: str) -> None:
    with http_client() as client:
        reply = client.post(f"{base_url}/dspy", json={"question": "Why?"})
    frames = _data_frames(reply.text)
    assert frames[-1] == "[DONE]"
    assert json.loads(frames[-2])["prediction"]["answer"] == ANSWER


def test_an_unknown_protocol_is_refused_with_the_names(base_url: str) -> None:
    with http_client() as client:
        reply = client.get(f"{base_url}/stream?protocol=nope")
    assert reply.status_code == 400 and "vercel-ui" in reply.text
