"""The scanners' cost is linear in the input and their re-read hold-back is bounded.

The contract is in the docstring of ``streamify/_formats.py``: a scanner holds back a *tail*,
which the next ``feed`` reads again and which is never longer than the format's longest
marker, and at most a *store* (a run of whitespace that may turn out to be trailing), which
is appended to and read once, when it is emitted or dropped.

No test here looks at a clock.  Cost is measured structurally, on hostile replies (long
runs of whitespace, text that keeps looking like the beginning of a marker, runs of JSON
escapes) fed in chunks of one to three characters, for every built-in format and for two
marker formats whose end markers may begin with whitespace (one trimmed, one not):

* the length of the tail after every feed;
* the bytes a stream allocates (``tracemalloc``, summed over the feeds: what each feed
  allocates on top of what it started with), which counts every copy of held text;
* the number of attempts to match a marker (or decode a JSON escape), which counts every
  re-scan of held text.

A stream of a repeated unit is measured for ``N`` and ``2 * N`` repetitions: linear work
at most doubles (a constant part only lowers the ratio), re-copying or re-scanning what is
held back makes it about four times as much.
"""

from __future__ import annotations

import contextlib
import gc
import json
import tracemalloc
from typing import TYPE_CHECKING, Any, Callable, Union

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import streamify._formats as formats
from streamify._formats import FieldFormat, MarkerFormat
from streamify._listener import StreamListener

if TYPE_CHECKING:
    from collections.abc import Iterator


class HeadingFormat(MarkerFormat):
    """Markdown sections: the end markers begin with a newline, so whitespace may be a trigger."""

    name = "heading"
    start = "### {field}\n"
    end = ("\n### ", "\n---")


FORMATS: dict[str, Union[str, FieldFormat]] = {
    "chat": "chat",
    "xml": "xml",
    "json": "json",
    "heading": HeadingFormat(),
    # Untrimmed, with an end marker that begins with whitespace too.
    "untrimmed": MarkerFormat(start="<{field}>", end=("</{field}>", "\n--"), trim=False),
}
TRIMMED = {"chat", "xml", "heading"}  # JSON strings are never trimmed

# The longest tail each format may hold: one less than its longest marker, a ``{name}``
# counting 200 characters (chat: "[[ ## " + 200 + " ## ]]"), or for JSON the longest escape
# that can still be undecided ("\ud83d\udc0", a high surrogate and most of a low one).
TAIL_BOUND = {
    "chat": len("[[ ## ") + 200 + len(" ## ]]") - 1,
    "xml": max(len("<answer>"), len("</answer>")) - 1,
    "json": len("\\ud83d\\udc0"),
    "heading": max(len("### answer\n"), len("\n### "), len("\n---")) - 1,
    "untrimmed": max(len("<answer>"), len("</answer>"), len("\n--")) - 1,
}

# Where the repeated unit goes: before any marker, right after the opening marker (leading
# whitespace), after some text of the field, and for JSON in every kind of value and key.
HEADS = {
    "chat": ["", "[[ ## answer ## ]]", "[[ ## answer ## ]]\nHi"],
    "xml": ["", "<answer>", "<answer>Hi"],
    "json": ["", '{"answer": "', '{"answer": "Hi', '{"answer": ', '{"answer": [', '{"x": "', '{"'],
    "heading": ["", "### answer\n", "### answer\nHi"],
    "untrimmed": ["", "<answer>", "<answer>Hi"],
}
ENDINGS = {
    "chat": ["", "x", "\n\n[[ ## completed ## ]]"],
    "xml": ["", "x", "\n</answer>"],
    "json": ["", "x", '"}', "]}"],
    "heading": ["", "x", "\n---\n", "\n### notes\n"],
    "untrimmed": ["", "x", "</answer>", "\n--"],
}

