"""Server-Sent Events and NDJSON encoding: payloads, framing safety, endings and stopping."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import enum
import gc
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamify import emit, streamify
from streamify._encoding import _to_json, encode_item
from streamify._messages import Prediction, StatusMessage, StreamResponse
from streamify._responses import (
    _TaskSteps,
    ndjson_response,
    ndjson_response_sync,
    streaming_response,
    streaming_response_sync,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Iterator

ROOT = Path(__file__).resolve().parent.parent

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


def as_sent(value: Any) -> Any:
    """A JSON-able value as the encoder documents sending it: every surrogate code point in a
    string or key becomes U+FFFD; a mapping whose keys then coincide cannot be sent."""
    if isinstance(value, str):
        return "".join("\ufffd" if 0xD800 <= ord(char) <= 0xDFFF else char for char in value)
    if isinstance(value, list):
        return [as_sent(element) for element in value]
    if isinstance(value, dict):
        sent: dict[str, Any] = {}
        for key, element in value.items():
            name = as_sent(key)
            if name in sent:
                raise KeysCollide(name)
            sent[name] = as_sent(element)
        return sent
    return value


class KeysCollide(Exception):
    pass


def expected_payload(item: Any) -> dict[str, Any]:
    """The payload of an item, written out independently of the encoder."""
    return cast("dict[str, Any]", as_sent(_fields_of(item)))


def expected_stream(items: list[Any]) -> tuple[list[dict[str, Any]], bool]:
    """The payloads of a response over ``items``, and whether it ends with the done marker:
    an item that cannot be sent ends it with an error object (only its type is modelled)."""
    payloads = []
    for item in items:
        try:
            payloads.append(expected_payload(item))
        except KeysCollide:
            payloads.append({"type": "error", "error": {"type": "ValueError"}})
            return payloads, False
    return payloads, True


def without_error_message(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The payloads with an error object's message checked and left out (see expected_stream)."""
    if payloads and payloads[-1]["type"] == "error":
        error = payloads[-1]
        message = error.pop("message")
        assert "both become the JSON key" in message
        assert error["error"].pop("message") == message
    return payloads


def _fields_of(item: Any) -> dict[str, Any]:
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


def digit_limit() -> int:
    """The interpreter's limit on the digits of an int converted to text (as ``json`` does)."""
    limit: int = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    if not limit:
        pytest.skip("this interpreter converts ints of any length to text")
    return limit


class Hooked:
    """Handled by the ``default`` hook below, which fails on it."""


def failing_hook(value: Any) -> Any:
    if isinstance(value, Hooked):
        raise KeyError("the hook failed")
    return value  # anything else: no help (refused)


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


def test_an_int_json_cannot_write_is_refused_and_the_largest_it_can_is_accepted() -> None:
    limit = digit_limit()
    largest = 10**limit - 1  # ``limit`` digits: the most Python converts to text
    for number in (largest, -largest):
        assert encode_item(number)["data"] == number
        assert json.loads(json.dumps(encode_item({number: [number]}))) == {
            "type": "item",
            "data": {str(number): [number]},
        }
    for number in (largest + 1, -(largest + 1), 10 ** (2 * limit)):
        with pytest.raises(ValueError, match=rf"int with more than {limit} digits.*send such"):
            encode_item([number])
        with pytest.raises(ValueError, match=rf"mapping key with more than {limit} digits"):
            encode_item({number: 1})
    with pytest.raises(ValueError, match="more than"):
        encode_item(type("Big", (int,), {})(largest + 1))  # an int subclass too


def test_mapping_keys_that_become_one_json_key_are_refused_naming_both() -> None:
    with pytest.raises(ValueError, match=r"its keys 1 and '1' both become the JSON key '1'"):
        encode_item({1: "a", "1": "b"})
    with pytest.raises(ValueError, match=r"keys True and 'true' both become the JSON key 'true'"):
        encode_item([{True: 1, "true": 2}])
    with pytest.raises(ValueError, match=r"both become the JSON key '\ufffd'"):
        encode_item({chr(0xD800): 1, chr(0xDC00): 2})  # surrogates become U+FFFD
    assert encode_item({True: 1, "True": 2})["data"] == {"true": 1, "True": 2}


def test_a_value_nested_too_deeply_is_refused_as_a_value_error() -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deeply"):
        encode_item(deep)


