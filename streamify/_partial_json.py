"""Partial JSON values: the value of a JSON text parsed so far, kept up to date chunk by chunk.

:class:`PartialJSONParser` is fed the text of one JSON value in chunks split anywhere (inside a
string, an escape, a ``\\uXXXX`` surrogate pair, a number or a literal) and keeps the value
parsed so far as ordinary Python objects: ``dict``, ``list``, ``str``, ``int``, ``float``,
``bool`` and ``None``.  After any chunk, :meth:`~PartialJSONParser.snapshot` returns a
:class:`PartialValue`; at the end :meth:`~PartialJSONParser.finish` returns the complete
value, equal to ``json.loads`` of the whole text::

    parser = PartialJSONParser()
    for chunk in chunks:
        if parser.feed(chunk):          # True when the value visible so far changed
            item = parser.snapshot()
            render(item.value)          # the value so far: read it now (see below)
    value = parser.finish()             # == json.loads("".join(chunks))

What the value so far shows
---------------------------
Every value in it is either final or a growing *prefix* of its final value: nothing shown is
ever taken back or changed, only extended.  Hence:

* an object or array appears at its opening bracket, empty, and grows as its members arrive;
* a string appears at its opening quote, as ``""``, and grows with its text as it arrives,
  decoded (an escape is shown once it is complete: ``\\n`` as a newline, a surrogate pair as
  one character, and a high surrogate waits for the next escape when that could be its low
  half);
* a number, ``true``, ``false`` and ``null`` appear only when complete, that is once the
  character after them has arrived (or at :meth:`~PartialJSONParser.finish`): ``12`` could
  still become ``123`` or ``12.5``, and showing it early would be showing a wrong value;
* an object member appears when its value does (so with ``""``, ``{}`` or ``[]`` as soon as a
  string or container value starts, with a number or literal once that is complete): a key
  never shows with a placeholder such as ``None`` that a later chunk would replace, and a
  key being received is not shown at all.

So an item's value is a *prefix-consistent partial* of the final value: for a dict, its keys
are the first keys of the final dict, in order, and every member but the last is final; the
same for a list and its items; a string is a prefix of the final string; a scalar is final.

The snapshot and what a consumer may rely on
--------------------------------------------
The parser keeps one live value and grows it in place: containers are only ever appended to
(a new key, a new item) and the string being received is only ever extended.  A snapshot
does not copy it, so its cost does not depend on the size of the value:

* ``item.value`` is **the live value itself**, the same object in every item of one parser
  (for a root string, which cannot be grown in place, the string as of the item).  Read it
  when you get the item -- render it, validate it, diff it -- but do not mutate it, and
  expect it to have grown when you look again after later chunks: a consumer that stores
  items and reads their ``value`` at the end sees the final value in all of them.
* ``item.copy()`` is the value **exactly as it was when the item was made**, as a new deep
  copy, whenever it is called -- right away or after the parser has moved on or finished.
  This works because the item records, in O(1), how long the innermost open container and
  string were (every container further out is held at its length by the open one inside
  it).  It costs the size of that value, and only for the items it is called on.
* ``item.complete`` says whether the value was complete; ``item.path`` is where the value
  was growing (the keys and indices from the root to the innermost open container or
  string, ``()`` when complete), computed on demand.

Why this shape.  What users of the peers get is a fresh object per update, paid for on every
chunk: the OpenAI SDK's streaming helpers (``parsed``), the Anthropic SDK
(``parsed_snapshot()``), Pydantic AI (``stream_output``, validated in partial mode) and
instructor re-parse the whole accumulated text with ``jiter`` / ``pydantic-core`` partial
mode on each update, so each update costs the length of the text so far and a stream the
square of it (``benchmarks/bench_partial_json.py`` measures it; Pydantic AI debounces
updates, by 0.1 s by default, to keep that overhead down).  DSPy streams the text of
``str`` fields (and of its own streamable types), no partial objects; its JSON listener,
too, re-parses its whole buffer with ``jiter`` on each chunk to see where a field ends.
Fresh objects are what a user who keeps items expects; a flat cost per chunk is what a user
of long replies needs; a deep copy per item would give the first and lose the second.  Here
both are available: ``value`` for the common consumer that renders each item and moves on
(free), ``copy()`` for one that keeps items (paid by it only, and only for the items it
keeps).  What a consumer can rely on: ``items[i].copy()`` is a prefix-consistent partial of
``items[i + 1].copy()``; the last item's ``value`` is the object ``finish()`` returns, equal
to ``json.loads`` of the whole text; for a container root, every item's ``value`` is that
same object.

One exception to "never changed": a duplicate key.  ``json.loads`` keeps the last value of a
repeated key at the first key's position, and so does the parser: when the repeated key's
value starts it replaces the earlier one in place, in the live value and in what ``copy()``
rebuilds for items made before it.

Cost
----
* :meth:`~PartialJSONParser.feed` reads each character once, left to right, with regular
  expressions anchored where the previous step ended; only a split escape (at most 11
  characters: ``\\ud83d\\udc0``) is read again, at the start of the next chunk.  A number or
  literal split across chunks is kept in pieces and joined once, when it ends; so is a key
  (to become a dict key) and the text of a string (see below).  A text of ``n`` characters
  fed in ``k`` chunks costs O(n + k), however it is split.
  :attr:`~PartialJSONParser.chars_scanned` counts the characters the scans were given.
* :meth:`~PartialJSONParser.snapshot` costs O(1), plus appending to the live string being
  received the text decoded since the previous snapshot.  That append is done on the only
  reference to the string, which CPython extends in place (amortised O(new text)); a
  consumer that keeps a reference to the open string itself between chunks forces a copy,
  O(length of that string), at each snapshot -- keep ``copy()`` results, not pieces of the
  live value.  A value whose strings are each short has a flat per-chunk cost in any case.
* :meth:`PartialValue.copy` costs the size of the value it rebuilds; :attr:`PartialValue.path`
  the depth.

Held-back memory is bounded: a split escape (at most 11 characters) or a number or literal
not yet ended (at most ``max_number_length`` characters).  Keys and string text held in
pieces are part of the value.

Errors and what is accepted
---------------------------
The parser accepts exactly what ``json.loads`` accepts and builds the same value: the same
whitespace (space, tab, newline, carriage return), ``NaN``, ``Infinity`` and ``-Infinity``
(as ``json.loads`` does by default), lone surrogate escapes kept as lone surrogates, raw
control characters in strings refused, a repeated key keeping its last value.  Two
deliberate differences: a number longer than ``max_number_length`` characters is refused
(``json.loads`` refuses integers above 4300 digits too, by default), and nesting has no
depth limit (``json.loads`` raises ``RecursionError`` on very deep nesting).

Malformed input raises :class:`PartialJSONError`, a ``ValueError`` whose message names the
position as ``json.loads`` does (``Expecting ',' delimiter: line 1 column 8 (char 7)``) and
whose ``pos``, ``lineno`` and ``colno`` give it; positions count from the first character
ever fed.  For the usual mistakes the message and position are those of the running
Python's ``json.loads`` (whose wording of a trailing comma changed in 3.13); a text that
merely stops early is reported by what it lacks (``Unterminated string starting at``,
``Expecting value``), which ``json.loads`` sometimes words after the escape it stops in.
:meth:`~PartialJSONParser.feed` raises as soon as a character cannot continue a JSON text
(for a number or literal, when it ends); it never raises on a text that is incomplete but
could still become valid.  :meth:`~PartialJSONParser.finish` raises if the text is
incomplete.  After an error the parser is dead: every later call raises the same error.

Trailing text: after the value only whitespace may follow; anything else is an error
(``Extra data``), as with ``json.loads`` -- the parser does not guess where a value ends
inside other text.  The JSON field scanner of a listener hands exactly the value's text
(its raw pieces end with the closing bracket), so a listener feeds it as it comes; a caller
with other text after the value cuts it off first.

One parser parses one value; it is not thread-safe.
"""