WHITESPACE = [" ", "  ", "\n", "\t", "\r\n", "\u3000"]
HOSTILE = [
    *WHITESPACE,
    "[", "[[", "[[ ", "[[ ## ", "[[ ## a", "[[ ## answer", " ## ]", "]]",
    "<", "<<", "</", "</answe", "<answer", ">",
    "#", "\n#", "\n##", "\n### ", "\n-", "\n--",
    "\\", "\\\\", "\\u", "\\ud83d", "\\udc00", "\\u00e9", '\\"', '"', "{", "}", ",", ":",
    "a", "é", "😀",
]  # fmt: skip

units = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.sampled_from(WHITESPACE)), min_size=1, max_size=4
).map("".join)

SETTINGS = settings(max_examples=40, deadline=None)


def new_listener(fmt: str) -> StreamListener:
    return StreamListener("answer", field_format=FORMATS[fmt], allow_reuse=True)


def split_every(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def hostile_reply(fmt: str, head: int, unit: str, times: int, ending: int) -> str:
    heads, endings = HEADS[fmt], ENDINGS[fmt]
    return heads[head % len(heads)] + unit * times + endings[ending % len(endings)]


def occurrences(listener: StreamListener, chunks: list[str]) -> list[str]:
    """The joined text of every occurrence of the field (the last one may be unfinished)."""
    texts: list[str] = []
    current: list[str] = []
    for response in [r for chunk in chunks for r in listener.feed(chunk)] + listener.flush():
        current.append(response.chunk)
        if response.is_last_chunk:
            texts.append("".join(current))
            current = []
    assert not current, "an occurrence did not end with is_last_chunk"
    return texts


@contextlib.contextmanager
def counting(name: str) -> Iterator[list[int]]:
    """Count the calls of the module-level function ``_formats.<name>``."""
    original: Callable[..., Any] = getattr(formats, name)
    count = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(formats, name, counted)
        yield count


def bytes_allocated(fmt: str, chunks: list[str]) -> int:
    """What a stream allocates, summed over its feeds (each above what it started with)."""
    listener = new_listener(fmt)
    was_tracing = tracemalloc.is_tracing()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    if not was_tracing:
        tracemalloc.start()
    try:
        total = 0
        for chunk in chunks:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            listener.feed(chunk)
            total += tracemalloc.get_traced_memory()[1] - before
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        listener.flush()
        total += tracemalloc.get_traced_memory()[1] - before
        return total
    finally:
        if not was_tracing:
            tracemalloc.stop()
        if gc_was_enabled:
            gc.enable()


def match_attempts(fmt: str, chunks: list[str]) -> int:
    """How many times a stream tries to match a marker (JSON: to decode an escape)."""
    name = "_decode_escape" if fmt == "json" else "_match_parts"
    with counting(name) as count:
        listener = new_listener(fmt)
        for chunk in chunks:
            listener.feed(chunk)
        listener.flush()
    return count[0]


N = 300  # repetitions of the unit in the smaller stream (the larger one has 2 * N)
RATIO = 2.5  # linear work at most doubles; quadratic work is about four times as much


def assert_linear(measure: Callable[[str, list[str]], int], fmt: str, reply: Any) -> None:
    head, unit, ending, size = reply
    small = measure(fmt, split_every(hostile_reply(fmt, head, unit, N, ending), size))
    large = measure(fmt, split_every(hostile_reply(fmt, head, unit, 2 * N, ending), size))
    assert large <= RATIO * small + 64, (fmt, unit, small, large, large / max(small, 1))


replies = st.tuples(st.integers(0, 6), units, st.integers(0, 3), st.integers(1, 3))


@SETTINGS
@given(
    st.sampled_from(sorted(FORMATS)), replies, st.lists(st.integers(1, 3), min_size=1, max_size=8)
)
@example(fmt="chat", reply=(2, " ", 2, 1), steps=[1])
@example(fmt="xml", reply=(2, "\n", 2, 1), steps=[1])
@example(fmt="heading", reply=(2, "\n \n", 0, 1), steps=[2, 1])
def test_held_back_tail_never_exceeds_the_longest_marker(
    fmt: str, reply: Any, steps: list[int]
) -> None:
    head, unit, ending, _ = reply
    text = hostile_reply(fmt, head, unit, 2 * N, ending)
    listener = new_listener(fmt)
    longest = pos = index = 0
    while pos < len(text):  # chunks of one to three characters, in the drawn rhythm
        step = steps[index % len(steps)]
        listener.feed(text[pos : pos + step])
        pos += step
        index += 1
        longest = max(longest, len(listener._scanner._pending))  # type: ignore[attr-defined]
    assert longest <= TAIL_BOUND[fmt], (fmt, unit, longest)


@SETTINGS
@given(st.sampled_from(sorted(FORMATS)), replies)
@example(fmt="chat", reply=(2, " ", 2, 1))  # the reported case: one-space chunks
@example(fmt="xml", reply=(2, " ", 2, 1))
@example(fmt="heading", reply=(2, "\n \n", 0, 1))
@example(fmt="chat", reply=(1, "\n\t [", 0, 2))
@example(fmt="json", reply=(1, "\\\\", 1, 1))
def test_bytes_copied_grow_linearly_with_the_input(fmt: str, reply: Any) -> None:
    assert_linear(bytes_allocated, fmt, reply)


@SETTINGS
@given(st.sampled_from(sorted(FORMATS)), replies)
@example(fmt="heading", reply=(2, "\n \n", 0, 1))  # whitespace that may begin an end marker
@example(fmt="heading", reply=(2, "\n", 3, 1))
@example(fmt="chat", reply=(2, "[[ ## a", 2, 1))
@example(fmt="json", reply=(1, "\\ud83d", 1, 1))
def test_marker_match_attempts_grow_linearly_with_the_input(fmt: str, reply: Any) -> None:
    assert_linear(match_attempts, fmt, reply)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_whitespace_run_of_any_length_is_emitted_once_or_dropped_whole(fmt: str) -> None:
    head = HEADS[fmt][2]  # the field is open and has text: whitespace is no longer leading
    run = " \n" * 5000
    listener = new_listener(fmt)
    pieces = [r.chunk for chunk in [head, *run] for r in listener.feed(chunk)]
    assert len(listener._scanner._pending) <= TAIL_BOUND[fmt]  # type: ignore[attr-defined]
    pieces += [r.chunk for r in listener.feed("x")]
    assert "".join(pieces) == "Hi" + run + "x"
    if fmt in TRIMMED:  # untrimmed whitespace streams at once
        assert pieces[-1] == run + "x", "the run is emitted with the text that follows it"
    ended = new_listener(fmt)
    texts = occurrences(ended, [head, *run, ENDINGS[fmt][2]])
    assert texts == ["Hi" + ("" if fmt in TRIMMED else run)]


hostile_values = st.lists(
    st.one_of(
        st.sampled_from(HOSTILE),
        st.builds(lambda ws, n: ws * n, st.sampled_from(WHITESPACE), st.integers(1, 60)),
    ),
    max_size=12,
).map("".join)


@st.composite
def cuts(draw: st.DrawFn, text: str) -> list[str]:
    """``text`` cut at arbitrary points (empty chunks included), or into tiny equal chunks."""
    size = draw(st.integers(0, 3))
    if size:
        return split_every(text, size)
    points = sorted(draw(st.lists(st.integers(0, len(text)), max_size=60)))
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from(sorted(FORMATS)), hostile_values, hostile_values, st.booleans())
def test_any_split_of_a_hostile_reply_gives_the_text_of_the_whole_reply(
    data: st.DataObject, fmt: str, first: str, second: str, json_reply: bool
) -> None:
    opening = HEADS[fmt][1]
    if fmt == "json" and json_reply:  # a well-formed reply: the values are JSON strings
        reply = json.dumps({"answer": first, "x": second, "answer ": first}) + second
    else:
        ending = data.draw(st.sampled_from(ENDINGS[fmt]))
        # Two occurrences of the field (allow_reuse), then whatever the LM wrote.
        reply = opening + first + ending + opening + second + ending + first
    whole = occurrences(new_listener(fmt), [reply])
    split = occurrences(new_listener(fmt), data.draw(cuts(reply)))
    assert split == whole