def test_surrogates_become_replacement_characters_in_every_string_and_key() -> None:
    text = "a\ud800\udc00b\udfff"  # five code points in Python, not an astral character
    sent = "a\ufffd\ufffdb\ufffd"
    data = encode_item({text: [text, Level.HIGH], "status": StatusMessage(text, text)})["data"]
    assert data == {
        sent: [sent, 3],
        "status": {"message": sent, "call_id": sent, "parent_call_id": None, "event": None},
    }
    assert encode_item(StreamResponse(text, text, text, True, text, text)) == {
        "type": "token",
        "predict_name": sent,
        "signature_field_name": sent,
        "chunk": sent,
        "is_last_chunk": True,
        "call_id": sent,
        "parent_call_id": sent,
    }
    assert json.loads(json.dumps(data)) == data  # json.dumps's own escapes now mean the same


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
    "\ud800",  # surrogates: sent as U+FFFD each, so that a high one followed by a low one
    "\udbff",  # (two code points in Python) cannot arrive as one astral character
    "\udc00",
    "\udfff",
    "\ud800\udc00",
    "\udbff\udfff",
    "\ufffd",
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
    expected, complete = expected_stream(items)
    assert len(events) == len(expected) + complete
    item_events = events[: len(expected)]
    if complete:
        done = events[-1]
        assert done.data == "[DONE]"
        assert done.type == "message"
    decoded = [json.loads(event.data) for event in item_events]
    assert without_error_message(decoded) == expected
    if event_names:
        assert [e.type for e in item_events] == [payload["type"] for payload in expected]
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
    expected, complete = expected_stream(items)
    assert without_error_message(decoded) == expected + [{"type": "done"}] * complete
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


def test_a_lone_high_surrogate_then_a_lone_low_one_arrive_as_two_characters_not_one() -> None:
    text = "<\ud800\udc00>"  # two code points in Python; escaped one by one, a JSON parser
    sent = "<\ufffd\ufffd>"  # would join them into the single character U+10000
    items = [StatusMessage(text), StreamResponse("p", text, text, True), {text: text}]
    for frames in (sse(items), list(ndjson_response_sync(items))):
        for frame in frames:
            frame.encode("utf-8")
        status, token, item = (payload_of(frame) for frame in frames[:-1])
        assert status["message"] == sent
        assert token["signature_field_name"] == token["chunk"] == sent
        assert item["data"] == {sent: sent}


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


# -- items a response cannot encode --------------------------------------------------------------


def circular() -> list[Any]:
    loop: list[Any] = [1]
    loop.append({"again": loop})
    return loop


# what is wrong with the item -> (the item, the "error" of the error frame, part of its message)
UNENCODABLE: dict[str, tuple[Callable[[], Any], str, str]] = {
    "a type nothing converts": (Opaque, "TypeError", "item of type tests.test_encoding.Opaque"),
    "an int json cannot write": (
        lambda: {"n": [10 ** digit_limit()]},
        "ValueError",
        "int with more than",
    ),
    "a key json cannot write": (lambda: {10 ** digit_limit(): 1}, "ValueError", "mapping key"),
    "a circular reference": (circular, "ValueError", "circular reference"),
    "keys that become one": (
        lambda: {1: "a", "1": "b"},
        "ValueError",
        "its keys 1 and '1' both become the JSON key '1'",
    ),
    "a default hook that raises": (Hooked, "KeyError", "KeyError: 'the hook failed'"),
}


def payload_of(frame: str) -> dict[str, Any]:
    """The JSON object of one SSE frame or NDJSON line."""
    if frame.startswith("data: "):
        (event,) = parse_sse(frame).events
        return cast("dict[str, Any]", json.loads(event.data))
    return cast("dict[str, Any]", json.loads(frame))


