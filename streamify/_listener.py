"""``StreamListener``: cut the text of one output field out of a raw LM token stream.

The listener is fed the raw chunks of an LM reply (``receive`` / ``feed``), split anywhere,
and produces :class:`~streamify.StreamResponse` chunks holding only the text of its field,
markers stripped.  How the field is delimited is a :class:`~streamify.FieldFormat` (see
``_formats.py``); the listener adds validation, the tags put on each response and the
``allow_reuse`` policy.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Final, Optional

from ._formats import (
    CHAT,
    NAME_MAX,
    FieldFormat,
    FieldScanner,
    FormatSpec,
    JSONFormat,
    check_field_format,
    resolve_field_format,
)
from ._messages import PartialResponse, StreamResponse
from ._partial_json import PartialJSONParser

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._formats import Piece

__all__ = ("StreamListener", "check_field_format")

_FIELD_NAME: Final = re.compile(r"\w+")

_new: Final = object.__new__


def _build_fast(proto: dict[str, Any], chunk: str, last: bool) -> StreamResponse:
    """A ``StreamResponse`` made by filling its ``__dict__`` from a prototype.

    A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__`` (about
    0.75 µs on CPython 3.11); this makes the same, equal instance in about a third of that.
    The hot paths of :class:`StreamListener` inline it.
    """
    response: StreamResponse = _new(StreamResponse)
    fields = response.__dict__
    fields.update(proto)
    fields["chunk"] = chunk
    fields["is_last_chunk"] = last
    return response


def _build_plain(proto: dict[str, Any], chunk: str, last: bool) -> StreamResponse:
    return StreamResponse(**{**proto, "chunk": chunk, "is_last_chunk": last})


def _fast_build_is_safe() -> bool:
    """Check the shortcut against the real constructor once.

    Should ``StreamResponse`` ever change shape (slots, ``__post_init__``, new fields), the
    plain constructor is used instead.
    """
    proto = {
        "predict_name": "p",
        "signature_field_name": "f",
        "chunk": "",
        "is_last_chunk": False,
        "call_id": "c",
        "parent_call_id": "q",
    }
    try:
        fast = _build_fast(proto, "x", True)
        plain = _build_plain(proto, "x", True)
        return (
            fast == plain
            and hash(fast) == hash(plain)
            and repr(fast) == repr(plain)
            and list(vars(fast).items()) == list(vars(plain).items())
        )
    except Exception:
        return False


_FAST: Final = _fast_build_is_safe()
_build: Final = _build_fast if _FAST else _build_plain


def _check_chunk(chunk: object, method: str) -> None:
    """Refuse a chunk that is not a ``str`` (a ``str`` subclass is fine)."""
    if isinstance(chunk, str):
        return
    kind = type(chunk).__name__
    hint = "; decode it first" if isinstance(chunk, (bytes, bytearray, memoryview)) else ""
    raise TypeError(f"StreamListener.{method}() takes str chunks, got {kind}{hint}")


def _checked_field_name(name: object) -> str:
    """``signature_field_name`` itself, or the ``TypeError``/``ValueError`` saying what to pass."""
    if not isinstance(name, str):
        raise TypeError(
            "signature_field_name must be a str naming the output field to stream, "
            f"got {type(name).__name__}"
        )
    if not name:
        raise ValueError(
            "signature_field_name must not be empty; pass the name of the output field "
            'to stream, e.g. StreamListener("answer")'
        )
    if len(name) > NAME_MAX:
        raise ValueError(
            f"signature_field_name is {len(name)} characters long; field names are "
            f"limited to {NAME_MAX} characters"
        )
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(
            "signature_field_name must contain only letters, digits and underscores "
            f"(the name of an output field), got {name!r}"
        )
    return name


def _check_options(
    predict_name: object,
    allow_reuse: object,
    field_format: FormatSpec,
    tool: object,
    partial: object,
) -> None:
    """Refuse a listener's other arguments, alone or combined, with a message saying why."""
    if predict_name is not None and not isinstance(predict_name, str):
        raise TypeError(f"predict_name must be a str or None, got {type(predict_name).__name__}")
    if not isinstance(allow_reuse, bool):
        raise TypeError(f"allow_reuse must be True or False, got {type(allow_reuse).__name__}")
    if tool is not None and (not isinstance(tool, str) or not tool):
        raise TypeError(
            f"tool takes the name of the tool whose call's argument to stream, got {tool!r}"
        )
    if tool is not None and field_format is not None:
        raise ValueError(
            "a tool= listener reads the tool call's JSON arguments; leave field_format unset"
        )
    if not isinstance(partial, bool):
        raise TypeError(f"partial must be True or False, got {type(partial).__name__}")
    if (
        partial
        and field_format is not None
        and not isinstance(resolve_field_format(field_format), JSONFormat)
    ):
        raise ValueError(
            "partial=True parses the field's value as JSON: use field_format='json' "
            "(or leave it unset)"
        )


