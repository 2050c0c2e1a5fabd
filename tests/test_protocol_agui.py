"""The ``"ag-ui"`` protocol, checked by AG-UI's own models and read by its own client.

A uvicorn server serves the program of ``tests/protocol_programs.py``.  Every frame validates
against the ``ag-ui-protocol`` Python package's event models (``ag_ui.core.Event``), and
``tests/js/agui_run.mjs`` runs the endpoint with ``HttpAgent`` of ``@ag-ui/client`` (which
verifies the event order and applies the events to its messages), checking each event
against ``@ag-ui/core``'s ``EventSchemas`` too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from ag_ui.core import Event as AGUIEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from streamify import Event

from .node_support import run_node
from .protocol_programs import ANSWER, FAILURE, HITS, REASONING, create_protocol_app
from .test_protocol_vercel import CHUNKS, expected_occurrences
from .web_support import SSEReader, http_client, serve

EVENTS: TypeAdapter[Any] = TypeAdapter(AGUIEvent)
RUN_INPUT = {
    "threadId": "thread-1",
    "runId": "run-1",
    "state": {},
    "messages": [],
    "tools": [],
    "context": [],
    "forwardedProps": {},
}


def _frames(body: dict[str, Any]) -> list[str]:
    with serve(create_protocol_app()) as base, http_client() as client:
        response = client.post(base + "/agui", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    reader = SSEReader()
    events = reader.feed(response.content) + reader.close()
    assert all(event.type == "message" for event in events)  # data-only frames
    return [event.data for event in events]


def _texts(events: list[dict[str, Any]], kind: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for event in events:
        if event["type"] == kind:
            texts[event["messageId"]] = texts.get(event["messageId"], "") + event["delta"]
    return texts


def test_every_frame_is_an_ag_ui_event_and_the_run_replays_into_the_answer() -> None:
    frames = _frames(RUN_INPUT)
    for frame in frames:
        EVENTS.validate_json(frame)  # raises on any frame that is not an AG-UI event
    events = [json.loads(frame) for frame in frames]
    assert events[0] == {"type": "RUN_STARTED", "threadId": "thread-1", "runId": "run-1"}
    assert events[-1]["type"] == "RUN_FINISHED"
    assert events[-1]["result"]["answer"] == ANSWER
    assert events[-1]["usage"] == [
        {"model": "fake-1", "inputTokens": 11, "outputTokens": 7, "totalTokens": 18}
    ]
    assert list(_texts(events, "TEXT_MESSAGE_CONTENT").values()) == [ANSWER]
    assert list(_texts(events, "REASONING_MESSAGE_CONTENT").values()) == [REASONING]
    names = [e["name"] for e in events if e["type"] == "CUSTOM"]
    assert names.count("streamify.status") == 4 and names.count("streamify.item") == 1


def test_ag_ui_client_applies_the_run_to_its_messages() -> None:
    with serve(create_protocol_app()) as base:
        seen = run_node("agui_run.mjs", base + "/agui")
    assert seen["invalid"] == [] and seen["error"] is None and seen["runError"] is None
    types = [event["type"] for event in seen["events"]]
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    assert seen["result"]["answer"] == ANSWER
    messages = seen["messages"]
    assistant = [m for m in messages if m["role"] == "assistant"]
    assert ANSWER in [m.get("content") for m in assistant]
    calls = [call for m in assistant for call in m.get("toolCalls", [])]
    assert [call["function"]["name"] for call in calls] == ["search"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"query": "What is it?", "limit": 2}
    (result,) = [m for m in messages if m["role"] == "tool"]
    assert result["toolCallId"] == calls[0]["id"] and json.loads(result["content"]) == HITS
    assert [m["content"] for m in messages if m["role"] == "reasoning"] == [REASONING]


def test_ag_ui_client_gets_a_failing_program_as_run_error_with_its_message() -> None:
    with serve(create_protocol_app()) as base:
        seen = run_node("agui_run.mjs", base + "/agui", json.dumps({"fail": True}))
    assert seen["invalid"] == []
    error = {"type": "RUN_ERROR", "message": FAILURE, "code": "ConnectionError"}
    assert seen["events"][-1] == error
    assert seen["runError"] == FAILURE  # what the agent's subscribers are told


def _data(event: Event) -> dict[str, Any]:
    assert isinstance(event.data, dict)
    return event.data


def test_ids_default_from_the_run_and_bad_options_are_refused() -> None:
    from streamify import AGUIProtocol, StreamResponse

    copy = AGUIProtocol().new("r1")
    assert _data(copy.start()[0]) == {"type": "RUN_STARTED", "threadId": "thread_r1", "runId": "r1"}
    (start, content) = copy.events(StreamResponse("m", "answer", "hi", False, "c9"))
    assert _data(start)["messageId"] == _data(content)["messageId"] == "c9-answer-0"
    assert [e.type for e in copy.fail("ValueError", "bad")] == ["TEXT_MESSAGE_END", "RUN_ERROR"]
    with pytest.raises(TypeError, match="thread_id must be a non-empty str"):
        AGUIProtocol(thread_id="")
    with pytest.raises(TypeError, match="collection of field names"):
        AGUIProtocol(reasoning_fields="reasoning")


def test_streamed_tool_arguments_are_json_that_the_models_accept() -> None:
    from streamify import AGUIProtocol, StatusMessage, StreamResponse

    copy = AGUIProtocol(tool_fields={"query": "search"}).new("r")
    events = list(copy.start())
    for index, piece in enumerate(['say "hi"', " wörld\n", ""]):
        events += copy.events(StreamResponse("agent", "query", piece, index == 2, "c1"))
    events += copy.events(StatusMessage("go", "c2", "c1", "tool_start", "search", {"q": 1}))
    events += copy.events(StatusMessage("ok", "c2", "c1", "tool_end", "search", "found"))
    events += copy.finish()
    for event in events:
        EVENTS.validate_python(event.data)
    args = "".join(_data(e)["delta"] for e in events if e.type == "TOOL_CALL_ARGS")
    assert json.loads(args) == {"query": 'say "hi" wörld\n'}  # the tool's run adds no second call
    assert [e.type for e in events].count("TOOL_CALL_START") == 1
    (result,) = [_data(e) for e in events if e.type == "TOOL_CALL_RESULT"]
    assert result["toolCallId"] == "c1-query-0" and result["content"] == "found"


@settings(max_examples=60, deadline=None)
@given(chunks=CHUNKS, fail=st.booleans())
def test_any_stream_gives_valid_balanced_ag_ui_events(
    chunks: list[tuple[str, str, str, bool]], fail: bool
) -> None:
    from streamify import AGUIProtocol, StreamResponse

    copy = AGUIProtocol().new("run")
    events = list(copy.start())
    for call, field, text, last in chunks:
        events += copy.events(StreamResponse("m", field, text, last, call))
    events += copy.fail("ValueError", "x") if fail else copy.finish()
    opened: set[str] = set()
    texts: dict[str, str] = {}
    for event in events:
        EVENTS.validate_python(event.data)
        data = _data(event)
        if event.type in ("TEXT_MESSAGE_START", "REASONING_MESSAGE_START"):
            assert data["messageId"] not in texts
            opened.add(data["messageId"])
            texts[data["messageId"]] = ""
        elif event.type in ("TEXT_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT"):
            assert data["messageId"] in opened
            texts[data["messageId"]] += data["delta"]
        elif event.type in ("TEXT_MESSAGE_END", "REASONING_MESSAGE_END"):
            opened.remove(data["messageId"])
    assert opened == set()
    assert list(texts.values()) == expected_occurrences(chunks)
    assert events[-1].type == ("RUN_ERROR" if fail else "RUN_FINISHED")