@pytest.mark.parametrize("case", sorted(UNENCODABLE))
@pytest.mark.parametrize(
    ("encoder", "options"),
    [(streaming_response, {}), (streaming_response, {"keepalive": 10.0}), (ndjson_response, {})],
)
async def test_an_item_that_cannot_be_encoded_closes_the_stream_then_ends_with_an_error_frame(
    encoder: Callable[..., AsyncGenerator[str, None]],
    options: dict[str, Any],
    case: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_item, error_name, message_part = UNENCODABLE[case]
    log: list[str] = []

    async def stream() -> AsyncGenerator[Any, None]:
        try:
            yield StatusMessage("before")
            yield make_item()
            yield "never reached"
        finally:
            log.append("stream closed")

    received: list[tuple[dict[str, Any], list[str]]] = []
    with caplog.at_level(logging.ERROR, logger="streamify"):
        async for frame in encoder(stream(), default=failing_hook, **options):
            received.append((payload_of(frame), list(log)))
    (before, _), (error, log_at_error) = received  # no done marker
    assert before["type"] == "status"
    assert error["type"] == "error"
    assert error["error"] == {"type": error_name, "message": error["message"]}
    assert error["message"].startswith("cannot encode ")
    assert "item of type " in error["message"]
    assert message_part in error["message"]
    assert log_at_error == ["stream closed"]  # the program stops before the error is written
    assert log == ["stream closed"]
    (record,) = caplog.records
    assert "could not encode an item" in record.getMessage()
    assert record.exc_info is not None and type(record.exc_info[1]).__name__ == error_name
    assert_no_other_tasks()


@pytest.mark.parametrize("case", sorted(UNENCODABLE))
@pytest.mark.parametrize("encoder", [streaming_response_sync, ndjson_response_sync])
def test_an_item_a_sync_response_cannot_encode_closes_the_stream_then_ends_with_an_error(
    encoder: Callable[..., Iterator[str]], case: str, caplog: pytest.LogCaptureFixture
) -> None:
    make_item, error_name, message_part = UNENCODABLE[case]
    log: list[str] = []

    def stream() -> Iterator[Any]:
        try:
            yield 1
            yield make_item()
            yield "never reached"
        finally:
            log.append("stream closed")

    received = []
    with caplog.at_level(logging.ERROR, logger="streamify"):
        for frame in encoder(stream(), default=failing_hook):
            received.append((payload_of(frame), list(log)))
    assert [(payload["type"], seen) for payload, seen in received] == [
        ("item", []),
        ("error", ["stream closed"]),
    ]
    assert received[1][0]["error"]["type"] == error_name
    assert message_part in received[1][0]["message"]
    assert len(caplog.records) == 1


async def test_a_program_emitting_or_returning_a_huge_int_gets_a_well_formed_ending(
    caplog: pytest.LogCaptureFixture,
) -> None:
    huge: int = 10 ** digit_limit()
    stopped: list[str] = []

    async def emits_it() -> str:
        try:
            await emit(huge)
            await emit("never sent")
            return "never returned"
        except asyncio.CancelledError:
            stopped.append("cancelled")
            raise

    async def returns_it() -> int:
        await emit("before")
        return huge

    async def returns_it_as_a_field() -> dict[str, int]:
        return {"n": huge}

    with caplog.at_level(logging.ERROR, logger="streamify"):
        emitted = await collect(streaming_response(streamify(emits_it, buffer_size=1)()))
        returned = await collect(streaming_response(streamify(returns_it)()))
        as_field = await collect(ndjson_response(streamify(returns_it_as_a_field)()))

    assert [payload_of(frame)["type"] for frame in emitted] == ["error"]
    assert stopped == ["cancelled"]  # the program was stopped, not left blocked on emit()
    # "raw" is only sent when it can be encoded: the prediction arrives without it
    assert returned[1:] == ['data: {"type":"prediction","data":{}}\n\n', "data: [DONE]\n\n"]
    assert [payload_of(frame)["type"] for frame in as_field] == ["error"]
    assert len(caplog.records) == 2


class HugeInt(int):
    """An int that hypothesis can print: its repr names it instead of writing its digits."""

    def __repr__(self) -> str:
        return f"HugeInt(<{self.bit_length()} bits>)"


huge_ints = st.one_of(  # around the default limit of 4300 digits, and around 2**1920
    st.tuples(
        st.sampled_from([4300, 5000]), st.sampled_from([-1, 0]), st.sampled_from([-1, 1])
    ).map(lambda spec: HugeInt(spec[2] * (10 ** spec[0] + spec[1]))),
    st.sampled_from([1920, 1921, 1922]).map(lambda bits: HugeInt(2**bits - 1)),
)
wild_keys = st.one_of(
    hostile_text,
    st.integers(),
    huge_ints,
    st.floats(),
    st.booleans(),
    st.none(),
    st.tuples(st.integers()),
    st.builds(Opaque),
)
wild_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        huge_ints,
        st.floats(),
        hostile_text,
        st.builds(Opaque),
        st.builds(Hooked),
        st.sets(st.integers(), max_size=2),
        st.sampled_from([Level.HIGH]),
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.dictionaries(wild_keys, children, max_size=3)
        | st.builds(Point, children, children)
    ),
    max_leaves=10,
)
hooks = st.sampled_from([None, failing_hook, lambda value: f"<{type(value).__name__}>"])