class StreamListener:
    """Listen to a raw LM token stream and yield the chunks of one output field.

    ``StreamListener("answer")`` fed the chunks (split anywhere) of the reply ::

        [[ ## reasoning ## ]]
        Because...

        [[ ## answer ## ]]
        How are you?

        [[ ## completed ## ]]

    produces :class:`StreamResponse` chunks that join to ``"How are you?"``, the last one
    with ``is_last_chunk=True``.

    Arguments:

    * ``signature_field_name``: the output field to stream (letters, digits, underscores).
    * ``predict``: the module whose output is listened to (kept for the streaming core, which
      uses it, or ``predict_name``, to pick the module calls this listener hears).
    * ``predict_name``: the name put on responses in standalone use (default ``""``); inside a
      stream, responses carry the name of the module call that produced them.
    * ``allow_reuse``: stream the field every time it occurs (an agent calling its LM several
      times); by default only its first occurrence is streamed and later ones are ignored.
    * ``field_format``: ``"chat"``, ``"json"``, ``"xml"``, a :class:`FieldFormat` instance, or
      ``None`` (the default) to take the format of the listened module, else ``"chat"``.
    * ``tool``: stream one argument of a native tool call instead of a field of the reply
      text: ``StreamListener("answer", tool="final_answer")`` yields the decoded text of the
      ``answer`` argument while the LM streams the ``final_answer`` call's JSON arguments
      (with the ``"json"`` format's guarantees).  It follows the module whose LM call makes
      the tool call (or ``predict=`` / ``predict_name=`` if given).
    * ``partial``: inside a stream, yield :class:`PartialResponse` chunks that also carry
      the field's value parsed so far (for a JSON object or array: the growing container, in
      time linear in the reply); the field is read as JSON.

    Standalone use: call :meth:`receive` (or :meth:`feed`) with each chunk and :meth:`finalize`
    (or :meth:`flush`) at the end of each LM reply.  ``feed``/``flush`` return every response
    a call produced; ``receive``/``finalize`` return at most one (DSPy's shape).  A listener
    holds the state of one stream: use :meth:`copy` for another stream.

    Raises ``ValueError`` for a field name that is not 1 to 200 letters, digits and
    underscores or an unknown format name, ``TypeError`` for an option of the wrong type;
    the chunk methods raise ``TypeError`` for a chunk that is not a ``str``.
    """

    __slots__ = (
        "_backlog",
        "_completed",
        "_done",
        "_format",
        "_proto",
        "_scanner",
        "allow_reuse",
        "field_format",
        "partial",
        "predict",
        "predict_name",
        "signature_field_name",
        "tool",
    )

    def __init__(
        self,
        signature_field_name: str,
        predict: Any = None,
        predict_name: Optional[str] = None,
        allow_reuse: bool = False,
        *,
        field_format: FormatSpec = None,
        tool: Optional[str] = None,
        partial: bool = False,
    ) -> None:
        name = _checked_field_name(signature_field_name)
        _check_options(predict_name, allow_reuse, field_format, tool, partial)
        as_json = tool is not None or partial
        resolved = resolve_field_format("json" if as_json else field_format)
        self.tool: Optional[str] = tool
        self.partial: bool = partial
        self.signature_field_name: str = name
        self.predict: Any = predict
        self.predict_name: Optional[str] = predict_name
        self.allow_reuse: bool = allow_reuse
        self.field_format: FormatSpec = field_format
        self._start(CHAT if resolved is None else resolved)

    def _start(self, field_format: FieldFormat) -> None:
        """Set up the unstarted state (the configuration attributes are set)."""
        self._format: FieldFormat = field_format
        self._scanner: FieldScanner = field_format.new_scanner(self.signature_field_name)
        self._done = False  # the field completed and may not stream again
        self._completed = False  # some occurrence of the field completed
        self._backlog: list[StreamResponse] = []
        self._proto: dict[str, Any] = {}
        self._set_tags(self.predict_name or "", "", None)

    def _set_tags(self, predict_name: str, call_id: str, parent_call_id: Optional[str]) -> None:
        self._proto = {
            "predict_name": predict_name,
            "signature_field_name": self.signature_field_name,
            "chunk": "",
            "is_last_chunk": False,
            "call_id": call_id,
            "parent_call_id": parent_call_id,
        }

    def _bind(
        self,
        predict_name: str,
        call_id: str,
        parent_call_id: Optional[str],
        field_format: FormatSpec,
    ) -> None:
        """Tag the responses produced from now on with one module call (used by the core).

        When the listener was built with ``field_format=None``, ``field_format`` (the listened
        module's declared format, ``None`` for chat) decides the format.  Switching to another
        format starts the scanning afresh.
        """
        self._set_tags(predict_name, call_id, parent_call_id)
        if self.field_format is None and self.tool is None and not self.partial:
            resolved = resolve_field_format(field_format)
            if resolved is None:
                resolved = CHAT
            if resolved is not self._format:
                self._format = resolved
                self._scanner = resolved.new_scanner(self.signature_field_name)

    @property
    def active_format(self) -> FieldFormat:
        """The :class:`FieldFormat` in use (chat until bound when ``field_format`` is None)."""
        return self._format

    @property
    def completed_any(self) -> bool:
        """Whether an occurrence of the field has been streamed to its last chunk."""
        return self._completed

    def _responses(self, pieces: Sequence[Piece]) -> list[StreamResponse]:
        proto = self._proto
        out = [_build(proto, text, last) for text, last in pieces]
        for index, response in enumerate(out):
            if response.is_last_chunk:
                self._completed = True
                if not self.allow_reuse:
                    self._done = True
                    del out[index + 1 :]
                    break
        return out

    def feed(self, chunk: str) -> list[StreamResponse]:
        """Take the next raw chunk; return every response it produced (often none or one)."""
        if type(chunk) is not str:
            _check_chunk(chunk, "feed")
        if self._done or self._backlog:
            return self._feed_rest(chunk)
        pieces = self._scanner.feed(chunk)
        if not pieces:
            return []
        if len(pieces) == 1:
            text, last = pieces[0]
            if not last:
                if _FAST:
                    response: StreamResponse = _new(StreamResponse)
                    fields = response.__dict__
                    fields.update(self._proto)
                    fields["chunk"] = text
                    return [response]
                return [_build(self._proto, text, False)]
        return self._responses(pieces)

    def _feed_rest(self, chunk: str) -> list[StreamResponse]:
        out: list[StreamResponse] = []
        if not self._done:
            pieces = self._scanner.feed(chunk)
            if pieces:
                out = self._responses(pieces)
        out[:0] = self._backlog
        self._backlog = []
        return out

    # receive() inlines the same single-piece fast path as feed(): it is DSPy's per-chunk entry
    # point, and a shared helper would cost a call per chunk on the hottest path.
    def receive(self, chunk: str) -> Optional[StreamResponse]:
        """Take the next raw chunk; return the response it produced, or ``None``.

        A chunk rarely produces two responses (one occurrence of the field ends and, with
        ``allow_reuse``, another begins in the same chunk); the second is then returned by the
        next ``receive``/``finalize`` call, so nothing is lost.  :meth:`feed` returns them all
        at once.
        """
        if type(chunk) is not str:
            _check_chunk(chunk, "receive")
        if self._done or self._backlog:
            out = self._feed_rest(chunk)
            self._backlog = out[1:]
            return out[0] if out else None
        pieces = self._scanner.feed(chunk)
        if not pieces:
            return None
        if len(pieces) == 1:
            text, last = pieces[0]
            if not last:
                if _FAST:
                    response: StreamResponse = _new(StreamResponse)
                    fields = response.__dict__
                    fields.update(self._proto)
                    fields["chunk"] = text
                    return response
                return _build(self._proto, text, False)
        out = self._responses(pieces)
        self._backlog = out[1:]
        return out[0] if out else None

    def flush(self) -> list[StreamResponse]:
        """End of one LM reply: return the held-back text of an open field occurrence.

        The occurrence gets its ``is_last_chunk=True`` response here.  Returns ``[]`` if the
        field was not open.  The listener is then ready for the next reply; a field already
        streamed stays done unless ``allow_reuse``.
        """
        pieces = self._scanner.finish()
        out = self._responses(pieces) if pieces and not self._done else []
        if self._backlog:
            out[:0] = self._backlog
            self._backlog = []
        return out

    def finalize(self) -> Optional[StreamResponse]:
        """End of one LM reply: :meth:`flush`, returning at most one response.

        Should the flush produce more than one (only after ``receive`` kept one back), the
        others are returned by the next ``receive``/``finalize`` calls.
        """
        out = self.flush()
        if not out:
            return None
        self._backlog = out[1:]
        return out[0]

    def reset(self) -> None:
        """Go back to the unstarted state: the field counts as never streamed, the tags are
        the standalone ones and, with ``field_format=None``, the format is chat again."""
        self._start(CHAT if self.field_format is None else self._format)

    def copy(self) -> StreamListener:
        """A fresh, unstarted listener with the same configuration (and class).

        The configuration was checked when this listener was built, so the copy skips the
        checks: the core makes a copy for every module call it listens to.
        """
        # Attribute by attribute, as __init__ and _MarkerScanner assign theirs: the same
        # shape, nothing shared to factor out.
        new = _new(type(self))
        if hasattr(self, "__dict__"):  # a subclass's own attributes
            new.__dict__.update(self.__dict__)
        new.signature_field_name = self.signature_field_name
        new.predict = self.predict
        new.predict_name = self.predict_name
        new.allow_reuse = self.allow_reuse
        new.field_format = self.field_format
        new.tool = self.tool
        new.partial = self.partial
        fixed = self.field_format is not None or self.tool is not None or self.partial
        new._start(self._format if fixed else CHAT)
        return new

    def __repr__(self) -> str:
        extra = f", predict_name={self.predict_name!r}" if self.predict_name is not None else ""
        if self.allow_reuse:
            extra += ", allow_reuse=True"
        if self.field_format is not None:
            extra += f", field_format={self.field_format!r}"
        if self.tool is not None:
            extra += f", tool={self.tool!r}"
        if self.partial:
            extra += ", partial=True"
        return f"StreamListener({self.signature_field_name!r}{extra})"


