"""``PartialJSONParser``: the value parsed so far, after every chunk of any split.

The contract is the docstring of ``streamify/_partial_json.py``.  What is checked:

* for random JSON texts (nested objects and arrays, strings with raw and escaped unicode,
  astral characters, lone surrogates, every escape, numbers with signs, fractions and
  exponents, literals, whitespace everywhere) split into chunks anywhere: after each chunk
  the item's value is exactly what an independent oracle computes for that prefix from
  scratch (recursive descent over the prefix, by the documented rules); it is a
  *prefix-consistent partial* (:func:`is_partial`) of the final value and of the next item;
  ``feed`` says whether it changed; ``copy()`` called at the end still rebuilds each item as
  it was; ``finish()`` is exactly ``json.loads`` of the text;
* malformed texts (valid ones with one edit) raise iff ``json.loads`` raises, with the same
  message and position for the usual mistakes;
* cost, structurally and without a clock: the characters the scans are given, the Python
  lines the parser executes and the bytes it allocates grow linearly with the text (a text
  twice as long costs at most about twice as much, for hostile shapes fed one character at
  a time), and a snapshot executes the same lines and allocates the same few bytes whether
  the value holds ten members or ten thousand.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import pickle
import re
import sys
import tracemalloc
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import streamify._partial_json as partial_json
from streamify._partial_json import (
    PartialJSONError,
    PartialJSONParser,
    PartialValue,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

SETTINGS = settings(max_examples=100, deadline=None)
FEWER = settings(max_examples=50, deadline=None)


# --------------------------------------------------------------------------------------------
# Equality, partial order, oracle


def same(a: object, b: object) -> bool:
    """Strict equality of JSON values: same types, same key order, -0.0 is not 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        assert isinstance(b, float)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def is_partial(part: object, final: object) -> bool:
    """Whether ``part`` is a prefix-consistent partial of ``final``.

    A string is a prefix of the final string; a list holds the first items of the final
    list, all final but the last, which is a partial of its final item; a dict likewise
    with the first keys of the final dict, in order; a number or literal is final.
    """
    if type(part) is not type(final):
        return False
    if isinstance(final, str):
        assert isinstance(part, str)
        return final.startswith(part)
    if isinstance(final, list):
        assert isinstance(part, list)
        if len(part) > len(final):
            return False
        if not part:
            return True
        return all(same(x, y) for x, y in zip(part[:-1], final)) and is_partial(
            part[-1], final[len(part) - 1]
        )
    if isinstance(final, dict):
        assert isinstance(part, dict)
        keys, final_keys = list(part), list(final)
        if keys != final_keys[: len(keys)]:
            return False
        if not keys:
            return True
        return all(same(part[k], final[k]) for k in keys[:-1]) and is_partial(
            part[keys[-1]], final[keys[-1]]
        )
    return same(part, final)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()
Path = tuple[Union[str, int], ...]


