"""The ``"vercel-ui"`` protocol, read by the AI SDK's own client code (the ``ai`` npm package).

A uvicorn server serves the program of ``tests/protocol_programs.py``; ``tests/js/vercel_read.mjs``
fetches it and runs the body through ``parseJsonEventStream`` with ``uiMessageChunkSchema``
(every chunk must validate) and ``readUIMessageStream`` (what ``useChat`` rebuilds the
message with), and prints the rebuilt message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from streamify import (
    Prediction,
    StatusMessage,
    StreamResponse,
    VercelUIProtocol,
    protocol_headers,
    streaming_response,
)

from .node_support import run_node
from .protocol_programs import ANSWER, FAILURE, HITS, REASONING, create_protocol_app
from .web_support import serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request
    from starlette.responses import Response


def _read(path: str, app: Any = None) -> Any:
    with serve(app or create_protocol_app()) as base:
        return run_node("vercel_read.mjs", base + path)


def _parts(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [part for part in message["parts"] if part["type"] == kind]


def test_ai_sdk_rebuilds_text_reasoning_tool_and_data_parts_from_the_stream() -> None:
    seen = _read("/vercel")
    assert seen["status"] == 200
    assert seen["headers"]["x-vercel-ai-ui-message-stream"] == "v1"
    assert seen["headers"]["content-type"].startswith("text/event-stream")
    assert seen["invalid"] == [] and seen["errors"] == []
    assert seen["types"][0] == "start" and seen["types"][-1] == "finish"
    message = seen["message"]
    assert message["role"] == "assistant" and message["id"].startswith("msg_")
    assert [part["text"] for part in _parts(message, "text")] == [ANSWER]
    assert [part["text"] for part in _parts(message, "reasoning")] == [REASONING]
    assert all(part["state"] == "done" for part in _parts(message, "text"))
    (search,) = _parts(message, "tool-search")
    assert search["state"] == "output-available"
    assert search["input"] == {"query": "What is it?", "limit": 2}
    assert search["output"] == HITS
    assert [p["data"] for p in _parts(message, "data-item")] == [
        {"progress": 1, "note": "looking things up"}
    ]
    statuses = [p["data"]["event"] for p in _parts(message, "data-status")]
    assert statuses == ["module_start", "tool_start", "tool_end", "module_end"]
    (prediction,) = _parts(message, "data-prediction")
    assert prediction["data"]["answer"] == ANSWER
    assert len(_parts(message, "step-start")) == 1  # the top-level module call is one step
    assert message["metadata"]["usage"]["fake-1"]["total_tokens"] == 18


def test_ai_sdk_reports_a_failing_program_with_its_message() -> None:
    seen = _read("/vercel?fail=1")
    assert seen["invalid"] == []
    assert seen["errors"] == [FAILURE]
    assert "finish" not in seen["types"]
    (text,) = _parts(seen["message"], "text")
    assert ANSWER.startswith(text["text"]) and text["text"] != ANSWER
    assert text["state"] == "done"  # the open part was ended before the error


async def _streamed_tool_call() -> AsyncIterator[Any]:
    """A ``tool=`` listener's chunks of the ``query`` argument, then the tool runs."""
    for index, piece in enumerate(['say "hi"', " wörld\n", ""]):
        yield StreamResponse("agent", "query", piece, index == 2, "c1")
    yield StatusMessage("Calling tool search...", "c2", "c1", "tool_start", "search", {"q": 1})
    yield StatusMessage("Done", "c2", "c1", "tool_end", "search", ["hit"])
    yield Prediction(answer="ok")


def _tool_app() -> Starlette:
    async def route(request: Request) -> Response:
        protocol = VercelUIProtocol(tool_fields={"query": "search"}, answer_field="answer")
        frames = streaming_response(_streamed_tool_call(), protocol=protocol)
        return StreamingResponse(frames, headers=protocol_headers(protocol))

    return Starlette(routes=[Route("/tool", route)])


def test_a_streamed_tool_argument_and_the_tool_run_are_one_tool_part() -> None:
    seen = _read("/tool", _tool_app())
    assert seen["invalid"] == [] and seen["errors"] == []
    assert seen["types"].count("tool-input-delta") == 3
    (search,) = _parts(seen["message"], "tool-search")
    assert search["toolCallId"] == "c1-query-0"
    assert search["state"] == "output-available"
    assert search["input"] == {"q": 1}  # the tool's own inputs replace the streamed ones
    assert search["output"] == ["hit"]
    assert [part["text"] for part in _parts(seen["message"], "text")] == ["ok"]


# -- without a client: what the protocol object itself promises -------------------------------


def _events(protocol: VercelUIProtocol, items: list[Any], run_id: str) -> list[Any]:
    """The events of a whole response, with each event's data a dict."""
    copy = protocol.new(run_id)
    events = list(copy.start())
    for item in items:
        events += copy.events(item)
    return events + list(copy.finish())


ITEMS: list[Any] = [
    StreamResponse("agent", "reasoning", "why", True, "c1"),
    StreamResponse("agent", "answer", "a", False, "c1"),
    StreamResponse("agent", "answer", "b", True, "c1"),
    StreamResponse("agent", "answer", "again", True, "c1"),  # a second occurrence
    StreamResponse("agent", "notes", "left out", True, "c1"),
    Prediction(answer="ab"),
]


