"""Field formats: where one output field sits in the raw text of a structured LM reply.

A :class:`~streamify.StreamListener` is fed the raw chunks of an LM reply and must cut the text
of one field out of them.  How the field is delimited is the job of a *field format*::

    FieldFormat                    abstract base: new_scanner(field) -> FieldScanner
     ├── MarkerFormat              the field sits between a start marker and an end marker,
     │    │                        both written as templates; the scanning is done for you
     │    ├── ChatFormat           "chat":  [[ ## answer ## ]] ... up to the next [[ ## x ## ]]
     │    └── XMLFormat            "xml":   <answer> ... </answer>
     └── JSONFormat                "json":  {"answer": "..."}, string values decoded

A :class:`FieldScanner` holds the incremental state of one listener.  Its contract, which the
built-in scanners keep and a hand-written one must keep too:

* ``feed(text)`` takes the next raw chunk and returns the field text it made certain, as a
  sequence of ``(text, is_last)`` pieces.  A piece that is not last has non-empty text.  Each
  occurrence of the field ends with exactly one piece whose ``is_last`` is true (its text may be
  empty).  Text that might still turn out to be part of a marker is held back, never emitted.
* ``finish()`` is the end of one LM reply: it returns the held-back text of an occurrence that
  was still open (as its last piece) and goes back to the start-of-reply state.
* ``reset()`` forgets everything.
* A scanner never raises on malformed text: an LM may write anything.

Cost and hold-back.  What a scanner holds back between two feeds is of two kinds:

* the *tail*: text the next ``feed`` reads again, put in front of the new chunk.  It is
  bounded by the format, never by the input: shorter than the longest marker the format can
  write, a ``{name}`` counting :data:`NAME_MAX` characters (before the first chunk, it is the
  preamble); for JSON, at most 11 characters (an escape still undecided, ``\\ud83d\\udc0``).
* the *store*: text held back until what follows decides its fate, but never looked at again
  to decide it.  With ``trim``, the marker formats keep the run of whitespace that may turn
  out to be trailing: every place in it where an end marker could begin is already ruled
  out, and more text never rules one back in.  The JSON scanner keeps the key it is reading
  and a listened scalar until they end.  A store may grow as long as the input makes it, but
  it is only appended to, chunk by chunk, and read once: emitted when text follows it,
  dropped (a key: compared) when it ends.

So a ``feed`` costs O(chunk + tail), plus the text it emits or drops, and a reply of ``n``
characters costs O(n) in total however it is split (an empty chunk costs nothing, so there
are at most ``n`` feeds, each re-reading at most one bounded tail): never more because of
how much of the field came before, or because a run of whitespace or marker-like text is
long.  A hand-written scanner should keep the same shape; "bounded hold-back" means a
bounded tail.

Writing a new format is usually a :class:`MarkerFormat` with two templates, see its docstring.
"""

from __future__ import annotations

import abc
import json
import re
import string
from typing import TYPE_CHECKING, ClassVar, Final, Optional, Union, cast

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = (
    "CHAT",
    "ChatFormat",
    "FieldFormat",
    "FieldScanner",
    "FormatSpec",
    "JSONFormat",
    "MarkerFormat",
    "Piece",
    "XMLFormat",
    "check_field_format",
    "resolve_field_format",
)

Piece = tuple[str, bool]
"""One result of a scanner: ``(text, is_last)``."""

_EMPTY: Final[tuple[Piece, ...]] = ()

NAME_MAX: Final = 200
"""Longest field name accepted by a listener and matched by a ``{name}`` placeholder."""

_NAME_RE: Final = re.compile(rf"\w{{1,{NAME_MAX}}}")
_NON_SPACE: Final = re.compile(r"\S")


class FieldScanner(abc.ABC):
    """Incremental state of one listener for one field (see the module docstring)."""

    __slots__ = ()

    @abc.abstractmethod
    def feed(self, text: str) -> Sequence[Piece]:
        """Take the next raw chunk; return the ``(text, is_last)`` pieces it made certain."""

    @abc.abstractmethod
    def finish(self) -> Sequence[Piece]:
        """End of one LM reply: flush an open occurrence and return to the start state."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget everything, as if just created."""


