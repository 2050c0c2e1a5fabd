"""Protocols as a plug-in: a user's protocol, the template copied per response, the order of
the calls (invariant 2 of ``streamify/_protocol.py``), failures inside a protocol, framing
safety whatever the protocol, and the checks of ``protocol=``."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

import streamify
from streamify import (
    Event,
    OpenAIResponsesProtocol,
    Prediction,
    StatusMessage,
    StreamProtocol,
    StreamResponse,
    encode_json,
    ndjson_response,
    ndjson_response_sync,
    protocol_headers,
    protocol_names,
    streaming_response,
    streaming_response_sync,
)
from tests.test_encoding import (
    assert_frame_is_one_line_per_field,
    collect,
    from_list,
    hostile_text,
    hypothesis_settings,
    parse_sse,
    streams,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Sequence


class Plain(StreamProtocol):
    """A user's protocol in a few lines: text deltas, the result, an end marker."""

    done_marker = "END"
    ndjson_done = '"END"'

    def on_token(self, item: StreamResponse) -> Sequence[Event]:
        return [Event("text", {"text": item.chunk})]

    def on_prediction(self, item: Prediction) -> Sequence[Event]:
        return [Event("result", dict(item))]


def token(chunk: str, last: bool = False, field: str = "answer") -> StreamResponse:
    return StreamResponse("predict", field, chunk, last, "call-1")


ITEMS = [StatusMessage("thinking"), token("4"), token("2", last=True), Prediction(answer="42")]


async def test_a_users_protocol_in_a_few_lines_works_over_sse_and_ndjson() -> None:
    frames = await collect(streaming_response(from_list(ITEMS), protocol=Plain, event_names=True))
    assert "".join(frames) == (
        'event: text\ndata: {"text":"4"}\n\n'
        'event: text\ndata: {"text":"2"}\n\n'
        'event: result\ndata: {"answer":"42"}\n\n'
        "data: END\n\n"
    )
    lines = await collect(ndjson_response(from_list(ITEMS), protocol=Plain()))
    assert "".join(lines) == '{"text":"4"}\n{"text":"2"}\n{"answer":"42"}\n"END"\n'
    sync_frames = streaming_response_sync(iter(ITEMS), protocol=Plain(), event_names=True)
    assert list(sync_frames) == frames
    assert list(ndjson_response_sync(iter(ITEMS), protocol=Plain())) == lines


class Counting(StreamProtocol):
    """Per-response state set up in ``reset``: a counter and the items seen."""

    def reset(self) -> None:
        self.count = 0
        self.seen: list[Any] = []

    def on_item(self, item: Any) -> Sequence[Event]:
        self.count += 1
        self.seen.append(item)
        return [Event("n", {"run": self.run_id, "n": self.count, "item": item})]


async def test_one_template_serves_concurrent_responses_without_sharing_state() -> None:
    template = Counting()
    first = streaming_response(from_list(["a", "b", "c"]), protocol=template)
    second = streaming_response(from_list(["x", "y", "z"]), protocol=template)
    frames: dict[str, list[Any]] = {"first": [], "second": []}
    for _ in range(3):  # interleaved, one frame of each at a time
        frames["first"].append(json.loads((await first.__anext__())[6:]))
        frames["second"].append(json.loads((await second.__anext__())[6:]))
    await first.aclose()
    await second.aclose()
    assert [(f["n"], f["item"]) for f in frames["first"]] == [(1, "a"), (2, "b"), (3, "c")]
    assert [(f["n"], f["item"]) for f in frames["second"]] == [(1, "x"), (2, "y"), (3, "z")]
    runs = {name: {f["run"] for f in got} for name, got in frames.items()}
    assert len(runs["first"]) == len(runs["second"]) == 1 and runs["first"] != runs["second"]
    assert not hasattr(template, "count")  # the template itself is never used


def test_a_responses_ids_depend_only_on_the_run_id() -> None:
    items = [token("Hi", last=True), token("Hm", last=True, field="reasoning"), Prediction()]

    def events(run_id: str) -> list[Any]:
        protocol = OpenAIResponsesProtocol().new(run_id)
        out = [*protocol.start()]
        for item in items:
            out += protocol.events(item)
        return [json.dumps(event.data) for event in [*out, *protocol.finish()]]

    assert events("run-1") == events("run-1")
    assert events("run-1") != events("run-2")
    assert "resp_run-1" in events("run-1")[0]
    assert any('"msg_call-1_0"' in event for event in events("run-1"))