def test_part_ids_derive_from_the_run_and_call_ids_only() -> None:
    protocol = VercelUIProtocol(text_fields=("answer",))
    first = _events(protocol, ITEMS, "run-1")
    assert first == _events(protocol, ITEMS, "run-1")  # the same run read again: same ids
    ids = [event.data.get("id") for event in first if "id" in event.data]
    assert ids == ["c1-reasoning-0"] * 3 + ["c1-answer-0"] * 4 + ["c1-answer-1"] * 3
    assert first[0].data == {"type": "start", "messageId": "msg_run-1"}
    assert not any(event.data.get("delta") == "left out" for event in first)


def test_part_names_are_options_and_none_leaves_the_parts_out() -> None:
    status = StatusMessage("working", "c1", None, "tool_start", "search", {"q": 1})
    items: list[Any] = [status, {"k": 1}, Prediction(answer="x")]
    named = _events(VercelUIProtocol(item_part=lambda item: "thing"), items, "r")
    assert [e.type for e in named if e.type.startswith("data-")] == [
        "data-status",
        "data-thing",
        "data-prediction",
    ]
    quiet = VercelUIProtocol(status_part=None, item_part=None, prediction_part=None)
    assert not [e for e in _events(quiet, items, "r") if e.type.startswith("data-")]


def test_bad_options_are_refused_when_wrapping_with_the_fix() -> None:
    import pytest

    with pytest.raises(TypeError, match="collection of field names"):
        VercelUIProtocol(text_fields="answer")
    with pytest.raises(TypeError, match="tool_fields must map"):
        VercelUIProtocol(tool_fields={"query": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="part name"):
        VercelUIProtocol(status_part="")
    with pytest.raises(ValueError, match="Server-Sent Events only"):
        protocol_headers("vercel-ui", ndjson=True)


def test_a_tool_input_json_cannot_hold_arrives_as_its_repr() -> None:
    class Odd:
        def __repr__(self) -> str:
            return "Odd()"

    status = StatusMessage("go", "c2", None, "tool_start", "search", {"thing": Odd()})
    (_, _, available, _) = _events(VercelUIProtocol(), [status], "r")[1:]
    assert available.data["input"] == "{'thing': Odd()}"


async def test_status_messages_carry_the_call_name_inputs_and_outputs() -> None:
    from .protocol_programs import program

    items = [item async for item in program()("q")]
    statuses = {s.event: s for s in items if isinstance(s, StatusMessage)}
    assert statuses["tool_start"].name == "search"
    assert statuses["tool_start"].detail == {"query": "q", "limit": 2}
    assert statuses["tool_end"].detail == HITS
    assert statuses["module_start"].name == "assistant"


async def test_streamify_frames_leave_out_the_name_and_detail() -> None:
    from streamify import encode_item

    status = StatusMessage("m", "c", None, "tool_start", "search", {"q": 1})
    assert encode_item(status) == encode_item(StatusMessage("m", "c", None, "tool_start"))
    assert encode_item([status])["data"] == [
        {"message": "m", "call_id": "c", "parent_call_id": None, "event": "tool_start"}
    ]

    async def one() -> AsyncIterator[Any]:
        yield status

    frames = [frame async for frame in streaming_response(one())]
    assert frames[0] == (
        'data: {"type":"status","message":"m","call_id":"c","parent_call_id":null,'
        '"event":"tool_start"}\n\n'
    )


# -- any stream: every part opens, streams its own occurrence's text, and closes --------------

CHUNKS = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", ""]),
        st.sampled_from(["answer", "reasoning", "notes"]),
        st.text(max_size=4),
        st.booleans(),
    ),
    max_size=25,
)


def expected_occurrences(chunks: list[tuple[str, str, str, bool]]) -> list[str]:
    """The text of each field occurrence, in the order the occurrences open."""
    open_: dict[tuple[str, str], int] = {}
    texts: list[str] = []
    for call, field, chunk, last in chunks:
        index = open_.setdefault((call, field), len(texts))
        if index == len(texts):
            texts.append("")
        texts[index] += chunk
        if last:
            del open_[(call, field)]
    return texts


@settings(max_examples=60, deadline=None)
@given(chunks=CHUNKS, fail=st.booleans())
def test_any_stream_gives_balanced_parts_holding_each_occurrence(
    chunks: list[tuple[str, str, str, bool]], fail: bool
) -> None:
    from streamify import encode_json

    items = [StreamResponse("m", field, text, last, call) for call, field, text, last in chunks]
    copy = VercelUIProtocol().new("run")
    events = list(copy.start())
    for item in items:
        events += copy.events(item)
    events += copy.fail("ValueError", "x") if fail else copy.finish()
    opened: dict[str, str] = {}  # id -> kind, while open
    texts: dict[str, str] = {}
    order: list[str] = []
    for event in events:
        encode_json(event.data)  # every event is JSON
        kind, _, step = event.type.rpartition("-")
        if kind not in ("text", "reasoning"):
            continue
        part = event.data["id"]  # type: ignore[index,call-overload]
        if step == "start":
            assert part not in opened and part not in texts  # ids never repeat
            opened[part], texts[part] = kind, ""
            order.append(part)
        else:
            assert opened.get(part) == kind
            if step == "delta":
                texts[part] += event.data["delta"]  # type: ignore[index,call-overload]
            else:
                del opened[part]
    assert opened == {}  # every part was ended, by its last chunk or by the ending
    assert [texts[part] for part in order] == expected_occurrences(chunks)
    assert events[-1].type == ("error" if fail else "finish")
