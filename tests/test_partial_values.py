"""``StreamListener(..., partial=True)``: a JSON field's value parsed so far, in the stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamify import PartialResponse, StreamListener, lm, module, streamify

DOCUMENT = {"answer": {"items": [1, "two", {"three": 3.0}], "done": True}, "other": "x"}


def reply_in(cuts: list[int], text: str) -> list[str]:
    points = sorted({0, len(text), *(c for c in cuts if 0 < c < len(text))})
    return [text[a:b] for a, b in zip(points, points[1:])]


def run(chunks: list[str], field: str = "answer", **listener: Any) -> list[Any]:
    @lm
    def reply() -> Iterator[str]:
        yield from chunks

    @module(name="qa", outputs=(field,), field_format="json")
    def qa() -> str:
        return str(reply())

    stream = streamify(
        qa,
        stream_listeners=[StreamListener(field, partial=True, **listener)],
        async_streaming=False,
    )
    return list(stream())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(
    value=st.lists(json_values, max_size=4) | st.dictionaries(st.text(max_size=4), json_values),
    cuts=st.lists(st.integers(0, 400), max_size=12),
)
def test_any_split_yields_a_growing_value_equal_to_json_loads_at_the_end(
    value: Any, cuts: list[int]
) -> None:
    text = json.dumps({"answer": value, "after": 1})
    items = [item for item in run(reply_in(cuts, text)) if isinstance(item, PartialResponse)]
    assert items, "the field streamed nothing"
    last = items[-1]
    assert last.is_last_chunk and last.complete
    assert last.value == json.loads(text)["answer"]
    assert "".join(item.chunk for item in items) == json.dumps(value)
    # One live container for the whole occurrence: the per-chunk cost does not copy it.
    live = [item.value for item in items[:-1] if item.value is not None]
    assert all(v is live[0] for v in live)
    for item in items[:-1]:
        assert not item.complete


def test_copy_keeps_the_value_as_it_was_when_the_chunk_came() -> None:
    text = json.dumps(DOCUMENT)
    items = [
        i
        for i in run(reply_in(list(range(0, len(text), 7)), text))
        if isinstance(i, PartialResponse)
    ]
    copies = [item.copy() for item in items]
    assert copies[-1] == DOCUMENT["answer"]
    assert copies[0] != copies[-1]  # an early chunk's copy saw less
    grown = [json.dumps(c) for c in copies if c is not None]
    assert grown == sorted(grown, key=len)  # never shrinks


def test_a_string_field_gets_its_value_at_its_last_chunk() -> None:
    items = [i for i in run(['{"answer": "hel', 'lo"}']) if isinstance(i, PartialResponse)]
    assert [(i.chunk, i.value, i.complete) for i in items] == [
        ("hel", None, False),
        ("lo", "hello", True),
    ]


def test_malformed_json_still_streams_its_chunks_with_no_value() -> None:
    items = [i for i in run(['{"answer": [1, 2 3]', "}"]) if isinstance(i, PartialResponse)]
    assert "".join(i.chunk for i in items) == "[1, 2 3]"
    assert items[-1].value is None and not items[-1].complete


def test_partial_refuses_a_non_json_format() -> None:
    with pytest.raises(ValueError, match="partial=True parses the field's value as JSON"):
        StreamListener("answer", partial=True, field_format="chat")
