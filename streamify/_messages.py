"""The records that travel through a stream: status messages, token chunks and the result.

Invariant of :class:`Prediction`: wrapping a program's return value never fails, whatever the
value.  :meth:`Prediction.from_value` catches what the value's own code raises while its keys
become field names (a key's ``str()``, a mapping's ``items()``), takes any name as a field
(``self`` included), and never lets one key's value replace another's; and the value itself,
every key included, is always :attr:`Prediction.raw`.  So a program's result always reaches
the consumer as a ``Prediction``; only its fields can be fewer than the mapping's keys.
"""

from __future__ import annotations

import copy
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

from typing_extensions import TypeAlias

__all__ = (
    "EventKind",
    "PartialResponse",
    "Prediction",
    "StatusMessage",
    "StreamItem",
    "StreamResponse",
    "StreamifyItem",
)

EventKind = Literal[
    "module_start", "module_end", "tool_start", "tool_end", "lm_start", "lm_end", "lm_tool_call"
]


@dataclass(frozen=True)
class StatusMessage:
    """Human-readable progress produced by a ``StatusMessageProvider``.

    ``call_id`` is the id of the instrumented call whose event produced the message and
    ``parent_call_id`` the id of the instrumented call it ran inside (``None`` at top level),
    so nested and parallel calls can be told apart.  ``event`` names the callback event.

    ``name`` is the instrumented call's name (the tool's, module's or LM's ``name``; for
    ``"lm_tool_call"``, the tool the LM calls) and ``detail`` what the call was given or gave:
    its bound inputs (a ``dict``) at a ``*_start`` event, its outputs at a ``*_end`` event, the
    provider's tool call id at ``"lm_tool_call"``.  Both are ``None`` for a message made by
    hand.  ``detail`` takes no part in equality or ``repr``, and the default ``"streamify"``
    wire protocol sends neither; protocols with tool calls (``"vercel-ui"``, ``"ag-ui"``) do.
    """

    message: str
    call_id: str = ""
    parent_call_id: Optional[str] = None
    event: Optional[EventKind] = None
    # Not in streamify's own frames, so they stay as they were (see _encoding).
    name: Optional[str] = field(default=None, metadata={"streamify_encode": False})
    detail: Any = field(
        default=None, compare=False, repr=False, metadata={"streamify_encode": False}
    )


@dataclass(frozen=True)
class StreamResponse:
    """One chunk of one output field of one module, cut out of the LM token stream.

    ``predict_name`` is the name of the module that produced it, ``call_id`` the id of that
    module's call, so that two calls of the same module can be told apart.
    """

    predict_name: str
    signature_field_name: str
    chunk: str
    is_last_chunk: bool
    call_id: str = ""
    parent_call_id: Optional[str] = None


@dataclass(frozen=True)
class PartialResponse(StreamResponse):
    """A chunk of a JSON field streamed by a ``StreamListener(..., partial=True)``, with the
    field's value parsed so far.

    ``chunk`` and ``is_last_chunk`` are as for any :class:`StreamResponse` (the chunks join to
    the field's JSON text when the value is an object or array, to its decoded text when it
    is a string).  ``value`` is the value so far: for an object or array, the *live* parsed
    container — the same object in every chunk of one occurrence, growing in place (read it
    when you get it, do not mutate it, and call :meth:`copy` to keep it as it is now); for a
    string, number or literal, ``None`` until the last chunk.  On the last chunk
    (``complete`` is true) ``value`` equals ``json.loads`` of the whole value.  Producing it
    costs the same per chunk however large the value grows.
    """

    value: Any = None
    complete: bool = False
    snapshot: Any = field(default=None, compare=False, repr=False)

    def copy(self) -> Any:
        """A deep copy of ``value`` as it was when this chunk was made."""
        snapshot = self.snapshot
        if snapshot is not None:
            return snapshot.copy()
        return copy.deepcopy(self.value)


def status_message(
    message: str,
    call_id: str,
    parent_call_id: Optional[str],
    event: EventKind,
    name: Optional[str] = None,
    detail: Any = None,
) -> StatusMessage:
    """A ``StatusMessage`` built by filling its ``__dict__``: the same, equal instance as the
    constructor gives, without the frozen dataclass's ``object.__setattr__`` per field (this
    runs twice per instrumented call inside a stream)."""
    status: StatusMessage = object.__new__(StatusMessage)
    status.__dict__.update(
        message=message,
        call_id=call_id,
        parent_call_id=parent_call_id,
        event=event,
        name=name,
        detail=detail,
    )
    return status