class Recording(StreamProtocol):
    """Records every call; raises in the step named by ``raise_in``."""

    def __init__(self, raise_in: Optional[str] = None) -> None:
        self.raise_in = raise_in
        self.calls: list[str] = []

    def new(self, run_id: Optional[str] = None, default: Any = None) -> Recording:
        copy = super().new(run_id, default)
        self.calls.append("new")
        copy.calls = self.calls  # one log for the template and its copy, for the test
        return copy

    def _record(self, call: str) -> None:
        self.calls.append(call)
        if call == self.raise_in:
            raise RuntimeError(f"the protocol broke in {call}")

    def start(self) -> Sequence[Event]:
        self._record("start")
        return [Event("start", {})]

    def events(self, item: Any) -> Sequence[Event]:
        self._record(f"events {item!r}")
        return [Event("item", {"item": item})]  # an Unencodable cannot be encoded

    def finish(self) -> Sequence[Event]:
        self._record("finish")
        return [Event("finish", {})]

    def fail(self, error_type: str, message: str) -> Sequence[Event]:
        self._record(f"fail {error_type}")
        return [Event("fail", {"error": error_type, "message": message})]


class Unencodable:
    pass


def calls_stream(calls: list[str], items: list[Any], error: Optional[Exception] = None) -> Any:
    async def stream() -> AsyncGenerator[Any, None]:
        try:
            for item in items:
                yield item
            if error is not None:
                raise error
        finally:
            calls.append("stream closed")

    return stream()


BOOM = Unencodable()
CASES: dict[str, tuple[Optional[str], Optional[Exception], list[Any], list[str]]] = {
    # name: (the call that raises, what the stream raises, the items, the calls after new())
    "the stream ends": (
        None,
        None,
        [1, 2],
        ["start", "events 1", "events 2", "stream closed", "finish"],
    ),
    "the stream raises": (
        None,
        ValueError("bad"),
        [1],
        ["start", "events 1", "stream closed", "fail ValueError"],
    ),
    "an item is unencodable": (
        None,
        None,
        [1, BOOM, 2],
        ["start", "events 1", f"events {BOOM!r}", "stream closed", "fail TypeError"],
    ),
    "start raises": ("start", None, [1], ["start", "fail RuntimeError"]),  # never stepped
    "events raises": (
        "events 2",
        None,
        [1, 2, 3],
        ["start", "events 1", "events 2", "stream closed", "fail RuntimeError"],
    ),
    "finish raises": (
        "finish",
        None,
        [1],
        ["start", "events 1", "stream closed", "finish", "fail RuntimeError"],
    ),
}


@pytest.mark.parametrize("keepalive", [None, 30.0])
@pytest.mark.parametrize("case", list(CASES))
async def test_calls_come_in_the_documented_order_on_every_path(
    case: str, keepalive: Optional[float], caplog: pytest.LogCaptureFixture
) -> None:
    raise_in, error, items, expected = CASES[case]
    template = Recording(raise_in)
    with caplog.at_level(logging.ERROR, logger="streamify"):
        frames = await collect(
            streaming_response(
                calls_stream(template.calls, items, error), protocol=template, keepalive=keepalive
            )
        )
    assert template.calls == ["new", *expected]  # and nothing after fail
    last = json.loads(frames[-1].rsplit("data: ", 1)[1])
    if case == "the stream ends":
        assert last == {}  # finish's event; Recording has no done marker
        assert not caplog.records
    else:
        assert last["error"] == expected[-1].split()[-1]
        assert len(caplog.records) == 1
    if raise_in is not None:
        assert f"the protocol broke in {raise_in}" in last["message"]


async def test_a_protocol_that_raises_in_fail_ends_with_streamifys_error_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BrokenFail(Plain):
        def fail(self, error_type: str, message: str) -> Sequence[Event]:
            raise RuntimeError("no error frame either")

    async def failing() -> AsyncGenerator[Any, None]:
        yield token("x")
        raise ValueError("the program failed")

    with caplog.at_level(logging.ERROR, logger="streamify"):
        frames = await collect(streaming_response(failing(), protocol=BrokenFail))
    assert json.loads(frames[-1][6:]) == streamify.error_payload("ValueError", "the program failed")
    assert any("failed to encode an error" in record.getMessage() for record in caplog.records)


async def test_a_raising_protocol_stops_the_program_and_ends_with_a_logged_error_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stopped = asyncio.Event()

    async def endless() -> None:
        try:
            count = 0
            while True:
                count += 1
                await streamify.emit(count)
        finally:
            stopped.set()

    class BreaksAtThree(StreamProtocol):
        def on_item(self, item: Any) -> Sequence[Event]:
            if item == 3:
                raise KeyError("three")
            return [Event("item", {"n": item})]

    with caplog.at_level(logging.ERROR, logger="streamify"):
        body = await collect(
            streaming_response(streamify.streamify(endless)(), protocol=BreaksAtThree)
        )
    # items already buffered may go out joined in one string: split the body into frames
    frames = [frame + "\n\n" for frame in "".join(body).split("\n\n") if frame]
    assert stopped.is_set()  # the program was stopped before the response ended
    assert [json.loads(frame[6:]).get("n") for frame in frames[:2]] == [1, 2]
    error = json.loads(frames[-1][6:])
    assert error["type"] == "error" and error["error"]["type"] == "KeyError"
    assert "'three'" in error["message"]
    (record,) = caplog.records
    assert record.exc_info is not None and isinstance(record.exc_info[1], KeyError)