def assert_nothing_dropped(value: Any, sent: Any) -> None:
    """Every entry of every container in ``value`` has its own entry in ``sent``."""
    if isinstance(value, dict):
        assert isinstance(sent, dict) and len(sent) == len(value)
        for element, sent_element in zip(value.values(), sent.values()):
            assert_nothing_dropped(element, sent_element)
    elif isinstance(value, (list, tuple)):
        assert isinstance(sent, list) and len(sent) == len(value)
        for element, sent_element in zip(value, sent):
            assert_nothing_dropped(element, sent_element)


@hypothesis_settings
@given(value=wild_values, default=hooks)
def test_encode_item_accepts_only_what_json_dumps_encodes_and_drops_no_entry(
    value: Any, default: Optional[Callable[[Any], Any]]
) -> None:
    try:
        payload = encode_item(value, default=default)
    except (TypeError, ValueError, KeyError):  # refused, or the hook's own KeyError
        return
    text = json.dumps(payload)  # never raises for a payload encode_item returned
    json.dumps(payload, ensure_ascii=False).encode("utf-8")  # valid UTF-8: no surrogates
    assert json.loads(text) == payload
    if default is None:
        assert_nothing_dropped(value, payload["data"])


@hypothesis_settings
@given(value=wild_values, default=hooks, keepalive=st.sampled_from([None, 10.0]))
def test_a_response_over_any_item_ends_well_formed(
    value: Any, default: Optional[Callable[[Any], Any]], keepalive: Optional[float]
) -> None:
    log: list[str] = []

    async def stream() -> AsyncGenerator[Any, None]:
        try:
            yield value
            yield Prediction(after=value)
        finally:
            log.append("closed")

    async def run() -> list[str]:
        return await collect(streaming_response(stream(), default=default, keepalive=keepalive))

    logging.disable(logging.ERROR)  # the encode failures are logged; not the point here
    try:
        frames = asyncio.run(run(), debug=True)
    finally:
        logging.disable(logging.NOTSET)
    body = "".join(frames)
    body.encode("utf-8")
    events = parse_sse(body).events
    assert len(events) == len(frames)
    *payloads, last = events
    if last.data != "[DONE]":
        assert json.loads(last.data)["type"] == "error"
    assert [json.loads(event.data)["type"] for event in payloads] == [
        "item",
        "prediction",
    ][: len(payloads)]
    assert log == ["closed"]


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
        "error": {"type": "ProgramFailed", "message": "boom\n\ndata: [DONE]\n\n"},
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
    error = {
        "type": "error",
        "error": {"type": "ProgramFailed", "message": "bad"},
        "message": "bad",
    }
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
        "error": {"type": "Unprintable", "message": "<unprintable Unprintable>"},
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


WAIT = 20.0  # seconds: the bound on waits that end at once when all is well


async def test_keepalive_response_cancelled_twice_returns_after_the_program_stopped() -> None:
    problems = LoopProblems()
    first_frame = asyncio.Event()
    cleanup_started = asyncio.Event()
    cleanup_may_end = asyncio.Event()
    log: list[str] = []

    async def program() -> None:
        try:
            await emit("working")
            await asyncio.Event().wait()  # runs until it is cancelled
        finally:
            cleanup_started.set()
            await cleanup_may_end.wait()  # a cleanup that takes a while
            log.append("program stopped")

    frames = streaming_response(streamify(program)(), keepalive=10.0)

    async def consume() -> None:
        try:
            async for _ in frames:
                first_frame.set()
        finally:
            log.append("response ended")

    consumer = asyncio.create_task(consume())
    await first_frame.wait()
    consumer.cancel()
    await cleanup_started.wait()  # the response now waits for the program to stop
    consumer.cancel()  # and is cancelled again, as a cancel scope does at every await
    cleanup_may_end.set()  # the consumer sees the second cancellation first (FIFO wake-ups)
    await asyncio.wait({consumer}, timeout=WAIT)
    assert consumer.cancelled()
    assert log == ["program stopped", "response ended"]
    assert_no_other_tasks()
    problems.assert_none()