if (
    status_message("m", "c", "p", "tool_start", "t", 1)
    != StatusMessage("m", "c", "p", "tool_start", "t", 1)
    or status_message("m", "c", "p", "tool_start", "t", 1).detail != 1
):
    # StatusMessage changed shape (slots, __post_init__, ...): use the real constructor.
    status_message = StatusMessage


_MISSING: Any = object()


class Prediction:
    """The result of a program: named fields with attribute and mapping access.

    ``Prediction(answer="42")`` gives ``p.answer == p["answer"] == "42"``.  When a streamified
    program returns something that is not a ``Prediction``, the stream wraps it with
    :meth:`from_value`: a mapping's keys become the fields, and the value itself is always
    available as :attr:`raw` (for a ``Prediction`` that was returned as is, ``raw`` is the
    prediction itself).  A field called ``raw`` is still reachable as ``p["raw"]``.  A missing
    field raises ``AttributeError`` as an attribute (the message lists the fields) and
    ``KeyError`` as an item.
    """

    __slots__ = ("_complete", "_fields", "_raw", "_usage")
    _fields: dict[str, Any]
    _raw: Any
    _complete: bool  # the fields hold all of ``raw`` (see ``from_value``)
    _usage: Optional[dict[str, dict[str, int]]]

    def __init__(self, /, **fields: Any) -> None:  # positional-only: a field may be "self"
        object.__setattr__(self, "_fields", fields)
        object.__setattr__(self, "_raw", _MISSING)
        object.__setattr__(self, "_complete", True)
        object.__setattr__(self, "_usage", None)

    def get_lm_usage(self) -> Optional[dict[str, dict[str, int]]]:
        """The run's LM token usage per model, in DSPy's shape, or ``None`` if no ``@lm``
        call reported usage: ``{model: {"prompt_tokens": ..., "completion_tokens": ...,
        "total_tokens": ...}}`` (``"unknown"`` for replies that named no model)."""
        usage = self._usage
        return None if usage is None else {model: dict(u) for model, u in usage.items()}

    def set_lm_usage(self, usage: Optional[dict[str, dict[str, int]]]) -> None:
        """Set the usage :meth:`get_lm_usage` returns (the stream does, from its ``@lm``
        calls; DSPy's name)."""
        object.__setattr__(self, "_usage", None if usage is None else dict(usage))

    @classmethod
    def from_value(cls, value: Any) -> Prediction:
        """Wrap a program's return value, keeping it reachable as ``.raw``; never raises.

        A ``Prediction`` is returned as is.  Any other value ``v`` gives a prediction with
        ``raw is v``, and, when ``v`` is a mapping, one field per key, in the mapping's order:

        * a ``str`` key is a field of that name (a ``str`` subclass, such as a ``StrEnum``
          member, by its string value, as ``json.dumps`` writes it): ``{"self": 1}`` gives
          ``p["self"] == 1``;
        * any other key is a field named ``str(key)`` (``{1: "a"}`` gives ``p["1"] == "a"``),
          unless that name is already taken, by a ``str`` key anywhere in the mapping or by an
          earlier key, or ``str(key)`` raises.  Such a key is not a field, and no value is
          lost: ``{1: "a", "1": "b"}`` has the field ``"1"`` equal to ``"b"``, and ``"a"`` is
          ``p.raw[1]``.

        A mapping whose items cannot be read (its ``items()`` raises) gives no fields.
        """
        if isinstance(value, Prediction):
            return value
        fields: dict[str, Any] = {}
        complete = False
        if isinstance(value, Mapping):
            fields, complete = _mapping_fields(value)
        prediction: Prediction = object.__new__(cls)  # not cls(**fields): it takes any names
        object.__setattr__(prediction, "_fields", fields)
        object.__setattr__(prediction, "_raw", value)
        object.__setattr__(prediction, "_complete", complete)
        object.__setattr__(prediction, "_usage", None)
        return prediction

    @property
    def raw(self) -> Any:
        """The program's own return value (the prediction itself if it returned one)."""
        raw = self._raw
        return self if raw is _MISSING else raw

    def __getattr__(self, name: str) -> Any:
        if name in _STATE:  # not set yet: copy and pickle build it without __init__
            raise AttributeError(name)
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(
                f"Prediction has no field {name!r}; fields: {sorted(self._fields)}"
            ) from None

    def __reduce__(self) -> tuple[Any, ...]:
        # copy, deepcopy and pickle rebuild a Prediction from its fields and raw value.
        raw = self._raw
        has_raw = raw is not _MISSING
        state = (self._fields, has_raw, raw if has_raw else None, self._complete, self._usage)
        return (_rebuild_prediction, state)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            raise AttributeError(f"cannot set private attribute {name!r} on a Prediction")
        self._fields[name] = value

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._fields[key] = value

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, key: object) -> bool:
        return key in self._fields

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prediction):
            return NotImplemented
        if self._fields != other._fields:
            return False
        if self._raw is other._raw:
            return True
        try:
            return bool(self._raw == other._raw)
        except Exception:  # raw values that cannot be compared as a bool (arrays, ...)
            return False

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{key}={value!r}" for key, value in self._fields.items())
        if self._raw is not _MISSING and not self._complete:
            inner = f"raw={self._raw!r}" + (f", {inner}" if inner else "")
        return f"Prediction({inner})"

    def keys(self) -> KeysView[str]:
        """The field names, in order (a live view, as ``dict.keys()``)."""
        return self._fields.keys()

    def values(self) -> ValuesView[Any]:
        """The field values, in order (a live view)."""
        return self._fields.values()

    def items(self) -> ItemsView[str, Any]:
        """The ``(name, value)`` pairs of the fields, in order (a live view)."""
        return self._fields.items()

    def get(self, key: str, default: Any = None) -> Any:
        """The value of field ``key``, or ``default`` if there is no such field."""
        return self._fields.get(key, default)

    def toDict(self) -> dict[str, Any]:
        """A plain ``dict`` of the fields (DSPy's name for it)."""
        return dict(self._fields)