class FieldFormat(abc.ABC):
    """How an output field is laid out in an LM reply.

    Subclass :class:`MarkerFormat` for a format whose fields are delimited by markers (most
    are).  Subclass this class directly only for a format that needs its own parser, as JSON
    does: implement :meth:`new_scanner` to return a :class:`FieldScanner` that keeps the
    contract written in this module's docstring.

    A format object holds configuration only and may be shared by any number of listeners;
    all state lives in the scanners.
    """

    name: ClassVar[str] = "custom"
    """A short name used in messages and reprs."""

    @abc.abstractmethod
    def new_scanner(self, field: str) -> FieldScanner:
        """Return a fresh scanner for the field called ``field`` (a valid field name)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# --------------------------------------------------------------------------------------------
# Marker formats


_NO: Final = -1
_PARTIAL: Final = -2

_Parts = tuple[Optional[str], ...]
"""A compiled end marker: literal strings, and ``None`` for a ``{name}`` placeholder."""


def _match_parts(parts: _Parts, text: str, pos: int) -> int:
    """Match a compiled marker at ``text[pos:]``.

    Returns the index just after the marker if it is complete, ``_PARTIAL`` if ``text`` ends
    while it still could become the marker, ``_NO`` if it cannot.
    """
    size = len(text)
    for part in parts:
        if part is None:
            found = _NAME_RE.match(text, pos)
            if found is None:
                return _PARTIAL if pos >= size else _NO
            pos = found.end()
            if pos >= size:
                return _PARTIAL
        elif text.startswith(part, pos):
            pos += len(part)
        elif size - pos < len(part) and part.startswith(text[pos:]):
            return _PARTIAL
        else:
            return _NO
    return pos


def _compile_template(template: object, field: str, what: str, allow_name: bool) -> _Parts:
    if not isinstance(template, str):
        raise TypeError(f"{what} template must be a str, got {type(template).__name__}")
    if not template:
        raise ValueError(
            f"{what} template is empty; set it on the MarkerFormat subclass or pass it to "
            'the constructor, e.g. MarkerFormat(start="<{field}>", end="</{field}>")'
        )
    parts: list[Optional[str]] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"{what} template {template!r} is malformed ({exc}); write literal braces as "
            "'{{' and '}}'"
        ) from None
    for literal, placeholder, spec, conversion in parsed:
        if literal:
            if parts and isinstance(parts[-1], str):
                parts[-1] += literal
            else:
                parts.append(literal)
        if placeholder is None:
            continue
        if spec or conversion:
            raise ValueError(
                f"{what} template {template!r}: placeholders take no format spec or conversion"
            )
        if placeholder == "field":
            if parts and isinstance(parts[-1], str):
                parts[-1] += field
            else:
                parts.append(field)
        elif placeholder == "name" and allow_name:
            parts.append(None)
        else:
            allowed = "{field} and {name}" if allow_name else "{field}"
            raise ValueError(
                f"{what} template {template!r} has the unknown placeholder {{{placeholder}}}; "
                f"only {allowed} may be used (write literal braces as '{{{{' and '}}}}')"
            )
    if not parts or parts[0] is None:
        raise ValueError(
            f"{what} template {template!r} must begin with literal text (it is what the "
            "scanner looks for first)"
        )
    for index, part in enumerate(parts):
        if part is not None:
            continue
        after = parts[index + 1] if index + 1 < len(parts) else None
        if after is None or re.match(r"\w", after):
            raise ValueError(
                f"{what} template {template!r}: {{name}} must be followed by literal text "
                "that does not begin with a letter, digit or underscore"
            )
    return tuple(parts)


class MarkerFormat(FieldFormat):
    """A format whose fields begin at a start marker and end at an end marker.

    Markers are templates: ``{field}`` stands for the listened field's name and, in end
    markers, ``{name}`` for any field name (1 to 200 letters, digits or underscores); literal
    braces are written ``{{`` and ``}}``.  Set them as class attributes of a subclass or pass
    them to the constructor::

        class HeadingFormat(MarkerFormat):
            name = "heading"
            start = "### {field}\\n"       # the field starts after its heading line
            end = "\\n### "                # and ends at the next heading

        StreamListener("answer", field_format=MarkerFormat(start="<<{field}>>", end="<<end>>"))

    * ``start``: the start marker (``{field}`` only).  The first occurrence in the reply starts
      the field.
    * ``end``: one end marker or a tuple of alternatives; the first one found ends the field,
      and so does the end of the reply.  Scanning for the next start resumes *at* the end
      marker, so an end marker may also be the start marker of the next field.
    * ``trim`` (default true): drop whitespace right after the start marker and right before
      the end marker, as DSPy does.
    * ``preamble`` (default ``""``): text the scanner sees before each reply, so that a start
      marker written as ``"\\n{field}:"`` also matches on the reply's first line when the
      preamble is ``"\\n"``.

    Everything else is shared machinery: markers split across chunks, text that only *looks*
    like the beginning of a marker (released as soon as it cannot be one), whitespace that is
    held back until it is known not to be trailing.  Field text is passed through as written
    (no unescaping).  A ``{name}`` placeholder matches greedily, without backtracking.

    The constructor checks the templates at once: ``TypeError`` for a marker, ``trim`` or
    ``preamble`` of the wrong type (or an empty ``end`` tuple), ``ValueError`` for a
    template that does not parse (a stray brace, an unknown placeholder, ``{name}`` in the
    start marker).
    """

    start: ClassVar[str] = ""
    end: ClassVar[Union[str, tuple[str, ...]]] = ()
    trim: ClassVar[bool] = True
    preamble: ClassVar[str] = ""

    def __init__(
        self,
        *,
        start: Optional[str] = None,
        end: Union[str, tuple[str, ...], None] = None,
        trim: Optional[bool] = None,
        preamble: Optional[str] = None,
    ) -> None:
        # Instance attributes shadow the class defaults; mypy sees them as the ClassVars.
        if start is not None:
            self.__dict__["start"] = start
        if end is not None:
            self.__dict__["end"] = end
        if trim is not None:
            self.__dict__["trim"] = trim
        if preamble is not None:
            self.__dict__["preamble"] = preamble
        if not isinstance(self.trim, bool):
            raise TypeError(f"trim must be a bool, got {type(self.trim).__name__}")
        if not isinstance(self.preamble, str):
            raise TypeError(f"preamble must be a str, got {type(self.preamble).__name__}")
        self._compile("x")  # refuse bad templates now, not when the first chunk arrives

    def _compile(self, field: str) -> _MarkerSpec:
        cache: dict[str, _MarkerSpec] = self.__dict__.setdefault("_compiled", {})
        spec = cache.get(field)
        if spec is not None:
            return spec
        start = _compile_template(self.start, field, "start marker", allow_name=False)[0]
        assert start is not None  # only {field}, checked above
        ends = self.end
        if isinstance(ends, str):
            ends = (ends,)
        if not isinstance(ends, tuple) or not ends:
            raise TypeError(
                "end must be a str or a non-empty tuple of str (the end marker templates), "
                f"got {ends!r}"
            )
        end_parts = tuple(
            _compile_template(template, field, "end marker", allow_name=True) for template in ends
        )
        spec = _MarkerSpec(start, end_parts, self.trim, self.preamble)
        cache[field] = spec
        return spec

    def new_scanner(self, field: str) -> FieldScanner:
        return _MarkerScanner(self._compile(field))

    def __repr__(self) -> str:
        if type(self) is not MarkerFormat:
            return f"{type(self).__name__}()"
        return f"MarkerFormat(start={self.start!r}, end={self.end!r})"


class _MarkerSpec:
    """The compiled markers of one :class:`MarkerFormat` for one field (shared, read-only)."""

    __slots__ = ("ends", "preamble", "single_trigger", "start", "start0", "trigger_re", "trim")

    def __init__(self, start: str, ends: tuple[_Parts, ...], trim: bool, preamble: str) -> None:
        self.start = start
        self.start0 = start[0]
        self.ends = ends
        self.trim = trim
        self.preamble = preamble
        triggers = sorted({parts[0][0] for parts in ends if parts[0]})
        self.single_trigger = triggers[0] if len(triggers) == 1 else ""
        self.trigger_re = re.compile("[" + "".join(re.escape(c) for c in triggers) + "]")


class _MarkerScanner(FieldScanner):
    """The shared scanner of every :class:`MarkerFormat`.

    State: ``_in_field`` (between a start marker and its end), ``_fresh`` (in the field, but
    no text emitted yet, so whitespace is still leading), ``_pending``, the *tail* (held back
    and read again by the next feed) and ``_space``, the *store* (held back, never read
    again until it is emitted or dropped):

    * before the field, the tail is the longest end of the text that may begin the start
      marker (the preamble, before the first chunk) and the store is empty;
    * in the field, the tail is the text from the first place where an end marker may still
      begin (so it is shorter than the longest end marker) and, with ``trim``, the store is
      the run of whitespace right before the tail (or at the end of the text, when there is
      no tail), as a list of the pieces it arrived in.  Every place in that run where an end
      marker could begin has already been ruled out, and more text never rules a place back
      in, so the run is not scanned again: it is appended to, then emitted once when
      non-whitespace follows it, or dropped when the field ends right after it.

    ``_steady`` caches "in the field, not fresh, nothing held back": the state of the fast
    path.
    """

    __slots__ = (
        "_ends",
        "_fresh",
        "_in_field",
        "_pending",
        "_preamble",
        "_single_trigger",
        "_space",
        "_start",
        "_start0",
        "_steady",
        "_trigger_re",
        "_trim",
    )

    def __init__(self, spec: _MarkerSpec) -> None:
        self._start = spec.start
        self._start0 = spec.start0
        self._ends = spec.ends
        self._trim = spec.trim
        self._preamble = spec.preamble
        self._single_trigger = spec.single_trigger
        self._trigger_re = spec.trigger_re
        self._pending = spec.preamble
        self._space: list[str] = []
        self._in_field = False
        self._fresh = False
        self._steady = False

    def reset(self) -> None:
        self._pending = self._preamble
        self._space = []
        self._in_field = False
        self._fresh = False
        self._steady = False

    def feed(self, text: str) -> Sequence[Piece]:
        # The scanner's state machine, in one function on purpose (an exception to the
        # 60-line rule, like the JSON scanner's and _partial_json's): states are the fields
        # above (_pending, _in_field, _space, _fresh, _steady), and this runs for every chunk
        # of every reply, where a call per state transition would show in the per-chunk cost.
        if not text:
            return _EMPTY
        if not self._steady:
            pending = self._pending
            if pending:
                self._pending = ""
                text = pending + text
            elif not self._in_field and self._start0 not in text:
                return _EMPTY
            if not self._in_field or self._fresh:
                return self._scan(text)
        # Fast path: in the field and past its leading whitespace.  A tail begins with a
        # trigger, so when ``text`` has none, only the whitespace store may be held back.
        trigger = self._single_trigger
        if trigger:
            if trigger in text:
                return self._scan(text)
        elif self._trigger_re.search(text) is not None:
            return self._scan(text)
        if not self._trim:
            self._steady = True
            return [(text, False)]
        body = text.rstrip()
        cut = len(body)
        if cut == len(text):
            if self._space:
                text = self._take_space(text)
            self._steady = True
            return [(text, False)]
        self._steady = False
        if not cut:
            self._space.append(text)  # whitespace only: it may still turn out trailing
            return _EMPTY
        if self._space:
            body = self._take_space(body)
        self._space.append(text[cut:])  # trailing whitespace: wait for what follows
        return [(body, False)]

    def _take_space(self, text: str) -> str:
        """Empty the whitespace store, returning its text followed by ``text``."""
        space = self._space
        space.append(text)
        self._space = []
        return "".join(space)

    def _scan(self, text: str) -> list[Piece]:
        out = self._scan_pieces(text)
        self._steady = self._in_field and not self._fresh and not self._pending and not self._space
        return out

    def _scan_pieces(self, text: str) -> list[Piece]:
        out: list[Piece] = []
        pos = 0
        while True:
            if not self._in_field:
                start = self._start
                found = text.find(start, pos)
                if found < 0:
                    self._pending = self._start_tail(text, pos)
                    return out
                pos = found + len(start)
                self._in_field = True
                self._fresh = self._trim
            if self._fresh:
                first = _NON_SPACE.search(text, pos)
                if first is None:
                    return out  # only leading whitespace so far: dropped
                pos = first.start()
                self._fresh = False
            index, end = self._find_end(text, pos)
            if end >= 0:
                body = text[pos:index]
                if self._trim:
                    body = body.rstrip()
                    if not body:
                        self._space = []  # trailing whitespace: dropped
                    elif self._space:
                        body = self._take_space(body)
                out.append((body, True))
                self._in_field = False
                pos = index  # the end marker may be the start of the next occurrence
                continue
            cut = len(text) if index < 0 else index
            body = text[pos:cut]
            self._pending = text[cut:]
            if self._trim:
                kept = body.rstrip()
                if not kept:
                    if body:
                        self._space.append(body)  # more whitespace: still maybe trailing
                    return out
                trailing = body[len(kept) :]
                if self._space:
                    kept = self._take_space(kept)
                if trailing:
                    self._space.append(trailing)
                body = kept
            if body:
                out.append((body, False))
            return out

    def _find_end(self, text: str, pos: int) -> tuple[int, int]:
        """First position from ``pos`` where an end marker is complete or may begin.

        Returns ``(index, end)``: ``end`` is the index after a complete marker, or
        ``_PARTIAL``; ``(-1, _NO)`` when there is none.
        """
        trigger = self._single_trigger
        while True:
            if trigger:
                index = text.find(trigger, pos)
            else:
                found = self._trigger_re.search(text, pos)
                index = -1 if found is None else found.start()
            if index < 0:
                return -1, _NO
            result = _NO
            for parts in self._ends:
                matched = _match_parts(parts, text, index)
                if matched >= 0:
                    return index, matched
                if matched == _PARTIAL:
                    result = _PARTIAL
            if result == _PARTIAL:
                return index, _PARTIAL
            pos = index + 1

    def _start_tail(self, text: str, pos: int) -> str:
        """The longest end of ``text[pos:]`` that is a proper beginning of the start marker."""
        start = self._start
        index = max(pos, len(text) - len(start) + 1)
        while True:
            index = text.find(self._start0, index)
            if index < 0:
                return ""
            if start.startswith(text[index:]):
                return text[index:]
            index += 1

    def finish(self) -> Sequence[Piece]:
        out: Sequence[Piece] = _EMPTY
        if self._in_field:
            # What is held back never became an end marker: it is field text, but trailing
            # whitespace is trimmed.  (While ``_fresh``, nothing is held back.)
            body = self._pending
            if self._trim:
                body = body.rstrip()
                if not body:
                    self._space = []
                elif self._space:
                    body = self._take_space(body)
            out = [(body, True)]
        self.reset()
        return out


class ChatFormat(MarkerFormat):
    """DSPy's chat adapter layout: ``[[ ## answer ## ]]`` opens the field, the next
    ``[[ ## <any name> ## ]]`` marker (typically ``[[ ## completed ## ]]``) or the end of the
    reply closes it.  Whitespace after the opening and before the closing marker is dropped."""

    name = "chat"
    start = "[[ ## {field} ## ]]"
    end = "[[ ## {name} ## ]]"


class XMLFormat(MarkerFormat):
    """``<answer>`` opens the field, the exact closing tag ``</answer>`` (or the end of the
    reply) closes it.  The content may contain other tags and ``<`` freely; it is passed
    through as written, without entity decoding (``&lt;`` stays ``&lt;``), and tags with
    attributes (``<answer lang="en">``) are not recognised.  Whitespace after the opening and
    before the closing tag is dropped."""

    name = "xml"
    start = "<{field}>"
    end = "</{field}>"


# --------------------------------------------------------------------------------------------
# JSON


_J_OUTSIDE: Final = 0  # not in a top-level object: waiting for "{"
_J_OBJECT: Final = 1  # in a top-level object, between tokens
_J_KEY: Final = 2  # in a top-level key string
_J_AFTER_KEY: Final = 3  # after the listened key: waiting for ":"
_J_VALUE: Final = 4  # after "<key>":  waiting for the value
_J_STRING: Final = 5  # in a string that is skipped (returns to ``_return``)
_J_NESTED: Final = 6  # in a container value of another key: skipped
_J_TEXT: Final = 7  # in the listened string value: decoded and emitted
_J_RAW: Final = 8  # in the listened container value: emitted as written
_J_SCALAR: Final = 9  # in the listened number / true / false / null: emitted at its end

_J_OBJECT_SPECIAL: Final = re.compile(r'[{}\[\]",:]')
_J_NESTED_SPECIAL: Final = re.compile(r'[{}\[\]"]')
_J_STRING_SPECIAL: Final = re.compile(r'["\\]')
_J_SCALAR_END: Final = re.compile(r"[\s,}\]]")
_J_HEX4: Final = re.compile(r"[0-9a-fA-F]{4}")
_J_HEX_PREFIX: Final = re.compile(r"[0-9a-fA-F]{0,3}")
_J_LOW: Final = re.compile(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_J_LOW_PREFIX: Final = re.compile(r"(?:\\(?:u(?:[dD](?:[c-fC-F][0-9a-fA-F]?)?)?)?)?")
_J_SIMPLE: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def _decode_escape(text: str, index: int, final: bool) -> tuple[str, int]:
    """Decode the escape at ``text[index]`` (a backslash) in a JSON string.

    Returns ``(decoded, length)``; ``length`` is 0 when the text ends before the escape can
    be decided (never when ``final``).  Invalid escapes are kept as written.  A high surrogate
    followed by a low one becomes one character; a lone surrogate stays a lone surrogate, as
    with :func:`json.loads`.
    """
    size = len(text)
    if index + 1 >= size:
        return ("\\", 1) if final else ("", 0)
    kind = text[index + 1]
    simple = _J_SIMPLE.get(kind)
    if simple is not None:
        return simple, 2
    if kind != "u":
        return text[index : index + 2], 2
    digits = text[index + 2 : index + 6]
    if len(digits) < 4 or not _J_HEX4.fullmatch(digits):
        if len(digits) < 4 and not final and _J_HEX_PREFIX.fullmatch(digits):
            return "", 0
        return text[index : index + 2], 2
    code = int(digits, 16)
    if 0xD800 <= code <= 0xDBFF:
        low = text[index + 6 : index + 12]
        if len(low) == 6 and _J_LOW.fullmatch(low):
            low_code = int(low[2:], 16)
            return chr(0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00)), 12
        if len(low) < 6 and not final and _J_LOW_PREFIX.fullmatch(low):
            return "", 0
    return chr(code), 6


def _decode_key(raw: str) -> str:
    if "\\" not in raw:
        return raw
    try:
        key = json.loads('"' + raw + '"')
    except ValueError:
        return raw
    return key if isinstance(key, str) else raw


class JSONFormat(FieldFormat):
    """The reply is a JSON object; the field is the value of its top-level key.

    A string value is streamed *decoded* (every JSON escape, surrogate pairs joined, even when
    an escape is split across chunks) and exactly as written otherwise: no whitespace is
    trimmed.  Any other value (number, ``true``/``false``/``null``, object, array) is streamed
    as its raw JSON text.  The scanner follows the JSON structure, so a key's text inside
    another string or inside a nested object never counts; text outside the object (a
    Markdown code fence, say) is ignored, and several objects in a row are read one after the
    other.  Invalid escapes are kept as written.
    """

    name = "json"

    def new_scanner(self, field: str) -> FieldScanner:
        return _JSONScanner(field)


class _JSONScanner(FieldScanner):
    __slots__ = (
        "_depth",
        "_escaped",
        "_field",
        "_in_string",
        "_key_next",
        "_key_parts",
        "_pending",
        "_return",
        "_scalar",
        "_state",
        "value_kind",
    )

    def __init__(self, field: str) -> None:
        self._field = field
        self._state = _J_OUTSIDE
        # What the listened value is, once it has started: "string" (pieces are its decoded
        # text), "container" (pieces are its JSON text as written) or "scalar" (one piece, as
        # written); None before.  Partial-value listeners read it.
        self.value_kind: Optional[str] = None
        self._pending = ""  # a split escape in the listened string, held back
        self._key_next = False  # in a top-level object: the next string is a key
        self._key_parts: list[str] = []
        self._escaped = False  # the previous chunk ended with a backslash in a string
        self._return = _J_OBJECT  # state after the skipped string
        self._depth = 0  # nesting inside a skipped or streamed container
        self._in_string = False  # in a string inside the streamed container
        self._scalar: list[str] = []

    def reset(self) -> None:
        self._state = _J_OUTSIDE
        self.value_kind = None
        self._pending = ""
        self._key_next = False
        self._key_parts = []
        self._escaped = False
        self._return = _J_OBJECT
        self._depth = 0
        self._in_string = False
        self._scalar = []

    def feed(self, text: str) -> Sequence[Piece]:
        # The JSON field scanner's state machine, in one function on purpose (an exception to
        # the 60-line rule, like the marker scanner's and _partial_json's): ``_state`` and the
        # fields set in __init__ are the whole state, and each character's step stays inline
        # because this runs for every chunk of every reply.
        if not text:
            return _EMPTY  # (an undecided escape stays undecided: no need to read it again)
        if self._pending:
            text = self._pending + text
            self._pending = ""
        elif self._state == _J_TEXT and '"' not in text and "\\" not in text:
            return [(text, False)]
        out: list[Piece] = []
        pos = 0
        size = len(text)
        while pos < size:
            state = self._state
            if state == _J_TEXT:
                pos = self._decode(text, pos, out)
            elif state == _J_OUTSIDE:
                pos = text.find("{", pos)
                if pos < 0:
                    break
                pos += 1
                self._state = _J_OBJECT
                self._key_next = True
            elif state == _J_OBJECT:
                found = _J_OBJECT_SPECIAL.search(text, pos)
                if found is None:
                    break
                pos = found.end()
                char = found.group()
                if char == '"':
                    if self._key_next:
                        self._state = _J_KEY
                        self._key_parts = []
                    else:
                        self._state = _J_STRING
                        self._return = _J_OBJECT
                elif char == "{" or char == "[":
                    self._state = _J_NESTED
                    self._depth = 1
                elif char == "}":
                    self._state = _J_OUTSIDE
                elif char == ",":
                    self._key_next = True
                elif char == ":":
                    self._key_next = False
            elif state == _J_KEY:
                pos = self._skip_string(text, pos, self._key_parts)
                if pos >= 0:
                    key = _decode_key("".join(self._key_parts))
                    self._key_parts = []
                    self._key_next = False
                    self._state = _J_AFTER_KEY if key == self._field else _J_OBJECT
            elif state == _J_STRING:
                pos = self._skip_string(text, pos, None)
                if pos >= 0:
                    self._state = self._return
            elif state == _J_NESTED:
                found = _J_NESTED_SPECIAL.search(text, pos)
                if found is None:
                    break
                pos = found.end()
                char = found.group()
                if char == '"':
                    self._state = _J_STRING
                    self._return = _J_NESTED
                elif char == "{" or char == "[":
                    self._depth += 1
                else:
                    self._depth -= 1
                    if self._depth == 0:
                        self._state = _J_OBJECT
            elif state == _J_AFTER_KEY:
                found = _NON_SPACE.search(text, pos)
                if found is None:
                    break
                pos = found.start()
                if text[pos] == ":":
                    pos += 1
                    self._state = _J_VALUE
                else:
                    self._state = _J_OBJECT  # not JSON after all: carry on with the object
            elif state == _J_VALUE:
                found = _NON_SPACE.search(text, pos)
                if found is None:
                    break
                pos = found.start()
                char = text[pos]
                if char == '"':
                    pos += 1
                    self._state = _J_TEXT
                    self.value_kind = "string"
                elif char == "{" or char == "[":
                    self._state = _J_RAW
                    self.value_kind = "container"
                    self._depth = 0
                    self._in_string = False
                elif char == "," or char == "}" or char == "]":
                    self._state = _J_OBJECT  # a missing value: nothing to stream
                else:
                    self._state = _J_SCALAR
                    self.value_kind = "scalar"
                    self._scalar = []
            elif state == _J_RAW:
                pos = self._raw(text, pos, out)
            else:  # _J_SCALAR
                found = _J_SCALAR_END.search(text, pos)
                if found is None:
                    self._scalar.append(text[pos:])
                    break
                index = found.start()
                self._scalar.append(text[pos:index])
                out.append(("".join(self._scalar), True))
                self._scalar = []
                self._state = _J_OBJECT
                pos = index
            if pos < 0:
                break
        return out

    def _skip_string(self, text: str, pos: int, parts: Optional[list[str]]) -> int:
        """Skip string content from ``pos``; return the index after the closing quote, or -1."""
        start = pos
        if self._escaped:
            self._escaped = False
            pos += 1
        size = len(text)
        while True:
            found = _J_STRING_SPECIAL.search(text, pos)
            if found is None:
                if parts is not None:
                    parts.append(text[start:])
                return -1
            index = found.start()
            if text[index] == '"':
                if parts is not None:
                    parts.append(text[start:index])
                return index + 1
            if index + 1 >= size:
                self._escaped = True
                if parts is not None:
                    parts.append(text[start:])
                return -1
            pos = index + 2

    def _decode(self, text: str, pos: int, out: list[Piece]) -> int:
        """Decode the listened string from ``pos``; return the index after it, or -1."""
        parts: list[str] = []
        start = pos
        while True:
            found = _J_STRING_SPECIAL.search(text, pos)
            if found is None:
                parts.append(text[start:])
                break
            index = found.start()
            parts.append(text[start:index])
            if text[index] == '"':
                out.append(("".join(parts), True))
                self._state = _J_OBJECT
                return index + 1
            decoded, length = _decode_escape(text, index, final=False)
            if not length:
                self._pending = text[index:]
                break
            parts.append(decoded)
            pos = start = index + length
        body = "".join(parts)
        if body:
            out.append((body, False))
        return -1

    def _raw(self, text: str, pos: int, out: list[Piece]) -> int:
        """Stream the listened container from ``pos``; return the index after it, or -1."""
        # The same bracket counting as feed()'s _J_NESTED state, which skips a container
        # nobody listens to; this one keeps the text and follows strings with a flag instead
        # of a state, so neither loop pays for the other's work on the per-chunk path.
        start = pos
        size = len(text)
        while pos < size:
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                    pos += 1
                    continue
                found = _J_STRING_SPECIAL.search(text, pos)
                if found is None:
                    break
                index = found.start()
                if text[index] == "\\":
                    if index + 1 >= size:
                        self._escaped = True
                        break
                    pos = index + 2
                else:
                    self._in_string = False
                    pos = index + 1
            else:
                found = _J_NESTED_SPECIAL.search(text, pos)
                if found is None:
                    break
                pos = found.end()
                char = found.group()
                if char == '"':
                    self._in_string = True
                elif char == "{" or char == "[":
                    self._depth += 1
                else:
                    self._depth -= 1
                    if self._depth == 0:
                        out.append((text[start:pos], True))
                        self._state = _J_OBJECT
                        return pos
        if start < size:
            out.append((text[start:], False))
        return -1

    def finish(self) -> Sequence[Piece]:
        out: Sequence[Piece] = _EMPTY
        state = self._state
        if state == _J_TEXT:
            text = self._pending
            parts: list[str] = []
            pos = 0
            while pos < len(text):
                index = text.find("\\", pos)
                if index < 0:
                    parts.append(text[pos:])
                    break
                parts.append(text[pos:index])
                decoded, length = _decode_escape(text, index, final=True)
                parts.append(decoded)
                pos = index + length
            out = [("".join(parts), True)]
        elif state == _J_RAW:
            out = [("", True)]
        elif state == _J_SCALAR:
            out = [("".join(self._scalar), True)]
        self.reset()
        return out


# --------------------------------------------------------------------------------------------
# Resolution

CHAT: Final = ChatFormat()
"""The default format."""

_BUILTIN: Final[dict[str, FieldFormat]] = {
    "chat": CHAT,
    "json": JSONFormat(),
    "xml": XMLFormat(),
}

_CHOICES: Final = '"chat", "json", "xml", a FieldFormat instance or None'

FormatSpec = Union[str, FieldFormat, None]
"""What a ``field_format`` argument may be."""


def resolve_field_format(value: object, what: str = "field_format") -> Optional[FieldFormat]:
    """Turn a ``field_format`` argument into a :class:`FieldFormat` (``None`` stays ``None``).

    Raises ``TypeError`` / ``ValueError`` with a message that says what to pass.
    """
    if value is None:
        return None
    if isinstance(value, FieldFormat):
        return value
    if isinstance(value, str):
        found = _BUILTIN.get(value)
        if found is None:
            raise ValueError(f"{what} must be {_CHOICES}, got {value!r}")
        return found
    if isinstance(value, type) and issubclass(value, FieldFormat):
        raise TypeError(
            f"{what} must be a FieldFormat instance, not the class {value.__name__}; "
            f"pass {value.__name__}() instead"
        )
    raise TypeError(f"{what} must be {_CHOICES}, got {type(value).__name__}")


def check_field_format(value: object, what: str = "field_format") -> FormatSpec:
    """Validate a ``field_format`` argument and return it unchanged (for decorators).

    Raises ``TypeError`` / ``ValueError`` with a message that says what to pass.
    """
    resolve_field_format(value, what)
    return cast("FormatSpec", value)