from __future__ import annotations

import itertools
import math
import re
import reprlib
import sys
from typing import Any, Dict, Final, List, NoReturn, Optional, Tuple, Union, cast

from ._formats import _J_HEX4, _J_HEX_PREFIX, _J_LOW, _J_LOW_PREFIX, _J_SIMPLE

__all__ = ("JSONValue", "PartialJSONError", "PartialJSONParser", "PartialValue")

JSONValue = Union[None, bool, int, float, str, List["JSONValue"], Dict[str, "JSONValue"]]
"""A value ``json.loads`` can return (with its default hooks)."""

Key = Union[str, int]
"""A step of a :attr:`PartialValue.path`: a dict key or a list index."""

MAX_NUMBER_LENGTH: Final = 10_000
"""The default ``max_number_length``: the longest number, in characters, the parser accepts."""

# Parser states.  "Expecting ..." states skip whitespace first.
_VALUE: Final = 0  # a value: at the start, after ":" and after "," in an array
_ITEM0: Final = 1  # after "[": a value or "]"
_KEY0: Final = 2  # after "{": a key or "}"
_KEY: Final = 3  # after "," in an object: a key
_COLON: Final = 4  # after a key: ":"
_AFTER: Final = 5  # after a value in a container: "," or the closing bracket
_END: Final = 6  # after the root value: whitespace only
_STRING: Final = 7  # in a string value
_KEYSTR: Final = 8  # in a key
_TOKEN: Final = 9  # in a number or literal
_FAILED: Final = 10  # an error was raised
_FINISHED: Final = 11  # finish() returned