def _mapping_fields(mapping: Mapping[Any, Any]) -> tuple[dict[str, Any], bool]:
    """The fields of a mapping result (see ``Prediction.from_value``), and whether every key
    became a field."""
    try:
        pairs = list(mapping.items())
        str_names = {str.__str__(key) for key, _ in pairs if isinstance(key, str)}
    except Exception:  # a broken mapping: the result still arrives, as .raw
        return {}, False
    fields: dict[str, Any] = {}
    complete = True
    for key, item in pairs:
        if isinstance(key, str):
            name = str.__str__(key)
        else:
            try:
                name = str(key)
            except Exception:
                complete = False
                continue
            if name in str_names:
                complete = False
                continue
        if name in fields:  # two keys of one name (str subclasses with their own __eq__, ...)
            complete = False
            continue
        fields[name] = item
    return fields, complete


_STATE = frozenset(("_fields", "_raw", "_complete", "_usage"))


def _rebuild_prediction(
    fields: dict[str, Any],
    has_raw: bool,
    raw: Any,
    complete: bool = True,
    usage: Optional[dict[str, dict[str, int]]] = None,
) -> Prediction:
    prediction = Prediction()
    object.__setattr__(prediction, "_fields", dict(fields))
    if has_raw:
        object.__setattr__(prediction, "_raw", raw)
    object.__setattr__(prediction, "_complete", complete)
    object.__setattr__(prediction, "_usage", usage)
    return prediction


StreamItem: TypeAlias = object
"""The type of a stream's items: a :class:`StatusMessage`, a :class:`StreamResponse` (or
:class:`PartialResponse`), the final :class:`Prediction`, or whatever the program emits.

It is ``object`` because a program may ``emit()`` anything: narrow an item with
``isinstance`` before using its attributes (``if isinstance(item, StreamResponse):
item.chunk``).  Typing only: at run time it is ``object`` itself."""

StreamifyItem: TypeAlias = Union[StatusMessage, StreamResponse, Prediction]
"""The items streamify makes itself (:class:`PartialResponse` is a :class:`StreamResponse`),
for code that handles only those and wants a type checker to see every case handled.  A
stream's items are :data:`StreamItem`: narrow one with ``isinstance`` before treating it as
a ``StreamifyItem``."""


# A registered (not inherited) Mapping: ``isinstance(x, Prediction)`` stays a plain type check,
# which matters because every consumer runs it on every item.
Mapping.register(Prediction)