class _Ended(Exception):
    """The prefix ends inside the value; ``path`` is the innermost value still open."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.path = path


_ESCAPE = re.compile(r'\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})')
_LOW_ESCAPE = re.compile(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_LOW_START = re.compile(r"(?:\\(?:u(?:[dD](?:[c-fC-F][0-9a-fA-F]?)?)?)?)?")
_SCALAR = re.compile(r"[-+.0-9A-Za-z]+")


def visible_text(raw: str) -> str:
    """The decoded text shown for the raw body of a string not closed yet.

    An escape is shown once complete; a high surrogate escape waits while what follows it
    could still be the beginning of its low half.
    """
    index = 0
    high: Optional[int] = None  # where a trailing high surrogate escape starts
    while index < len(raw):
        if raw[index] != "\\":
            index += 1
            high = None
            continue
        found = _ESCAPE.match(raw, index)
        if found is None:
            break  # the prefix ends inside this escape
        high = None
        if raw[index + 1] == "u" and 0xD800 <= int(raw[index + 2 : index + 6], 16) <= 0xDBFF:
            low = _LOW_ESCAPE.match(raw, found.end())
            if low is not None:
                index = low.end()
                continue
            high = index
        index = found.end()
    cut = index  # the end, or where an incomplete escape starts
    if high is not None and _LOW_START.fullmatch(raw[high + 6 :]):
        cut = high
    decoded = json.loads('"' + raw[:cut] + '"')
    assert isinstance(decoded, str)
    return decoded


def oracle(prefix: str) -> tuple[object, bool, Path]:
    """What the item after ``prefix`` (of a valid JSON text) must show, from scratch.

    Returns ``(value, complete, path)``; ``value`` is ``MISSING`` while nothing is visible.
    Containers appear at their opening bracket, strings at their opening quote with the
    text so far, numbers and literals once the character after them is there, a member
    when its value appears.
    """
    size = len(prefix)
    root: list[object] = [MISSING]

    def skip(index: int) -> int:
        while index < size and prefix[index] in " \t\n\r":
            index += 1
        return index

    def parse(index: int, put: Callable[[object], None], path: Path, parent: Path) -> int:
        index = skip(index)
        if index == size:
            raise _Ended(parent)
        char = prefix[index]
        if char == "{":
            members: dict[str, object] = {}
            put(members)
            index = skip(index + 1)
            if index < size and prefix[index] == "}":
                return index + 1
            while True:
                index = skip(index)
                if index == size:
                    raise _Ended(path)
                end = string_end(index)
                if end < 0:
                    raise _Ended(path)  # a key shows with its value, not before
                key = json.loads(prefix[index:end])
                index = skip(end)
                if index == size:
                    raise _Ended(path)
                assert prefix[index] == ":"
                index = parse(index + 1, _setter(members, key), (*path, key), path)
                index = skip(index)
                if index == size:
                    raise _Ended(path)
                if prefix[index] == "}":
                    return index + 1
                assert prefix[index] == ","
                index += 1
        if char == "[":
            items: list[object] = []
            put(items)
            index = skip(index + 1)
            if index < size and prefix[index] == "]":
                return index + 1
            while True:
                index = parse(index, items.append, (*path, len(items)), path)
                index = skip(index)
                if index == size:
                    raise _Ended(path)
                if prefix[index] == "]":
                    return index + 1
                assert prefix[index] == ","
                index += 1
        if char == '"':
            end = string_end(index)
            if end < 0:
                put(visible_text(prefix[index + 1 :]))
                raise _Ended(path)
            put(json.loads(prefix[index:end]))
            return end
        found = _SCALAR.match(prefix, index)
        assert found is not None
        if found.end() == size:
            raise _Ended(parent)
        put(json.loads(found.group()))
        return found.end()

    def string_end(index: int) -> int:
        """The index after the string starting at ``index``, or -1 if not closed yet."""
        index += 1
        while index < size:
            char = prefix[index]
            if char == '"':
                return index + 1
            index += 2 if char == "\\" else 1
        return -1

    def put_root(value: object) -> None:
        root[0] = value

    try:
        parse(0, put_root, (), ())
    except _Ended as ended:
        return root[0], False, ended.path
    return root[0], True, ()


def _setter(members: dict[str, object], key: str) -> Callable[[object], None]:
    def put(value: object) -> None:
        members[key] = value

    return put


# --------------------------------------------------------------------------------------------
# Strategies: JSON texts


WS = st.text(alphabet=" \t\n\r", max_size=2)
RAW_CHARS = st.one_of(
    st.characters(min_codepoint=0x20, exclude_characters='"\\'),
    st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "😀", "é", "/"]),
)
SHORT_ESCAPES = st.sampled_from(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"])


def _u(code: int, upper: bool) -> str:
    return ("\\u%04X" if upper else "\\u%04x") % code


BMP_ESCAPES = st.builds(_u, st.integers(0, 0xFFFF), st.booleans())
SURROGATE_ESCAPES = st.builds(_u, st.integers(0xD800, 0xDFFF), st.booleans())


def _pair(code: int, upper: bool) -> str:
    code -= 0x10000
    return _u(0xD800 + (code >> 10), upper) + _u(0xDC00 + (code & 0x3FF), upper)


PAIR_ESCAPES = st.builds(_pair, st.integers(0x10000, 0x10FFFF), st.booleans())
STRINGS = st.lists(
    st.one_of(RAW_CHARS, SHORT_ESCAPES, BMP_ESCAPES, SURROGATE_ESCAPES, PAIR_ESCAPES),
    max_size=8,
).map(lambda parts: '"' + "".join(parts) + '"')
NUMBERS = st.from_regex(
    r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?", fullmatch=True
)
LITERALS = st.sampled_from(["true", "false", "null", "Infinity", "-Infinity"])


def _array(items: list[tuple[str, str, str]], inner: str) -> str:
    if not items:
        return "[" + inner + "]"
    return "[" + ",".join(before + item + after for before, item, after in items) + "]"


def _object(members: list[tuple[str, str, str, str, str, str]], inner: str) -> str:
    unique = {json.loads(member[1]): member for member in reversed(members)}
    members = [member for member in members if unique[json.loads(member[1])] is member]
    if not members:
        return "{" + inner + "}"
    return (
        "{"
        + ",".join(a + key + b + ":" + c + value + d for a, key, b, c, value, d in members)
        + "}"
    )


def _containers(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    arrays = st.builds(_array, st.lists(st.tuples(WS, children, WS), max_size=5), WS)
    objects = st.builds(
        _object,
        st.lists(st.tuples(WS, STRINGS, WS, WS, children, WS), max_size=5),  # keys made unique
        WS,
    )
    return st.one_of(arrays, objects)


WRITTEN = st.builds(
    lambda before, value, after: before + value + after,
    WS,
    st.recursive(st.one_of(STRINGS, NUMBERS, LITERALS), _containers, max_leaves=16),
    WS,
)
"""JSON texts written token by token, with every kind of escape, number and whitespace."""

PY_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=False),
        st.text(max_size=10),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=10), children, max_size=5),
    ),
    max_leaves=16,
)
DUMPED = st.builds(
    lambda value, ascii_only, indent: json.dumps(value, ensure_ascii=ascii_only, indent=indent),
    PY_VALUES,
    st.booleans(),
    st.sampled_from([None, 0, 2, "\t"]),
)
"""JSON texts as ``json.dumps`` writes them (astral characters as surrogate pairs, too)."""

DOCUMENTS = st.one_of(WRITTEN, DUMPED)


@st.composite
def split_documents(draw: st.DrawFn) -> tuple[str, list[str]]:
    text = draw(DOCUMENTS)
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=16))))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in zip(bounds, bounds[1:])]


# --------------------------------------------------------------------------------------------
# Properties


def check_stream(text: str, chunks: Sequence[str]) -> None:
    """Feed ``chunks`` and check every item against the oracle and the final value."""
    final = json.loads(text)
    parser = PartialJSONParser()
    items: list[tuple[PartialValue, object]] = []
    previous: object = MISSING
    previous_complete = False
    fed = ""
    for chunk in chunks:
        changed = parser.feed(chunk)
        fed += chunk
        item = parser.snapshot()
        expected, complete, path = oracle(fed)
        if item is None:
            assert expected is MISSING, (fed, expected)
            assert not changed
            continue
        now = item.copy()
        assert same(now, expected), (fed, now, expected)
        assert item.complete == complete
        assert item.path == path, (fed, item.path, path)
        assert is_partial(now, final), (now, final)
        if previous is not MISSING:
            assert is_partial(previous, now), (previous, now)
        assert changed == (not same(now, previous) or complete != previous_complete)
        if isinstance(now, (dict, list)) and items:
            assert item.value is items[-1][0].value  # the live value, not a copy
        items.append((item, now))
        previous, previous_complete = now, complete
    value = parser.finish()
    assert same(value, final), (value, final)
    assert parser.finish() is value
    for item, then in items:  # each item still rebuilds its own value, after the end
        assert same(item.copy(), then)
    if items and isinstance(final, (dict, list)):
        assert items[-1][0].value is value
    assert len(fed) <= parser.chars_scanned <= len(fed) + 11 * len(chunks)


@SETTINGS
@given(split_documents())
@example(('{"a": "\\ud83d\\ude00"}', ['{"a": "\\ud83d', "\\ude00", '"}']))
@example(('["\\ud83d\\u0041"]', ['["\\ud83d\\u', "0041", '"]']))
@example(('["\\ud83d", 1]', ['["\\ud83d', '", 1]']))
@example(("[-12.5e+3, 7]", ["[-1", "2.", "5e", "+3", ", 7]"]))
@example(('{"k": true}', ['{"k": tr', "ue", "}"]))
@example(("  12  ", ["  1", "2", "  "]))
def test_every_split_gives_prefix_consistent_values(case: tuple[str, list[str]]) -> None:
    check_stream(*case)


@FEWER
@given(DOCUMENTS, st.integers(1, 3))
def test_small_chunks(text: str, size: int) -> None:
    check_stream(text, [text[i : i + size] for i in range(0, len(text), size)])


@FEWER
@given(DOCUMENTS)
def test_one_chunk(text: str) -> None:
    check_stream(text, [text])


def test_oracle_rules() -> None:
    """The oracle itself, on the documented cases."""
    assert oracle('{"a": [1, 2') == ({"a": [1]}, False, ("a",))
    assert oracle('{"a": "he') == ({"a": "he"}, False, ("a",))
    assert oracle('{"a": tr') == ({}, False, ())
    assert oracle('{"a": true') == ({}, False, ())
    assert oracle('{"a": true ') == ({"a": True}, False, ())
    assert oracle('{"a') == ({}, False, ())
    assert oracle('["x\\u00') == (["x"], False, (0,))
    assert oracle('["\\ud83d\\ud') == ([""], False, (0,))
    assert oracle('["\\ud83d\\ud8') == (["\ud83d"], False, (0,))
    assert oracle('["\\ud83d\\ude00') == (["😀"], False, (0,))
    assert oracle("12") == (MISSING, False, ())
    assert oracle("[] ") == ([], True, ())


# --------------------------------------------------------------------------------------------
# What is shown when: examples


def items_of(chunks: Sequence[str]) -> list[object]:
    parser = PartialJSONParser()
    shown: list[object] = []
    for chunk in chunks:
        if parser.feed(chunk):
            item = parser.snapshot()
            assert item is not None
            shown.append(item.copy())
    parser.finish()
    return shown


def test_strings_grow_numbers_and_literals_appear_whole() -> None:
    chunks = ['{"name": "Ad', "a Love", 'lace", "born": 18', "15, ", '"ok": tr', "ue, ", '"x": []}']
    assert items_of(chunks) == [
        {"name": "Ad"},
        {"name": "Ada Love"},
        {"name": "Ada Lovelace"},  # "born" is not there yet: 18 could become 1815
        {"name": "Ada Lovelace", "born": 1815},
        {"name": "Ada Lovelace", "born": 1815, "ok": True},
        {"name": "Ada Lovelace", "born": 1815, "ok": True, "x": []},
    ]


def test_split_escapes_and_surrogate_pairs() -> None:
    text = '["a\\n\\u00e9\\ud83d\\ude00\\"b"]'
    shown = items_of([text[i : i + 1] for i in range(len(text))])
    assert shown[-1] == ['a\né😀"b']
    assert all(isinstance(value, list) for value in shown)
    strings = [value[0] for value in shown if isinstance(value, list) and value]
    assert strings == ["", "a", "a\n", "a\né", "a\né😀", 'a\né😀"', 'a\né😀"b', 'a\né😀"b']


def test_the_live_value_and_copies() -> None:
    parser = PartialJSONParser()
    parser.feed('{"a": [1, ')
    first = parser.snapshot()
    parser.feed('2], "b": "x')
    second = parser.snapshot()
    assert first is not None and second is not None
    assert first.value is second.value  # one live object, growing
    assert first.value == {"a": [1, 2], "b": "x"}
    assert first.copy() == {"a": [1]}
    assert first.path == ("a",)
    assert second.path == ("b",)
    parser.feed('yz"}')
    assert second.copy() == {"a": [1, 2], "b": "x"}
    value = parser.finish()
    assert value is first.value
    assert first.copy() == {"a": [1]}  # still, after the end
    assert repr(first) == "PartialValue(partial, path=('a',), value={'a': [1, 2], 'b': 'xyz'})"
    last = parser.snapshot()
    assert last is not None and last.complete and last.path == ()
    assert repr(last).startswith("PartialValue(complete, path=(), value={")
    parser = PartialJSONParser()
    parser.feed("[" + "1, " * 10_000)
    assert len(repr(parser.snapshot())) < 100


def test_root_scalars_and_root_strings() -> None:
    parser = PartialJSONParser()
    assert not parser.feed("  -0")
    assert parser.snapshot() is None and not parser.started
    assert parser.feed(".0 ")  # the space ends the number
    item = parser.snapshot()
    assert item is not None and item.complete
    assert same(item.value, -0.0)
    assert same(parser.finish(), -0.0)

    parser = PartialJSONParser()
    parser.feed('"ab')
    first = parser.snapshot()
    parser.feed('c"')
    second = parser.snapshot()
    assert first is not None and second is not None
    assert (first.value, first.complete, second.value, second.complete) == (
        "ab",
        False,
        "abc",
        True,
    )
    assert first.copy() == "ab"

    for text, expected in [("7", 7), ("true", True), ("null", None), ("-Infinity", -math.inf)]:
        parser = PartialJSONParser()
        parser.feed(text)
        assert parser.snapshot() is None  # not ended yet: could go on
        assert same(parser.finish(), expected)
    parser = PartialJSONParser()
    parser.feed("NaN")
    value = parser.finish()
    assert isinstance(value, float) and math.isnan(value)


def test_repeated_keys_keep_the_last_value_at_the_first_place() -> None:
    text = '{"a": 1, "b": [2], "a": {"c": 3}}'
    parser = PartialJSONParser()
    parser.feed(text[:15])
    early = parser.snapshot()
    parser.feed(text[15:])
    assert same(parser.finish(), json.loads(text))
    assert list(json.loads(text)) == ["a", "b"]
    assert early is not None
    assert early.copy() == {"a": {"c": 3}, "b": []}  # the documented exception


def test_deep_nesting_has_no_depth_limit() -> None:
    depth = 30_000
    parser = PartialJSONParser()
    parser.feed("[" * depth)
    item = parser.snapshot()
    assert item is not None and len(item.path) == depth - 1
    parser.feed("]" * depth)
    value = parser.finish()
    copied = item.copy()
    for _ in range(depth - 1):
        assert isinstance(value, list) and isinstance(copied, list)
        assert len(copied) == 1
        value, copied = value[0], copied[0]
    assert value == [] and copied == []


# --------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        '{"a" 1}',
        '{"a": 1,}',
        '{"a": 1 , }',
        "[1, ]",
        "[1,]",
        "[,1]",
        "[01]",
        "[1.]",
        "[.5]",
        "[-]",
        "[1e]",
        "[1 2]",
        '{"a": 1}x',
        "[1] [2]",
        "tru",
        "[truex]",
        "[nul]",
        '"abc',
        '["abc',
        '"\\x"',
        '"\\u12g4"',
        '"a\tb"',
        '{"a\nb": 1}',
        "{1: 2}",
        "{'a': 1}",
        '{"a":\n 1,\n "b": [nul]}',
        "[1}",
        '{"a": 1]',
        "]",
        "[+1]",
        "-NaN",
    ],
)
def test_errors_name_the_position_as_json_does(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    for chunks in ([text], list(text)):
        parser = PartialJSONParser()
        with pytest.raises(PartialJSONError) as raised:
            for chunk in chunks:
                parser.feed(chunk)
            parser.finish()
        assert isinstance(raised.value, ValueError)
        assert str(raised.value) == str(expected.value), chunks
        assert (raised.value.pos, raised.value.lineno, raised.value.colno) == (
            expected.value.pos,
            expected.value.lineno,
            expected.value.colno,
        )


EDITS = st.sampled_from(list('{}[]",:\\ 0123456789.-+eEtrufalsnNI\x01\n/ux'))


@SETTINGS
@given(DOCUMENTS, st.integers(0, 10**6), st.sampled_from(["insert", "delete", "replace"]), EDITS)
def test_malformed_text_raises_iff_json_loads_does(
    text: str, where: int, how: str, char: str
) -> None:
    index = where % (len(text) + 1)
    if how == "insert":
        text = text[:index] + char + text[index:]
    elif how == "delete":
        text = text[:index] + text[index + 1 :]
    else:
        text = text[:index] + char + text[index + 1 :]
    try:
        expected: object = json.loads(text)
    except ValueError:
        expected = MISSING
    for size in (1, 4, len(text) or 1):
        parser = PartialJSONParser()
        try:
            for i in range(0, len(text), size):
                parser.feed(text[i : i + size])
            value: object = parser.finish()
        except PartialJSONError:
            value = MISSING
        if expected is MISSING:
            assert value is MISSING, (text, value)
        else:
            assert value is not MISSING and same(value, expected), (text, value, expected)


def test_feed_raises_early_and_the_parser_stays_dead() -> None:
    parser = PartialJSONParser()
    parser.feed('{"a": [1, 2')
    with pytest.raises(PartialJSONError, match=r"Expecting ',' delimiter: line 1 column 12"):
        parser.feed("}")
    for call in (lambda: parser.feed("]"), parser.finish, parser.snapshot):
        with pytest.raises(PartialJSONError, match=r"char 11\)"):
            call()
    assert "failed" in repr(parser)


def test_valid_prefixes_never_raise() -> None:
    parser = PartialJSONParser()
    for chunk in ['{"a": -', "1", "2.", "5e", "-", "3, ", '"\\', "u", "d8", "3d", "\\", "ud"]:
        parser.feed(chunk)
    with pytest.raises(PartialJSONError, match="Unterminated string starting at"):
        parser.finish()


def test_numbers_are_bounded() -> None:
    parser = PartialJSONParser(max_number_length=8)
    parser.feed("[12345678")
    with pytest.raises(PartialJSONError, match="Number longer than 8 characters.*char 1\\)"):
        parser.feed("9")
    digits = "1" * 5000  # more than int() accepts by default (Python >= 3.9.14 / 3.10.7)
    if hasattr(sys, "get_int_max_str_digits") and sys.get_int_max_str_digits() < 5000:
        with pytest.raises(ValueError, match="digits"):
            json.loads(digits)
        parser = PartialJSONParser()
        parser.feed(digits)
        with pytest.raises(PartialJSONError, match="digits"):
            parser.finish()
    parser = PartialJSONParser()
    parser.feed("[" + "9" * 4000 + "]")
    assert parser.finish() == [int("9" * 4000)]


def test_usage_errors() -> None:
    with pytest.raises(TypeError, match="max_number_length"):
        PartialJSONParser(max_number_length=True)
    with pytest.raises(ValueError, match="at least 1"):
        PartialJSONParser(max_number_length=0)
    parser = PartialJSONParser()
    with pytest.raises(TypeError, match="takes a str"):
        parser.feed(b"[]")  # type: ignore[arg-type]
    parser.feed("[]")
    assert parser.finish() == []
    with pytest.raises(RuntimeError, match=r"feed\(\) called after finish\(\)"):
        parser.feed(" ")
    assert repr(parser) == "PartialJSONParser(complete, 2 chars)"
    assert repr(PartialJSONParser()) == "PartialJSONParser(empty, 0 chars)"


def test_error_pickles() -> None:
    error = PartialJSONError("Expecting value", 3, 1, 4)
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.pos, again.lineno, again.colno) == (str(error), 3, 1, 4)


# --------------------------------------------------------------------------------------------
# Cost, counted


@contextlib.contextmanager
def counting_lines() -> Iterator[list[int]]:
    """Count the lines of ``_partial_json`` executed in this thread."""
    count = [0]
    filename = partial_json.__file__

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            count[0] += 1
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == filename else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        yield count
    finally:
        sys.settrace(previous)


def allocated(step: Callable[[], object]) -> int:
    """The most memory ``step`` holds at once on top of what was held before it."""
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    step()
    return tracemalloc.get_traced_memory()[1] - before


def stream_cost(text: str, size: int) -> tuple[int, int, int]:
    """Feed ``text`` in chunks of ``size`` with a snapshot after each one.

    Returns the characters scanned, the lines executed, and the bytes allocated summed
    over the chunks (each chunk's peak on top of what was held before it: a re-copy of
    held text shows there, the value growing by what the chunk adds does not add up).
    """
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    for _ in range(2):  # warm up: let CPython specialise the string append
        warm = PartialJSONParser()
        for chunk in chunks[:50]:
            warm.feed(chunk)
            warm.snapshot()
    parser = PartialJSONParser()
    with counting_lines() as lines:
        for chunk in chunks:
            parser.feed(chunk)
            parser.snapshot()
    parser = PartialJSONParser()

    def step(chunk: str) -> None:
        parser.feed(chunk)
        parser.snapshot()

    total = 0
    tracemalloc.start()
    try:
        for chunk in chunks:
            total += allocated(functools.partial(step, chunk))
    finally:
        tracemalloc.stop()
    parser.finish()
    return parser.chars_scanned, lines[0], total


UNITS = {
    "records": '{"id": 12, "title": "item twelve", "tags": ["a", "b"], "ok": true}, ',
    "escapes": "\\ud83d\\ude00\\n\\u00e9\\\\x",  # inside one long string
    "plain text": "lorem ipsum dolor sit amet ",  # inside one long string
    "whitespace": " \n\t\r",
    "nesting": "[",
}


def hostile(unit: str, times: int) -> str:
    body = UNITS[unit] * times
    if unit == "records":
        return "[" + body + "null]"
    if unit in ("escapes", "plain text"):
        return '{"text": "' + body + '"}'
    if unit == "whitespace":
        return "[" + body + "1" + body + "]"
    return body + "]" * times


@pytest.mark.parametrize("unit", list(UNITS))
@pytest.mark.parametrize("size", [1, 7])
def test_cost_is_linear_in_the_text(unit: str, size: int) -> None:
    times = 120 if unit != "nesting" else 1000
    small = stream_cost(hostile(unit, times), size)
    large = stream_cost(hostile(unit, 2 * times), size)
    length = len(hostile(unit, times))
    assert small[0] <= length + 11 * (length // size + 1)  # re-read: split escapes only
    for what, a, b in zip(("chars scanned", "lines", "bytes"), small, large):
        assert b <= 2.2 * a, (what, a, b)  # about 2 when linear, 4 when quadratic


def test_a_long_number_split_everywhere_is_read_once() -> None:
    for digits in (1000, 2000):
        text = "[" + "7" * digits + "]"
        scanned, lines, _ = stream_cost(text, 1)
        assert scanned == len(text)
        if digits == 1000:
            first = lines
    assert lines <= 2.1 * first


def open_values(records: int) -> dict[str, str]:
    """Texts of ``records`` records, left open in a container, a string, after a number."""
    body = ", ".join(f'{{"id": {i}, "name": "n{i}"}}' for i in range(records))
    return {
        "container": '{"items": [' + body + ", ",
        "string": '{"items": [' + body + '], "note": "abc',
        "number": '{"items": [' + body + '], "n": 12',
        "key": '{"items": [' + body + '], "ke',
    }


@pytest.mark.parametrize("where", ["container", "string", "number", "key"])
def test_snapshot_cost_does_not_depend_on_the_size_of_the_value(where: str) -> None:
    costs = []
    for records in (10, 10_000):
        parser = PartialJSONParser()
        parser.feed(open_values(records)[where])
        parser.snapshot()
        parser.feed("x" if where == "string" else " ")
        parser.snapshot()  # warm
        root = parser.snapshot()
        assert root is not None
        parser.feed("y" if where == "string" else " ")
        with counting_lines() as lines:
            item = parser.snapshot()
        tracemalloc.start()
        try:
            parser.feed("z" if where == "string" else " ")
            parser.snapshot()  # see test_a_long_open_string_is_extended_in_place
            parser.feed("z" if where == "string" else " ")
            size = allocated(parser.snapshot)
        finally:
            tracemalloc.stop()
        assert item is not None and item.value is root.value  # no copy
        assert size < 1000, size
        costs.append(lines[0])
    assert costs[0] == costs[1]


def test_a_long_open_string_is_extended_in_place() -> None:
    """Appending to the open string does not copy it (CPython grows the only reference)."""
    parser = PartialJSONParser()
    parser.feed('{"text": "' + "x" * 200_000)
    for _ in range(20):  # warm up
        parser.feed("y")
        parser.snapshot()
    tracemalloc.start()
    try:
        # The first step reallocates a string made before tracing started, which tracemalloc
        # counts as a new block: it is not measured.
        parser.feed("y")
        parser.snapshot()
        sizes = [allocated(lambda: (parser.feed("abc"), parser.snapshot())) for _ in range(50)]
    finally:
        tracemalloc.stop()
    assert max(sizes) < 10_000, sizes  # a copy would be 200 kB
    item = parser.snapshot()
    assert item is not None and isinstance(item.value, dict)
    text = item.value["text"]
    assert isinstance(text, str) and len(text) == 200_000 + 21 + 150
