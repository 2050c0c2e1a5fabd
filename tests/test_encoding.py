"""Server-Sent Events and NDJSON encoding: payloads, framing safety, endings and stopping."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import enum
import gc
import json
import logging
import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamify._encoding import (
    _Pump,
    _to_json,
    encode_item,
    ndjson_response,
    ndjson_response_sync,
    streaming_response,
    streaming_response_sync,
)
from streamify._messages import Prediction, StatusMessage, StreamResponse

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Iterator

# -- a spec-following SSE parser (WHATWG HTML, "Server-sent events", event stream parsing) ------


class SSEEvent(NamedTuple):
    type: str
    data: str
    last_event_id: str


class ParsedSSE(NamedTuple):
    events: list[SSEEvent]
    comments: list[str]


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def parse_sse(text: str) -> ParsedSSE:
    """Parse an event stream exactly as a browser's EventSource does."""
    if text.startswith("\ufeff"):
        text = text[1:]
    *lines, _incomplete = _LINE_BREAK.split(text)  # text after the last line break is dropped
    events: list[SSEEvent] = []
    comments: list[str] = []
    data = ""
    event_type = ""
    last_event_id = ""
    for line in lines:
        if line == "":
            if data == "":
                event_type = ""
                continue
            events.append(SSEEvent(event_type or "message", data[:-1], last_event_id))
            data = ""
            event_type = ""
            continue
        if line.startswith(":"):
            comments.append(line[1:])
            continue
        if ":" in line:
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "event":
            event_type = value
        elif field == "data":
            data += value + "\n"
        elif field == "id" and "\x00" not in value:
            last_event_id = value
        # "retry" and unknown fields are ignored
    return ParsedSSE(events, comments)


def test_sse_parser_follows_the_spec() -> None:
    text = "\ufeff: hi\r\ndata: a\rdata:b\n\nevent: x\nid: 7\ndata\n\ndata: lost"
    assert parse_sse(text) == ParsedSSE(
        [SSEEvent("message", "a\nb", ""), SSEEvent("x", "", "7")], [" hi"]
    )


# -- helpers -------------------------------------------------------------------------------------


def expected_payload(item: Any) -> dict[str, Any]:
    """The payload of an item, written out independently of the encoder."""
    if isinstance(item, StatusMessage):
        return {
            "type": "status",
            "message": item.message,
            "call_id": item.call_id,
            "parent_call_id": item.parent_call_id,
            "event": item.event,
        }
    if isinstance(item, StreamResponse):
        return {
            "type": "token",
            "predict_name": item.predict_name,
            "signature_field_name": item.signature_field_name,
            "chunk": item.chunk,
            "is_last_chunk": item.is_last_chunk,
            "call_id": item.call_id,
            "parent_call_id": item.parent_call_id,
        }
    if isinstance(item, Prediction):
        return {"type": "prediction", "data": dict(item.items())}
    return {"type": "item", "data": item}


async def from_list(items: list[Any]) -> AsyncGenerator[Any, None]:
    for item in items:
        yield item


async def collect(frames: AsyncIterator[str]) -> list[str]:
    return [frame async for frame in frames]


def sse(items: list[Any], **options: Any) -> list[str]:
    return asyncio.run(collect(streaming_response(from_list(items), **options)), debug=True)