FATAL_SCRIPT = """
import asyncio, sys
from streamify import emit, streamify, streaming_response

error = {error_type}("stop everything")


async def program():
    await emit("before")
    raise error


async def plain_stream():
    yield "before"
    raise error


async def main(stream):
    frames = streaming_response(stream, keepalive=10.0)
    received = []
    try:
        async for frame in frames:
            received.append(frame)
    except BaseException as caught:  # inside the consumer, not escaping from the event loop
        return caught, received
    return None, received


for make in (lambda: streamify(program)(), plain_stream):
    caught, received = asyncio.run(main(make()), debug=True)
    print("same object" if caught is error else f"got {{caught!r}}", len(received))
"""


@pytest.mark.parametrize("error_type", ["KeyboardInterrupt", "SystemExit"])
def test_keyboard_interrupt_and_system_exit_reach_the_keepalive_consumer_as_the_same_object(
    error_type: str,
) -> None:
    # In a subprocess: raised from a task, these escape from the event loop (and would
    # interrupt this test run).
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", FATAL_SCRIPT.format(error_type=error_type)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "same object 1\n" * 2, "")


@pytest.mark.parametrize(
    "served_as",
    ["response", "response with keepalive", "stream itself"],
)
async def test_a_stream_abandoned_in_a_reference_cycle_stops_its_program_cleanly_once_collected(
    served_as: str, caplog: pytest.LogCaptureFixture
) -> None:
    problems = LoopProblems()
    blocked = asyncio.Event()
    stopped = asyncio.Event()
    how: list[str] = []

    async def program() -> None:
        try:
            await emit(1)
            await emit(2)  # fills the buffer of one
            blocked.set()
            await emit(3)  # blocks until the consumer takes 2: never
        except asyncio.CancelledError:
            how.append("cancelled")
            raise
        except GeneratorExit:  # its task was destroyed while pending
            how.append("destroyed")
            raise
        finally:
            stopped.set()

    stream = streamify(program, buffer_size=1)()
    consumer: AsyncIterator[Any] = stream
    if served_as != "stream itself":
        keepalive = 10.0 if served_as == "response with keepalive" else None
        consumer = streaming_response(stream, keepalive=keepalive)
    await consumer.__anext__()
    await blocked.wait()
    cycle: list[Any] = [consumer]
    cycle.append(cycle)  # as a traceback that refers to the frame iterating the response
    del consumer, cycle, stream
    with caplog.at_level(logging.ERROR):
        gc.collect()
        await asyncio.wait_for(stopped.wait(), WAIT)
        others = asyncio.all_tasks() - {asyncio.current_task()}
        if others:  # the event loop's own tasks that close what was collected
            await asyncio.wait(others, timeout=WAIT)
        gc.collect()
    assert how == ["cancelled"]
    assert [record.getMessage() for record in caplog.records] == []
    assert_no_other_tasks()
    problems.assert_none()


async def test_an_error_closing_the_stream_is_raised_with_or_without_keepalive() -> None:
    class CloseFailed(Exception):
        pass

    async def stream() -> AsyncGenerator[Any, None]:
        try:
            yield 1
        finally:
            raise CloseFailed

    for keepalive in (None, 10.0):
        frames = streaming_response(stream(), keepalive=keepalive)
        await frames.__anext__()
        with pytest.raises(CloseFailed):
            await frames.aclose()
        assert_no_other_tasks()


async def test_task_steps_stopped_before_the_first_step_still_close_the_stream() -> None:
    closed: list[bool] = []

    class Source:
        def __aiter__(self) -> Source:
            return self

        async def __anext__(self) -> int:
            raise AssertionError("never stepped")

        async def aclose(self) -> None:
            closed.append(True)

    steps = _TaskSteps(Source())
    await steps.stop()  # the helper task never ran, so its own finally could not close it
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