_NEXT: Final = re.compile(r'[ \t\n\r]*(?:"([^"\\\x00-\x1f]*)(")?|([-+.0-9A-Za-z]+)|([^ \t\n\r]))')
"""After optional whitespace: a string (its body up to the closing quote, an escape, a bad
character or the end, and the closing quote when there is one), a number or literal (or the
part of it in this text) or any other character."""
_K_BODY: Final = 1  # ``lastindex`` of a _NEXT match: a string not closed in this text
_K_CLOSED: Final = 2  # a whole string without escapes
_K_TOKEN: Final = 3  # a number or literal
_K_CHAR: Final = 4  # any other character
_STR_RUN: Final = re.compile(r'[^"\\\x00-\x1f]*')
_TOKEN_START: Final = frozenset("-0123456789tfnNI")
_TOKEN_RUN: Final = re.compile(r"[-+.0-9A-Za-z]*")
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
# The string-escape pieces are the JSON field scanner's: one definition of JSON escapes.
_HEX4 = _J_HEX4
_HEX_PREFIX = _J_HEX_PREFIX
_LOW = _J_LOW
_LOW_PREFIX = _J_LOW_PREFIX
_SIMPLE = _J_SIMPLE
_LITERALS: Final[Dict[str, JSONValue]] = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
}
_REPR: Final = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60

_TRAILING_COMMA: Final = sys.version_info >= (3, 13)
"""Whether ``json.loads`` words a trailing comma as such (it does from Python 3.13)."""
_EXPECTING: Final = {
    _VALUE: "Expecting value",
    _ITEM0: "Expecting value",
    _KEY0: "Expecting property name enclosed in double quotes",
    _KEY: "Expecting property name enclosed in double quotes",
    _COLON: "Expecting ':' delimiter",
    _AFTER: "Expecting ',' delimiter",
    _END: "Extra data",
}


class PartialJSONError(ValueError):
    """Malformed JSON text.

    ``msg`` says what was wrong, ``pos`` is the index of the offending character in the
    whole text fed so far, ``lineno`` and ``colno`` the same position as line and column
    (both from 1), as in :class:`json.JSONDecodeError`.
    """

    def __init__(self, msg: str, pos: int, lineno: int, colno: int) -> None:
        super().__init__(f"{msg}: line {lineno} column {colno} (char {pos})")
        self.msg = msg
        self.pos = pos
        self.lineno = lineno
        self.colno = colno

    def __reduce__(self) -> Tuple[type[PartialJSONError], Tuple[str, int, int, int]]:
        return type(self), (self.msg, self.pos, self.lineno, self.colno)


class _Frame:
    """An open container, linked to the one it sits in (the parser's stack, persistent).

    ``size`` is the length of the parent right after this container was put in it: while
    this container is open, the parent cannot grow, so that is the parent's length then.
    """

    __slots__ = ("container", "key", "parent", "size")

    def __init__(
        self,
        parent: Optional[_Frame],
        container: Union[Dict[str, JSONValue], List[JSONValue]],
        key: Optional[Key],
        size: int,
    ) -> None:
        self.parent = parent
        self.container = container
        self.key = key
        self.size = size