def _frames_of(protocol: str, items: list[Any]) -> list[str]:
    async def run() -> list[str]:
        return await collect(streaming_response(from_list(items), protocol=protocol))

    return asyncio.run(run())


@hypothesis_settings
@given(items=streams, protocol=st.sampled_from(protocol_names()))
def test_every_built_in_protocol_keeps_the_framing_safe_for_hostile_content(
    items: list[Any], protocol: str
) -> None:
    frames = _frames_of(protocol, items)
    for frame in frames:
        if frame.startswith(":"):
            continue
        for part in frame.split("\n\n")[:-1]:  # a step may send several events
            assert_frame_is_one_line_per_field(part + "\n\n")
            (event,) = parse_sse(part + "\n\n").events
            if event.data != "[DONE]":
                json.loads(event.data)
    total = sum(frame.count("\n\n") for frame in frames)
    assert len(parse_sse("".join(frames)).events) == total  # no event forged, none lost


class Careless(StreamProtocol):
    """Puts content where only JSON text may go, the mistake the framing check catches."""

    def on_token(self, item: StreamResponse) -> Sequence[Event]:
        return [Event("token", item.chunk)]

    def on_item(self, item: Any) -> Sequence[Event]:
        return [Event(str(item), encode_json(item))]


@hypothesis_settings
@given(text=hostile_text)
def test_a_users_protocol_cannot_forge_frames_with_content(text: str) -> None:
    frames = _frames_of_protocol(Careless(), [token(text), text])
    for frame in frames:
        assert_frame_is_one_line_per_field(frame)
    events = parse_sse("".join(frames)).events
    assert len(events) == len(frames)  # one event per frame: none forged
    breaks = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
    if any(char in breaks or 0xD800 <= ord(char) <= 0xDFFF for char in text):
        (error,) = [json.loads(event.data) for event in events]  # the token was refused
        assert error["error"]["type"] == "ValueError"
        assert "line break or a surrogate" in error["message"]
    else:
        assert [event.data for event in events] == [text, encode_json(text)]


def _frames_of_protocol(protocol: StreamProtocol, items: list[Any]) -> list[str]:
    logging.getLogger("streamify").disabled = True
    try:
        return asyncio.run(collect(streaming_response(from_list(items), protocol=protocol)))
    finally:
        logging.getLogger("streamify").disabled = False


def test_unknown_names_and_wrong_types_are_refused_with_what_to_pass() -> None:
    async def stream() -> AsyncGenerator[Any, None]:
        yield 1

    with pytest.raises(ValueError, match=r"unknown protocol 'vercel'.*'streamify'"):
        streaming_response(stream(), protocol="vercel")
    for wrong in (42, dict, StreamProtocol.on_item, None):
        with pytest.raises(TypeError, match="StreamProtocol instance or subclass"):
            streaming_response(stream(), protocol=wrong)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="StreamProtocol instance or subclass"):
            protocol_headers(wrong)  # type: ignore[arg-type]

    class NeedsArguments(Plain):
        def __init__(self, url: str) -> None:
            self.url = url

    with pytest.raises(TypeError, match="NeedsArguments cannot be made without arguments"):
        streaming_response(stream(), protocol=NeedsArguments)
    with pytest.raises(TypeError, match="ndjson must be True or False"):
        protocol_headers("streamify", ndjson=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text_fields must be a collection of field names"):
        OpenAIResponsesProtocol(text_fields="answer")


@pytest.mark.parametrize("name", ["openai-responses", "dspy"])
def test_sse_only_protocols_are_refused_by_ndjson(name: str) -> None:
    with pytest.raises(ValueError, match="Server-Sent Events only"):
        ndjson_response(from_list([]), protocol=name)
    with pytest.raises(ValueError, match="Server-Sent Events only"):
        ndjson_response_sync(iter([]), protocol=name)
    with pytest.raises(ValueError, match="Server-Sent Events only"):
        protocol_headers(name, ndjson=True)


def test_protocol_headers_and_names() -> None:
    assert {"streamify", "openai-responses", "dspy"} <= set(protocol_names())
    sse = {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
    }
    for name in ("streamify", "openai-responses", "dspy"):
        assert protocol_headers(name) == sse
    assert protocol_headers(ndjson=True) == {"content-type": "application/x-ndjson; charset=utf-8"}

    class Versioned(Plain):
        headers = {"x-protocol": "v1"}  # noqa: RUF012

    assert protocol_headers(Versioned) == {**sse, "x-protocol": "v1"}
    assert protocol_headers(Versioned()) is not protocol_headers(Versioned())  # a new dict