class LoopProblems:
    """Records what the event loop reports (e.g. "Task was destroyed but it is pending!")."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(self._handle)

    def _handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.reports.append(context)

    def assert_none(self) -> None:
        gc.collect()
        assert self.reports == []


def assert_no_other_tasks() -> None:
    assert asyncio.all_tasks() == {asyncio.current_task()}


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Labelled:
    label: str
    point: Point
    tags: tuple[str, ...] = ()


class Level(enum.IntEnum):
    HIGH = 3


class Opaque:
    pass


# -- payloads ------------------------------------------------------------------------------------


def test_status_message_encodes_all_its_fields() -> None:
    item = StatusMessage("Calling tool search...", "c2", "c1", "tool_start")
    assert encode_item(item) == {
        "type": "status",
        "message": "Calling tool search...",
        "call_id": "c2",
        "parent_call_id": "c1",
        "event": "tool_start",
    }


def test_token_chunk_encodes_all_its_fields() -> None:
    item = StreamResponse("qa", "answer", "4", False, "c3", "c2")
    assert encode_item(item) == {
        "type": "token",
        "predict_name": "qa",
        "signature_field_name": "answer",
        "chunk": "4",
        "is_last_chunk": False,
        "call_id": "c3",
        "parent_call_id": "c2",
    }


def test_prediction_encodes_its_fields_as_data() -> None:
    item = Prediction(answer="42", steps=[Point(1, 2)], score=0.5)
    assert encode_item(item) == {
        "type": "prediction",
        "data": {"answer": "42", "steps": [{"x": 1, "y": 2}], "score": 0.5},
    }


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [("42", "42"), (None, None), ([1, (2, 3)], [1, [2, 3]]), (Point(1, 2), {"x": 1, "y": 2})],
)
def test_prediction_wrapping_a_plain_value_carries_it_as_raw(raw: Any, encoded: Any) -> None:
    assert encode_item(Prediction.from_value(raw)) == {
        "type": "prediction",
        "data": {},
        "raw": encoded,
    }


def test_prediction_wrapping_a_mapping_has_its_keys_as_data_and_no_raw() -> None:
    assert encode_item(Prediction.from_value({"answer": "42"})) == {
        "type": "prediction",
        "data": {"answer": "42"},
    }


def test_prediction_leaves_out_a_raw_value_that_cannot_be_encoded() -> None:
    assert encode_item(Prediction.from_value(Opaque())) == {"type": "prediction", "data": {}}
    assert encode_item(Prediction.from_value(Opaque()), default=lambda o: "opaque") == {
        "type": "prediction",
        "data": {},
        "raw": "opaque",
    }


def test_dataclass_item_encodes_as_its_fields() -> None:
    item = Labelled("a", Point(1, 2), ("t",))
    assert encode_item(item) == {
        "type": "item",
        "data": {"label": "a", "point": {"x": 1, "y": 2}, "tags": ["t"]},
    }


def test_dataclass_nested_in_a_mapping_encodes_as_its_fields() -> None:
    assert encode_item({"where": Point(1, 2), "all": [Point(3, 4)]}) == {
        "type": "item",
        "data": {"where": {"x": 1, "y": 2}, "all": [{"x": 3, "y": 4}]},
    }


def test_prediction_and_messages_nested_in_an_item_encode_as_their_fields() -> None:
    data = encode_item([Prediction(a=1), StatusMessage("m")])["data"]
    assert data == [
        {"a": 1},
        {"message": "m", "call_id": "", "parent_call_id": None, "event": None},
    ]


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ({"a": 1, "b": [True, None]}, {"a": 1, "b": [True, None]}),
        (MappingProxyType({"a": 1}), {"a": 1}),
        ([1, "two", 3.5], [1, "two", 3.5]),
        ((1, (2,)), [1, [2]]),
        ("text", "text"),
        (7, 7),
        (2.5, 2.5),
        (True, True),
        (False, False),
        (None, None),
    ],
)
def test_plain_values_encode_as_item_data(value: Any, encoded: Any) -> None:
    payload = encode_item(value)
    assert payload == {"type": "item", "data": encoded}
    assert json.loads(json.dumps(payload)) == payload


def test_str_int_and_float_subclasses_encode_as_plain_values() -> None:
    class Name(str):
        def __str__(self) -> str:
            return "overridden"

    data = encode_item([Level.HIGH, Name("ann"), type("F", (float,), {})(1.5)])["data"]
    assert data == [3, "ann", 1.5]
    assert [type(value) for value in data] == [int, str, float]


def test_non_finite_floats_encode_as_null() -> None:
    inf = float("inf")
    assert encode_item([float("nan"), inf, -inf])["data"] == [None, None, None]


def test_mapping_keys_are_converted_as_json_dumps_converts_them() -> None:
    value = {2: "a", 2.5: "b", True: "c", None: "d", Level.HIGH: "e"}
    data = encode_item(value)["data"]
    assert data == json.loads(json.dumps({2: "a", 2.5: "b", True: "c", None: "d", 3: "e"}))


def test_a_mapping_key_that_json_cannot_hold_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"mapping key of type tuple .*convert the keys to str"):
        encode_item({(1, 2): "a"})


def test_an_item_that_contains_itself_is_refused() -> None:
    loop: list[Any] = [1]
    loop.append({"again": loop})
    with pytest.raises(ValueError, match="circular reference"):
        encode_item(loop)


def test_shared_values_that_are_not_cycles_are_encoded_twice() -> None:
    shared = [1]
    assert encode_item([shared, {"a": shared}])["data"] == [[1], {"a": [1]}]


def test_unencodable_item_is_refused_with_its_type_and_the_fix() -> None:
    with pytest.raises(TypeError, match=r"cannot encode item of type .*Opaque.*pass default="):
        encode_item(Opaque())
    with pytest.raises(TypeError, match=r"value of type .*Opaque \(in an item of type dict\)"):
        encode_item({"x": Opaque()})
    with pytest.raises(TypeError, match=r"value of type set"):
        encode_item([{1}])


def test_default_hook_encodes_unknown_types_wherever_they_are() -> None:
    def default(value: Any) -> Any:
        if isinstance(value, Opaque):
            return {"opaque": Point(0, 0)}  # the hook's result is encoded in turn
        if isinstance(value, set):
            return sorted(value)
        raise TypeError(f"unknown {value!r}")

    payload = encode_item({"o": Opaque(), "s": {2, 1}}, default=default)
    assert payload == {"type": "item", "data": {"o": {"opaque": {"x": 0, "y": 0}}, "s": [1, 2]}}
    assert encode_item(Opaque(), default=default)["data"] == {"opaque": {"x": 0, "y": 0}}


def test_default_hook_that_returns_its_argument_is_refused() -> None:
    with pytest.raises(TypeError, match="Opaque"):
        encode_item(Opaque(), default=lambda value: value)


def test_encode_item_refuses_a_default_that_is_not_callable() -> None:
    with pytest.raises(TypeError, match="default must be a callable"):
        encode_item(1, default="str")  # type: ignore[arg-type]


# -- framing: hostile content round-trips without forged events ----------------------------------

HOSTILE_PIECES = [
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "data:",
    "data: [DONE]",
    "[DONE]",
    "event:",
    "event: error",
    "id:",
    "id: 99",
    ":",
    ": keepalive",
    "retry: 1",
    " ",
    "\x00",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ud800",  # lone (high) surrogates; low ones could pair up with them into one character
    "\udbff",
    '"',
    "\\",
    "\\u2028",
    "é",
    "日本",
    "😀",
]

hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_PIECES), st.characters()), max_size=12
).map("".join)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | hostile_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3)
    ),
    max_leaves=8,
)
optional_text = st.none() | hostile_text
status_messages = st.builds(
    StatusMessage,
    message=hostile_text,
    call_id=hostile_text,
    parent_call_id=optional_text,
    event=st.none() | st.sampled_from(["module_start", "tool_end", "lm_start"]),
)
token_chunks = st.builds(
    StreamResponse,
    predict_name=hostile_text,
    signature_field_name=hostile_text,
    chunk=hostile_text,
    is_last_chunk=st.booleans(),
    call_id=hostile_text,
    parent_call_id=optional_text,
)
predictions = st.dictionaries(hostile_text, json_values, max_size=4).map(
    lambda fields: Prediction(**fields)
)
streams = st.tuples(
    st.lists(status_messages | token_chunks | json_values, max_size=8), predictions
).map(lambda parts: [*parts[0], parts[1]])

hypothesis_settings = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def assert_frame_is_one_line_per_field(frame: str) -> None:
    """No line break in a frame but the ones that end its lines, by any splitting rule."""
    assert frame.endswith("\n\n")
    lines = frame[:-1].split("\n")[:-1]
    assert lines
    for line in lines:
        assert line.splitlines() == [line]  # no \r, \x0b, \x85, U+2028, ... inside a line
    frame.encode("utf-8")  # always valid UTF-8, lone surrogates included


@hypothesis_settings
@given(items=streams, event_names=st.booleans(), ids=st.booleans())
def test_sse_round_trips_hostile_content_without_forged_events(
    items: list[Any], event_names: bool, ids: bool
) -> None:
    frames = sse(items, event_names=event_names, ids=ids)
    for frame in frames:
        assert_frame_is_one_line_per_field(frame)
        assert len(parse_sse(frame).events) == 1  # every frame is exactly one event

    events = parse_sse("".join(frames)).events
    assert len(events) == len(items) + 1
    *item_events, done = events
    assert done.data == "[DONE]"
    assert done.type == "message"
    assert [json.loads(event.data) for event in item_events] == [
        expected_payload(item) for item in items
    ]
    if event_names:
        assert [e.type for e in item_events] == [expected_payload(i)["type"] for i in items]
    else:
        assert {e.type for e in events} == {"message"}
    if ids:
        assert [e.last_event_id for e in events] == [str(n) for n in range(1, len(events) + 1)]
    else:
        assert {e.last_event_id for e in events} == {""}
    # the sync encoder writes exactly the same frames
    assert list(streaming_response_sync(items, event_names=event_names, ids=ids)) == frames


@hypothesis_settings
@given(items=streams)
def test_ndjson_round_trips_hostile_content_one_object_per_line(items: list[Any]) -> None:
    lines = asyncio.run(collect(ndjson_response(from_list(items))), debug=True)
    body = "".join(lines)
    assert all(line.endswith("\n") for line in lines)
    decoded = [json.loads(line) for line in body.splitlines()]  # the most eager line splitter
    assert decoded == [*(expected_payload(item) for item in items), {"type": "done"}]
    body.encode("utf-8")
    assert list(ndjson_response_sync(items)) == lines


@hypothesis_settings
@given(item=status_messages | token_chunks)
def test_messages_written_directly_match_the_general_encoder(item: Any) -> None:
    (frame,) = streaming_response_sync([item], include_done=False)
    assert frame == f"data: {_to_json(encode_item(item))}\n\n"


def test_messages_with_fields_of_the_wrong_type_use_the_general_encoder() -> None:
    odd_status = StatusMessage(123)  # type: ignore[arg-type]
    odd_token = StreamResponse("p", "f", None, 1)  # type: ignore[arg-type]
    frames = list(streaming_response_sync([odd_status, odd_token], include_done=False))
    assert [json.loads(frame[len("data: ") :]) for frame in frames] == [
        {"type": "status", "message": 123, "call_id": "", "parent_call_id": None, "event": None},
        {
            "type": "token",
            "predict_name": "p",
            "signature_field_name": "f",
            "chunk": None,
            "is_last_chunk": 1,
            "call_id": "",
            "parent_call_id": None,
        },
    ]


def test_non_ascii_text_stays_readable_in_the_frame() -> None:
    frames = sse([StatusMessage("café 日本 😀")])
    assert "café 日本 😀" in frames[0]


def test_frames_use_openai_framing_by_default() -> None:
    frames = sse([StreamResponse("qa", "answer", "4", True), Prediction(answer="4")])
    assert frames == [
        'data: {"type":"token","predict_name":"qa","signature_field_name":"answer","chunk":"4",'
        '"is_last_chunk":true,"call_id":"","parent_call_id":null}\n\n',
        'data: {"type":"prediction","data":{"answer":"4"}}\n\n',
        "data: [DONE]\n\n",
    ]


def test_event_names_and_ids_label_every_data_frame() -> None:
    items = [StatusMessage("s"), StreamResponse("p", "f", "c", True), {"k": 1}, Prediction()]
    frames = sse(items, event_names=True, ids=True)
    heads = [frame.split("data: ")[0] for frame in frames]
    assert heads == [
        "event: status\nid: 1\n",
        "event: token\nid: 2\n",
        "event: item\nid: 3\n",
        "event: prediction\nid: 4\n",
        "id: 5\n",  # [DONE] has no event line
    ]
    assert frames[-1] == "id: 5\ndata: [DONE]\n\n"


def test_event_names_alone_and_ids_alone() -> None:
    assert sse(["x"], event_names=True) == [
        'event: item\ndata: {"type":"item","data":"x"}\n\n',
        "data: [DONE]\n\n",
    ]
    assert sse(["x"], ids=True) == [
        'id: 1\ndata: {"type":"item","data":"x"}\n\n',
        "id: 2\ndata: [DONE]\n\n",
    ]


def test_done_marker_can_be_left_out() -> None:
    assert sse(["x"], include_done=False) == ['data: {"type":"item","data":"x"}\n\n']
    assert list(ndjson_response_sync(["x"], include_done=False)) == ['{"type":"item","data":"x"}\n']


# -- unencodable items ---------------------------------------------------------------------------


async def test_unencodable_item_raises_type_error_after_the_frames_before_it() -> None:
    closed = []

    async def stream() -> AsyncGenerator[Any, None]:
        try:
            yield StatusMessage("before")
            yield Opaque()
            yield "never reached"
        finally:
            closed.append(True)

    all_options: list[dict[str, Any]] = [{}, {"keepalive": 10.0}]
    for options in all_options:
        closed.clear()
        frames = streaming_response(stream(), **options)
        assert "before" in await frames.__anext__()
        with pytest.raises(TypeError, match=r"item of type .*Opaque.*streaming_response\(\)"):
            await frames.__anext__()
        assert closed == [True]
        assert_no_other_tasks()


async def test_unencodable_item_in_ndjson_names_ndjson_response() -> None:
    lines = ndjson_response(from_list([1, Opaque()]))
    assert await lines.__anext__() == '{"type":"item","data":1}\n'
    with pytest.raises(TypeError, match=r"Opaque.*ndjson_response\(\)"):
        await lines.__anext__()


def test_unencodable_item_in_a_sync_stream_raises_after_the_frames_before_it() -> None:
    closed = []

    def stream() -> Iterator[Any]:
        try:
            yield 1
            yield Opaque()
        finally:
            closed.append(True)

    frames = streaming_response_sync(stream())
    assert next(frames) == 'data: {"type":"item","data":1}\n\n'
    with pytest.raises(TypeError, match=r"Opaque.*streaming_response_sync\(\)"):
        next(frames)
    assert closed == [True]


def test_default_hook_is_used_by_the_responses() -> None:
    frames = sse([Opaque()], default=lambda value: type(value).__name__)
    assert frames[0] == 'data: {"type":"item","data":"Opaque"}\n\n'
    lines = list(ndjson_response_sync([Opaque()], default=lambda value: ["o"]))
    assert lines[0] == '{"type":"item","data":["o"]}\n'


# -- program errors ------------------------------------------------------------------------------


class ProgramFailed(Exception):
    pass


def failing_stream(closed: list[str]) -> AsyncGenerator[Any, None]:
    async def stream() -> AsyncGenerator[Any, None]:
        try:
            yield StatusMessage("working")
            raise ProgramFailed("boom\n\ndata: [DONE]\n\n")
        finally:
            closed.append("closed")

    return stream()


@pytest.mark.parametrize("keepalive", [None, 10.0])
async def test_program_error_sends_an_error_frame_and_ends_without_done(
    keepalive: Optional[float], caplog: pytest.LogCaptureFixture
) -> None:
    closed: list[str] = []
    with caplog.at_level(logging.ERROR, logger="streamify"):
        frames = await collect(
            streaming_response(failing_stream(closed), keepalive=keepalive, event_names=True)
        )
    events = parse_sse("".join(frames)).events
    assert [event.type for event in events] == ["status", "error"]
    assert json.loads(events[1].data) == {
        "type": "error",
        "error": "ProgramFailed",
        "message": "boom\n\ndata: [DONE]\n\n",
    }
    assert closed == ["closed"]
    (record,) = caplog.records
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ProgramFailed)
    assert_no_other_tasks()


def test_program_error_in_a_sync_stream_sends_an_error_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def stream() -> Iterator[Any]:
        yield 1
        raise ProgramFailed("bad")

    with caplog.at_level(logging.ERROR, logger="streamify"):
        frames = list(streaming_response_sync(stream()))
        lines = list(ndjson_response_sync(stream()))
    error = {"type": "error", "error": "ProgramFailed", "message": "bad"}
    assert [json.loads(event.data) for event in parse_sse("".join(frames)).events] == [
        {"type": "item", "data": 1},
        error,
    ]
    assert [json.loads(line) for line in lines] == [{"type": "item", "data": 1}, error]
    assert len(caplog.records) == 2


async def test_program_error_in_ndjson_is_an_error_line_without_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed: list[str] = []
    with caplog.at_level(logging.ERROR, logger="streamify"):
        lines = await collect(ndjson_response(failing_stream(closed)))
    assert [json.loads(line)["type"] for line in lines] == ["status", "error"]
    assert closed == ["closed"]


async def test_error_with_an_unprintable_message_still_sends_an_error_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    async def stream() -> AsyncGenerator[Any, None]:
        yield 1
        raise Unprintable

    with caplog.at_level(logging.CRITICAL + 1, logger="streamify"):
        frames = await collect(streaming_response(stream()))
    assert json.loads(parse_sse(frames[-1]).events[0].data) == {
        "type": "error",
        "error": "Unprintable",
        "message": "<unprintable Unprintable>",
    }


class Halt(BaseException):
    pass


@pytest.mark.parametrize("keepalive", [None, 10.0])
async def test_base_exceptions_of_the_program_propagate(keepalive: Optional[float]) -> None:
    for error in (Halt(), asyncio.CancelledError()):

        async def stream(error: BaseException = error) -> AsyncGenerator[Any, None]:
            yield 1
            raise error

        frames = streaming_response(stream(), keepalive=keepalive)
        await frames.__anext__()
        with pytest.raises(type(error)) as caught:
            await frames.__anext__()
        assert caught.value is error
        assert_no_other_tasks()


# -- keepalive -----------------------------------------------------------------------------------


async def test_keepalive_comments_fill_idle_time_without_cancelling_the_stream() -> None:
    problems = LoopProblems()
    resume = asyncio.Event()
    log: list[str] = []

    async def stream() -> AsyncGenerator[Any, None]:
        try:
            yield StatusMessage("started")
            await resume.wait()
            yield StreamResponse("qa", "answer", "42", True)
            yield Prediction(answer="42")
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        finally:
            log.append("finally")

    frames = streaming_response(stream(), keepalive=0.01)
    assert '"started"' in await frames.__anext__()
    assert await frames.__anext__() == ": keepalive\n\n"
    assert await frames.__anext__() == ": keepalive\n\n"
    resume.set()
    rest = await collect(frames)
    data_frames = [frame for frame in rest if not frame.startswith(":")]
    parsed = parse_sse("".join(data_frames)).events
    assert [json.loads(e.data)["type"] for e in parsed[:-1]] == ["token", "prediction"]
    assert parsed[-1].data == "[DONE]"
    assert log == ["finally"]  # never cancelled: every item arrived
    assert parse_sse(": keepalive\n\n") == ParsedSSE([], [" keepalive"])  # a comment, no event
    assert_no_other_tasks()
    problems.assert_none()


async def test_keepalive_is_not_sent_while_items_keep_coming() -> None:
    frames = await collect(streaming_response(from_list(list(range(50))), keepalive=60.0))
    assert not any(frame.startswith(":") for frame in frames)
    assert len(frames) == 51


async def test_keepalive_runs_every_step_of_the_stream_in_one_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outer")
    resume = asyncio.Event()

    async def stream() -> AsyncGenerator[Any, None]:
        token = var.set("inner")
        try:
            yield var.get()
            await resume.wait()
            yield var.get()
        finally:
            var.reset(token)  # raises ValueError if run in another context

    frames = streaming_response(stream(), keepalive=0.01)
    assert await frames.__anext__() == 'data: {"type":"item","data":"inner"}\n\n'
    assert await frames.__anext__() == ": keepalive\n\n"
    resume.set()
    rest = [frame for frame in await collect(frames) if not frame.startswith(":")]
    assert rest == ['data: {"type":"item","data":"inner"}\n\n', "data: [DONE]\n\n"]
    assert var.get() == "outer"


# -- stopping ------------------------------------------------------------------------------------


def blocking_stream(log: list[str], waiting: asyncio.Event) -> AsyncGenerator[Any, None]:
    async def stream() -> AsyncGenerator[Any, None]:
        try:
            yield StatusMessage("first")
            waiting.set()
            await asyncio.Event().wait()  # the program runs forever
            yield "never"
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        except GeneratorExit:
            log.append("closed")
            raise
        finally:
            log.append("finally")

    return stream()


@pytest.mark.parametrize("keepalive", [None, 0.01, 10.0])
async def test_aclose_between_frames_closes_the_stream(keepalive: Optional[float]) -> None:
    problems = LoopProblems()
    log: list[str] = []
    frames = streaming_response(blocking_stream(log, asyncio.Event()), keepalive=keepalive)
    await frames.__anext__()
    await frames.aclose()
    assert log == ["closed", "finally"]
    assert_no_other_tasks()
    problems.assert_none()


async def test_aclose_during_keepalive_cancels_the_pending_step_and_closes_the_stream() -> None:
    problems = LoopProblems()
    log: list[str] = []
    waiting = asyncio.Event()
    frames = streaming_response(blocking_stream(log, waiting), keepalive=0.01)
    await frames.__anext__()
    assert await frames.__anext__() == ": keepalive\n\n"
    assert waiting.is_set()
    await frames.aclose()
    assert log == ["cancelled", "finally"]
    assert_no_other_tasks()
    problems.assert_none()


@pytest.mark.parametrize(
    ("encoder", "options"),
    [(streaming_response, {}), (streaming_response, {"keepalive": 10.0}), (ndjson_response, {})],
)
async def test_cancelled_consumer_cancels_the_program_and_leaves_no_task(
    encoder: Callable[..., AsyncGenerator[str, None]], options: dict[str, Any]
) -> None:
    problems = LoopProblems()
    log: list[str] = []
    waiting = asyncio.Event()
    frames = encoder(blocking_stream(log, waiting), **options)
    received: list[str] = []

    async def consume() -> None:
        async for frame in frames:
            received.append(frame)

    consumer = asyncio.create_task(consume())
    await waiting.wait()  # the program is now blocked inside the stream's __anext__
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert len(received) == 1
    assert log == ["cancelled", "finally"]
    await frames.aclose()  # already finished: nothing left to do
    assert_no_other_tasks()
    problems.assert_none()


async def test_abandoned_response_is_finalized_without_loop_errors() -> None:
    problems = LoopProblems()
    log: list[str] = []
    waiting = asyncio.Event()
    frames = streaming_response(blocking_stream(log, waiting), keepalive=10.0)
    await frames.__anext__()
    del frames  # the event loop's asyncgen finalizer schedules aclose() in a task
    gc.collect()
    for _ in range(50):  # no event to wait on: the finalizer task is the loop's own
        if asyncio.all_tasks() == {asyncio.current_task()}:
            break
        await asyncio.sleep(0)
    assert log == ["closed", "finally"]
    assert_no_other_tasks()
    problems.assert_none()


async def test_pump_stopped_before_its_first_step_still_closes_the_stream() -> None:
    closed: list[bool] = []

    class Source:
        def __aiter__(self) -> Source:
            return self

        async def __anext__(self) -> int:
            raise AssertionError("never stepped")

        async def aclose(self) -> None:
            closed.append(True)

    pump = _Pump(Source())
    await pump.stop()  # the helper task never ran, so its own finally could not close it
    assert closed == [True]
    assert_no_other_tasks()


async def test_iterators_without_aclose_are_served() -> None:
    class Countdown:
        def __init__(self) -> None:
            self.left = 2

        def __aiter__(self) -> Countdown:
            return self

        async def __anext__(self) -> int:
            if not self.left:
                raise StopAsyncIteration
            self.left -= 1
            return self.left

    for keepalive in (None, 10.0):
        frames = await collect(streaming_response(Countdown(), keepalive=keepalive))
        assert frames[-1] == "data: [DONE]\n\n"
        assert len(frames) == 3


def test_break_in_a_sync_consumer_closes_the_sync_stream() -> None:
    log: list[str] = []

    def stream() -> Iterator[Any]:
        try:
            yield 1
            yield 2
        finally:
            log.append("finally")

    frames = streaming_response_sync(stream())
    next(frames)
    frames.close()
    assert log == ["finally"]


# -- arguments -----------------------------------------------------------------------------------


def test_bad_arguments_are_refused_before_anything_is_iterated() -> None:
    started: list[bool] = []

    async def agen() -> AsyncGenerator[int, None]:
        started.append(True)
        yield 1

    stream = agen()
    with pytest.raises(TypeError, match=r"needs an async iterable.*streaming_response_sync"):
        streaming_response([1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="did you pass the function"):
        streaming_response(agen)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ndjson_response_sync"):
        ndjson_response([1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"needs an iterable.*use streaming_response\(\)"):
        streaming_response_sync(stream)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"use ndjson_response\(\)"):
        ndjson_response_sync(stream)  # type: ignore[arg-type]
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="keepalive must be a positive number"):
            streaming_response(stream, keepalive=bad)
    for wrong in (True, "1"):
        with pytest.raises(TypeError, match="keepalive must be a number"):
            streaming_response(stream, keepalive=wrong)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="default must be a callable"):
        streaming_response(stream, default=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="event_names must be True or False"):
        streaming_response(stream, event_names=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="include_done must be True or False"):
        ndjson_response_sync([], include_done=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"encode_item\(\)"):
        encode_item(Opaque())
    assert started == []