def _copy_json(value: JSONValue) -> JSONValue:
    """A deep copy of a JSON value (iterative: any depth)."""
    if not isinstance(value, (dict, list)):
        return value
    root: Union[Dict[str, JSONValue], List[JSONValue]] = {} if isinstance(value, dict) else []
    stack: List[Tuple[JSONValue, JSONValue]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        if isinstance(source, dict):
            out = cast("Dict[str, JSONValue]", target)
            for key, item in source.items():
                if isinstance(item, (dict, list)):
                    fresh: JSONValue = {} if isinstance(item, dict) else []
                    stack.append((item, fresh))
                    item = fresh
                out[key] = item
        else:
            seq = cast("List[JSONValue]", target)
            for item in cast("List[JSONValue]", source):
                if isinstance(item, (dict, list)):
                    fresh = {} if isinstance(item, dict) else []
                    stack.append((item, fresh))
                    item = fresh
                seq.append(item)
    return root


def _copy_head(
    container: Union[Dict[str, JSONValue], List[JSONValue]],
    size: int,
    key: Optional[Key],
    last: JSONValue,
) -> JSONValue:
    """A deep copy of the first ``size`` members of ``container``, ``key``'s being ``last``.

    ``key`` is ``None`` when every member is copied as it is.
    """
    if isinstance(container, list):
        out = [_copy_json(item) for item in container[: size - 1 if key is not None else size]]
        if key is not None:
            out.append(last)
        return out
    members: Dict[str, JSONValue] = {}
    for name, item in itertools.islice(container.items(), size):
        members[name] = last if name == key else _copy_json(item)
    return members


class PartialValue:
    """The value parsed so far, as of one :meth:`PartialJSONParser.snapshot`.

    ``value`` is the parser's live value (the same object in every item of one parser,
    growing); :meth:`copy` is the value as it was when this item was made.  See the module
    docstring for the contract.
    """

    __slots__ = ("_complete", "_frame", "_str_key", "_str_len", "_top_len", "_value")

    def __init__(
        self,
        value: JSONValue,
        frame: Optional[_Frame],
        top_len: int,
        str_key: Optional[Key],
        str_len: int,
        complete: bool,
    ) -> None:
        self._value = value
        self._frame = frame  # the innermost open container, None when there is none
        self._top_len = top_len  # its length then
        self._str_key = str_key  # where the open string sits in it (None: no open string)
        self._str_len = str_len  # the open string's length then, -1 when there is none
        self._complete = complete

    @property
    def value(self) -> JSONValue:
        """The live value: read it now, do not mutate it; it keeps growing (see ``copy``)."""
        return self._value

    @property
    def complete(self) -> bool:
        """Whether the whole value had been received when this item was made."""
        return self._complete

    @property
    def path(self) -> Tuple[Key, ...]:
        """Keys and indices from the root to the innermost value still growing then.

        That is the open string, else the innermost open container; ``()`` when the root
        itself is the growing value or the value is complete.
        """
        steps: List[Key] = []
        frame = self._frame
        while frame is not None and frame.key is not None:
            steps.append(frame.key)
            frame = frame.parent
        steps.reverse()
        if self._str_key is not None:
            steps.append(self._str_key)
        return tuple(steps)

    def copy(self) -> JSONValue:
        """A new deep copy of the value exactly as it was when this item was made."""
        frames: List[_Frame] = []
        frame = self._frame
        while frame is not None:
            frames.append(frame)
            frame = frame.parent
        if not frames:
            value = self._value
            if self._str_len >= 0 and isinstance(value, str):
                return value[: self._str_len]
            return _copy_json(value)
        top = frames[0].container
        last: JSONValue = None
        if self._str_key is not None:
            text = top[self._str_key]  # type: ignore[index]
            last = cast("str", text)[: self._str_len]
        value = _copy_head(top, self._top_len, self._str_key, last)
        for inner, outer in zip(frames, frames[1:]):
            value = _copy_head(outer.container, inner.size, inner.key, value)
        return value

    def __repr__(self) -> str:  # abridged: the value may be large
        state = "complete" if self._complete else "partial"
        return f"PartialValue({state}, path={self.path!r}, value={_REPR.repr(self._value)})"


class PartialJSONParser:
    """Parse one JSON value from chunks of its text, keeping the value parsed so far.

    ``feed(chunk)`` takes the next chunk (any split) and returns whether the value visible
    so far changed; ``snapshot()`` returns it as a :class:`PartialValue` (``None`` while
    nothing is visible yet); ``finish()`` ends the text and returns the value, equal to
    ``json.loads`` of the whole text.  ``max_number_length`` bounds the characters of one
    number (or literal) held while it is received.  See the module docstring.
    """

    __slots__ = (
        "_base",
        "_comma",
        "_complete",
        "_cont",
        "_dict",
        "_error",
        "_frame",
        "_key",
        "_line_start",
        "_lines",
        "_max_number",
        "_parts",
        "_pending",
        "_root",
        "_scanned",
        "_started",
        "_state",
        "_str_pos",
        "_tok",
        "_tok_len",
        "_tok_pos",
    )

    def __init__(self, *, max_number_length: int = MAX_NUMBER_LENGTH) -> None:
        if isinstance(max_number_length, bool) or not isinstance(max_number_length, int):
            raise TypeError(
                f"max_number_length must be an int, got {type(max_number_length).__name__}"
            )
        if max_number_length < 1:
            raise ValueError(f"max_number_length must be at least 1, got {max_number_length}")
        self._max_number = max_number_length
        self._state = _VALUE
        self._root: JSONValue = None
        self._started = False  # some of the root value is visible
        self._complete = False  # the root value is complete
        self._frame: Optional[_Frame] = None  # the innermost open container
        self._cont: Any = None  # its container (a dict or a list), or None at the root
        self._dict = False  # whether it is a dict
        self._key = ""  # in a dict: the key of the member being received
        self._parts: List[str] = []  # a key, or a string value's text not yet in the value
        self._pending = ""  # a split escape, read again at the next feed
        self._tok: List[str] = []  # a number or literal being received
        self._tok_len = 0
        self._tok_pos = 0
        self._str_pos = 0  # where the string being received starts
        self._comma = 0  # where the last comma between members is
        self._base = 0  # the position of the first character of the next text
        self._lines = 0  # newlines before it
        self._line_start = 0  # where its line starts
        self._scanned = 0
        self._error: Optional[PartialJSONError] = None

    # ----------------------------------------------------------------------------------------
    # Public API

    @property
    def chars_scanned(self) -> int:
        """The characters given to the scans so far: the text fed plus re-read escapes."""
        return self._scanned

    @property
    def started(self) -> bool:
        """Whether some of the value is visible (``snapshot()`` is not ``None``)."""
        return self._started

    @property
    def complete(self) -> bool:
        """Whether the whole value has been received (only whitespace may follow)."""
        return self._complete

    def feed(self, text: str) -> bool:
        """Take the next chunk of the text; return whether the visible value changed.

        Raises :class:`PartialJSONError` at the first character that cannot continue a
        JSON text; never for a text that is incomplete but could still become valid.
        """
        # The parser's state machine, in one function on purpose (an exception to the
        # 60-line rule, with _formats' two field scanners): ``state`` and the frame stack are the
        # whole state, and each character's step stays inline: this runs per character.
        state = self._state
        if state >= _FAILED:
            self._refuse("feed")
        if not isinstance(text, str):
            raise TypeError(f"feed() takes a str, got {type(text).__name__}")
        if self._pending:
            text = self._pending + text
            self._pending = ""
        size = len(text)
        self._scanned += size
        base = self._base
        pos = 0
        changed = False
        while pos < size:
            if state >= _STRING:  # in a string, a key or a token: carry on with it
                if state == _TOKEN:
                    end = _TOKEN_RUN.match(text, pos).end()  # type: ignore[union-attr]
                    if end > pos:
                        self._add_token(text, pos, end)
                        pos = end
                        if end == size:
                            break
                    token = "".join(self._tok)
                    self._tok = []
                    self._place(self._scalar(token, self._tok_pos, text))
                    changed = True
                    state = _AFTER if self._cont is not None else self._done()
                    continue
                end = _STR_RUN.match(text, pos).end()  # type: ignore[union-attr]
                if end > pos:
                    self._parts.append(text[pos:end])
                    pos = end
                    if state == _STRING:
                        changed = True
                    if end == size:
                        break
                char = text[end]
                if char == '"':
                    pos = end + 1
                    if state == _STRING:
                        self._extend()
                        if self._cont is None:
                            state = self._done()
                            changed = True
                        else:
                            state = _AFTER
                    else:
                        self._key = "".join(self._parts)
                        self._parts = []
                        state = _COLON
                elif char == "\\":
                    pos = self._escape(text, end)
                    if pos < 0:
                        break
                    if state == _STRING:
                        changed = True
                else:
                    self._fail("Invalid control character at", base + end, text)
                continue
            found = _NEXT.match(text, pos)
            if found is None:
                break  # whitespace up to the end
            kind = found.lastindex
            if kind == _K_CHAR:
                pos = found.end()
                char = text[pos - 1]
                if state == _AFTER:
                    if char == ",":
                        self._comma = base + pos - 1
                        state = _KEY if self._dict else _VALUE
                        continue
                    if char == ("}" if self._dict else "]"):
                        state = self._pop()
                        changed = changed or self._complete
                        continue
                elif state == _COLON:
                    if char == ":":
                        state = _VALUE
                        continue
                elif state <= _ITEM0:
                    if char == "{":
                        self._push({}, True)
                        state = _KEY0
                        changed = True
                        continue
                    if char == "[":
                        self._push([], False)
                        state = _ITEM0
                        changed = True
                        continue
                    if char == "]" and state == _ITEM0:
                        state = self._pop()
                        changed = changed or self._complete
                        continue
                elif char == "}" and state == _KEY0:
                    state = self._pop()
                    changed = changed or self._complete
                    continue
                self._fail_at_char(state, char, base + pos - 1, text)
            elif kind == _K_TOKEN:
                begin = found.start(_K_TOKEN)
                if state > _ITEM0 or text[begin] not in _TOKEN_START:
                    self._fail(_EXPECTING[state], base + begin, text)
                pos = found.end()
                if pos == size:  # it may go on in the next chunk
                    self._tok = []
                    self._tok_len = 0
                    self._tok_pos = base + begin
                    self._add_token(text, begin, pos)
                    state = _TOKEN
                    break
                if pos - begin > self._max_number:
                    self._fail(
                        f"Number longer than {self._max_number} characters", base + begin, text
                    )
                value = self._scalar(found.group(_K_TOKEN), base + begin, text)
                changed = True
                cont = self._cont
                if cont is None:
                    self._place(value)
                    state = self._done()
                elif self._dict:
                    cont[self._key] = value
                    state = _AFTER
                else:
                    cont.append(value)
                    state = _AFTER
            else:  # a string: whole (_K_CLOSED) or up to the end, an escape or a bad character
                begin = found.start(_K_BODY) - 1
                body = found.group(_K_BODY)
                pos = found.end()
                if state <= _ITEM0:
                    changed = True
                    if kind == _K_CLOSED:
                        cont = self._cont
                        if cont is None:
                            self._place(body)
                            state = self._done()
                        elif self._dict:
                            cont[self._key] = body
                            state = _AFTER
                        else:
                            cont.append(body)
                            state = _AFTER
                    else:
                        self._str_pos = base + begin
                        self._place("")
                        self._parts = [body] if body else []
                        state = _STRING
                elif state in (_KEY0, _KEY):
                    if kind == _K_CLOSED:
                        self._key = body
                        state = _COLON
                    else:
                        self._str_pos = base + begin
                        self._parts = [body] if body else []
                        state = _KEYSTR
                else:
                    self._fail(_EXPECTING[state], base + begin, text)
        self._state = state
        self._base = base + size - len(self._pending)
        newlines = text.count("\n")
        if newlines:
            self._lines += newlines
            self._line_start = base + text.rfind("\n") + 1
        return changed

    def snapshot(self) -> Optional[PartialValue]:
        """The value so far as a :class:`PartialValue`, or ``None`` while nothing is visible.

        O(1), plus appending to the string being received the text decoded since the last
        snapshot.  The item's ``value`` is the live value (see the module docstring).
        """
        if self._state == _FAILED:
            self._refuse("snapshot")
        if not self._started:
            return None
        cont = self._cont
        if self._state != _STRING:
            return PartialValue(
                self._root, self._frame, 0 if cont is None else len(cont), None, -1, self._complete
            )
        text = self._extend()
        if cont is None:
            return PartialValue(text, None, 0, None, len(text), False)
        key: Key = self._key if self._dict else len(cont) - 1
        return PartialValue(self._root, self._frame, len(cont), key, len(text), False)

    def finish(self) -> JSONValue:
        """End of the text: return the complete value (equal to ``json.loads`` of it).

        Raises :class:`PartialJSONError` when the text is incomplete.  May be called again;
        ``feed`` may not be called after it.
        """
        state = self._state
        if state == _FINISHED:
            return self._root
        if state == _FAILED:
            self._refuse("finish")
        end = self._base + len(self._pending)
        if state == _TOKEN:
            self._place(self._scalar("".join(self._tok), self._tok_pos, ""))
            if self._cont is None:
                self._complete = True
                state = _END
            else:
                state = _AFTER
        if state in (_STRING, _KEYSTR):
            self._fail("Unterminated string starting at", self._str_pos, "")
        if state != _END:
            self._fail(_EXPECTING[state], end, "")
        self._state = _FINISHED
        return self._root

    def __repr__(self) -> str:
        if self._state == _FAILED:
            status = "failed"
        elif self._complete:
            status = "complete"
        else:
            status = "started" if self._started else "empty"
        return f"PartialJSONParser({status}, {self._base + len(self._pending)} chars)"

    # ----------------------------------------------------------------------------------------
    # Internals

    def _place(self, value: JSONValue) -> None:
        """Put a value that has just started (or, for a scalar, ended) where it belongs."""
        cont = self._cont
        if cont is None:
            self._root = value
            self._started = True
        elif self._dict:
            cont[self._key] = value
        else:
            cont.append(value)

    def _push(self, container: Union[Dict[str, JSONValue], List[JSONValue]], is_dict: bool) -> None:
        cont = self._cont
        key: Optional[Key]
        if cont is None:
            self._root = container
            self._started = True
            key = None
            size = 0
        elif self._dict:
            key = self._key
            cont[key] = container
            size = len(cont)
        else:
            cont.append(container)
            size = len(cont)
            key = size - 1
        self._frame = _Frame(self._frame, container, key, size)
        self._cont = container
        self._dict = is_dict

    def _done(self) -> int:
        """The root value has just ended: return the next state."""
        self._complete = True
        return _END

    def _add_token(self, text: str, start: int, end: int) -> None:
        self._tok.append(text[start:end])
        self._tok_len += end - start
        if self._tok_len > self._max_number:
            self._fail(f"Number longer than {self._max_number} characters", self._tok_pos, text)

    def _pop(self) -> int:
        """Close the innermost container; return the next state."""
        frame = cast("_Frame", self._frame).parent
        self._frame = frame
        if frame is None:
            self._cont = None
            self._complete = True
            return _END
        cont = frame.container
        self._cont = cont
        self._dict = isinstance(cont, dict)
        return _AFTER

    def _extend(self) -> str:
        """Append the text received since the last call to the live string; return it."""
        cont = self._cont
        parts = self._parts
        text: str
        if not parts:
            if cont is None:
                text = cast("str", self._root)
            else:
                text = cont[self._key] if self._dict else cont[-1]
            return text
        new = parts[0] if len(parts) == 1 else "".join(parts)
        parts.clear()
        # Each ``text += new`` runs on the only reference to the string (the value's slot is
        # cleared first), so CPython can grow it in place instead of copying it.
        if cont is None:
            text = cast("str", self._root)
            self._root = None
            text += new
            self._root = text
        elif self._dict:
            key = self._key
            text = cont[key]
            cont[key] = None
            text += new
            cont[key] = text
        else:
            text = cont[-1]
            cont[-1] = None
            text += new
            cont[-1] = text
        return text

    def _escape(self, text: str, index: int) -> int:
        """Decode the escape at ``text[index]`` (a backslash) into ``_parts``.

        Returns the index after it, or -1 when the text ends before the escape is decided:
        the rest of the text (at most 11 characters) is then held in ``_pending``.
        """
        size = len(text)
        if index + 1 >= size:
            self._pending = text[index:]
            return -1
        kind = text[index + 1]
        simple = _SIMPLE.get(kind)
        if simple is not None:
            self._parts.append(simple)
            return index + 2
        if kind != "u":
            self._fail("Invalid \\escape", self._base + index, text)
        digits = text[index + 2 : index + 6]
        if len(digits) < 4:
            if _HEX_PREFIX.fullmatch(digits):
                self._pending = text[index:]
                return -1
            self._fail("Invalid \\uXXXX escape", self._base + index + 1, text)
        if not _HEX4.fullmatch(digits):
            self._fail("Invalid \\uXXXX escape", self._base + index + 1, text)
        code = int(digits, 16)
        if 0xD800 <= code <= 0xDBFF:
            low = text[index + 6 : index + 12]
            if len(low) == 6 and _LOW.fullmatch(low):
                code = 0x10000 + ((code - 0xD800) << 10) + (int(low[2:], 16) - 0xDC00)
                self._parts.append(chr(code))
                return index + 12
            if len(low) < 6 and _LOW_PREFIX.fullmatch(low):
                self._pending = text[index:]
                return -1
        self._parts.append(chr(code))
        return index + 6

    def _scalar(self, token: str, start: int, text: str) -> JSONValue:
        """The value of the number or literal ``token``, which starts at ``start``."""
        if token in _LITERALS:
            return _LITERALS[token]
        if token.isdigit() and (token[0] != "0" or len(token) == 1):  # ASCII: see _NEXT
            try:
                return int(token)
            except ValueError as error:  # more digits than sys.get_int_max_str_digits()
                self._fail(str(error), start, text)
        match = _NUMBER.fullmatch(token)
        if match is None:
            found = _NUMBER.match(token)
            valid = found.end() if found is not None else 0
            if not valid:
                for literal in _LITERALS:
                    if token.startswith(literal):
                        valid = len(literal)
                        break
            if not valid:
                self._fail("Expecting value", start, text)
            outer = "Extra data" if self._cont is None else "Expecting ',' delimiter"
            self._fail(outer, start + valid, text)
        try:
            if match.group(1) or match.group(2):
                return float(token)
            return int(token)
        except ValueError as error:  # more digits than int() accepts (sys.set_int_max_str_digits)
            self._fail(str(error), start, text)

    def _fail_at_char(self, state: int, char: str, pos: int, text: str) -> NoReturn:
        """Raise for a character that cannot come in ``state``, worded as ``json.loads`` is."""
        if _TRAILING_COMMA and state == _KEY and char == "}":
            self._fail("Illegal trailing comma before end of object", self._comma, text)
        if _TRAILING_COMMA and state == _VALUE and char == "]" and isinstance(self._cont, list):
            self._fail("Illegal trailing comma before end of array", self._comma, text)
        self._fail(_EXPECTING[state], pos, text)

    def _fail(self, msg: str, pos: int, text: str) -> NoReturn:
        """Raise (and remember) the error at absolute position ``pos`` in the whole text.

        ``text`` is the text being scanned, which starts at ``self._base``; an earlier
        position is on the current line (strings and tokens hold no newline).
        """
        index = pos - self._base
        before = text.count("\n", 0, index) if index > 0 else 0
        if before:
            lineno = self._lines + before + 1
            colno = index - text.rfind("\n", 0, index)
        else:
            lineno = self._lines + 1
            colno = pos - self._line_start + 1
        error = PartialJSONError(msg, pos, lineno, colno)
        self._error = error
        self._state = _FAILED
        self._pending = ""
        raise error

    def _refuse(self, method: str) -> NoReturn:
        error = self._error
        if error is None:
            raise RuntimeError(f"{method}() called after finish()")
        raise PartialJSONError(error.msg, error.pos, error.lineno, error.colno)