class PartialValues:
    """Wraps a ``partial=True`` listener (the stream does): each of its responses becomes a
    :class:`PartialResponse` with the field's value parsed so far.

    An object or array value is fed, as written, to an incremental parser (see
    ``_partial_json``) whose live value each chunk carries; a string, number or literal is
    parsed once, at its last chunk.  JSON the parser refuses (an LM may write anything) gives
    ``value=None`` for the rest of that occurrence; the chunks themselves still flow.
    """

    __slots__ = ("_broken", "_parser", "_text", "listener")

    def __init__(self, listener: StreamListener) -> None:
        self.listener = listener
        self._parser: Optional[PartialJSONParser] = None
        self._text: list[str] = []
        self._broken = False

    @property
    def allow_reuse(self) -> bool:
        return self.listener.allow_reuse

    @property
    def completed_any(self) -> bool:
        return self.listener.completed_any

    def feed(self, chunk: str) -> list[StreamResponse]:
        return self._convert(self.listener.feed(chunk))

    def flush(self) -> list[StreamResponse]:
        return self._convert(self.listener.flush())

    def _convert(self, responses: list[StreamResponse]) -> list[StreamResponse]:
        if not responses:
            return responses
        kind = getattr(self.listener._scanner, "value_kind", None)
        return [self._one(response, kind) for response in responses]

    def _one(self, response: StreamResponse, kind: Optional[str]) -> StreamResponse:
        last = response.is_last_chunk
        value: Any = None
        snapshot: Any = None
        complete = False
        if self._broken:
            pass
        elif kind == "container":
            parser = self._parser
            if parser is None:
                parser = self._parser = PartialJSONParser()
            try:
                parser.feed(response.chunk)
                if last:
                    value, complete = parser.finish(), True
                else:
                    snapshot = parser.snapshot()
                    value = None if snapshot is None else snapshot.value
            except ValueError:
                self._broken = True
                value, snapshot = None, None
        else:
            self._text.append(response.chunk)
            if last:
                text = "".join(self._text)
                if kind == "string":
                    value, complete = text, True
                else:
                    try:
                        value, complete = json.loads(text), True
                    except ValueError:
                        value = None
        if last:
            self._parser, self._text, self._broken = None, [], False
        return PartialResponse(
            response.predict_name,
            response.signature_field_name,
            response.chunk,
            last,
            response.call_id,
            response.parent_call_id,
            value=value,
            complete=complete,
            snapshot=snapshot,
        )
