"""Items as JSON: the payload of each item type, and the framing-safe JSON text of it.

Every item becomes one JSON object with a ``"type"`` key (see :func:`encode_item`)::

    status      {"type": "status", "message", "call_id", "parent_call_id", "event"}
    token       {"type": "token", "predict_name", "signature_field_name", "chunk",
                 "is_last_chunk", "call_id", "parent_call_id"}
    prediction  {"type": "prediction", "data": {fields...}[, "raw": value]}
    item        {"type": "item", "data": value}         anything the program emitted itself
    error       {"type": "error", "error": {"type": "ValueError", "message": "..."},
                 "message": "..."}

These are the payloads of the default ``"streamify"`` protocol (``_protocol.py``); the
response functions that frame them are in ``_responses.py``.

Framing safety.  The JSON is compact and keeps non-ASCII text readable
(``ensure_ascii=False``), so a line break in the content can only be a JSON escape: ``json``
escapes every control character (``\\n``, ``\\r``, NUL, ...), and this module also escapes
U+0085, U+2028 and U+2029 (which ``str.splitlines`` treats as line breaks).  A frame therefore
contains no line break but its own terminators, whatever the content: content such as
``"\\n\\ndata: [DONE]"`` cannot forge or end an event.

Text is sent as Unicode scalar values.  A Python ``str`` may hold surrogate code points
(U+D800 to U+DFFF, from ``surrogateescape`` decoding, say).  UTF-8 cannot encode them, and
JSON cannot carry them faithfully either: a high surrogate followed by a low one, escaped as
``\\ud800\\udc00``, decodes as *one* astral character in every JSON parser.  So each surrogate
code point becomes U+FFFD, the replacement character (as web APIs do when they turn a string
into a ``USVString``): it stays one character of its own, two never merge into one, and every
frame is valid UTF-8.  :func:`encode_item` does the same, so any JSON encoder reads its
payload the same way.

What is encoded is exactly what ``json`` can write.  :func:`encode_item` accepts a value only
if ``json.dumps`` then encodes its payload; otherwise it raises ``TypeError`` (a type nothing
converts) or ``ValueError`` (an ``int`` with more digits than
``sys.get_int_max_str_digits()`` allows, a value that contains itself or is nested deeper
than the recursion limit lets the encoder go, two mapping keys that become one JSON key).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import re
import sys
from collections.abc import (
    Mapping,
)
from typing import Any, Callable, Optional, Union, cast

from ._messages import Prediction, StatusMessage, StreamItem, StreamResponse

__all__ = ("encode_item",)

logger = logging.getLogger("streamify")

Default = Callable[[Any], Any]
"""A ``default`` hook: turns an object JSON cannot encode into one it can (as in ``json``)."""


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

# JSON leaves these unescaped with ensure_ascii=False; they can only occur inside JSON strings.
# U+0085, U+2028 and U+2029 are escaped (a \uXXXX escape decodes to the same character);
# surrogates are replaced (see "Text is sent as Unicode scalar values" above).
_UNSAFE_CHARACTERS = re.compile("[\x85\u2028\u2029\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_REPLACEMENT = "\ufffd"
_ESCAPES = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _safe_character(match: re.Match[str]) -> str:
    return _ESCAPES.get(match.group(), _REPLACEMENT)


def _escape_unsafe(text: str) -> str:
    if text.isascii():
        return text
    return _UNSAFE_CHARACTERS.sub(_safe_character, text)


def _well_formed(text: str) -> str:
    """``text`` with each surrogate code point replaced by U+FFFD."""
    if text.isascii():
        return text
    return _SURROGATES.sub(_REPLACEMENT, text)


def _to_json(payload: dict[str, Any]) -> str:
    return _escape_unsafe(_dumps(payload))


# The JSON of the two most frequent items, written out directly: the same text as
# _to_json(encode_item(item)) (a test checks it) in a quarter of the time.  A field of the
# wrong type returns None and leaves the item to the general encoder.
_string = json.encoder.encode_basestring  # a JSON string, escaped as ensure_ascii=False does


def _optional_string(value: Optional[str]) -> str:
    return "null" if value is None else _string(value)


def _token_json(item: StreamResponse) -> Optional[str]:
    last: object = item.is_last_chunk
    if last is not True and last is not False:
        return None
    try:
        text = (
            f'{{"type":"token","predict_name":{_string(item.predict_name)},'
            f'"signature_field_name":{_string(item.signature_field_name)},'
            f'"chunk":{_string(item.chunk)},"is_last_chunk":{"true" if last else "false"},'
            f'"call_id":{_string(item.call_id)},'
            f'"parent_call_id":{_optional_string(item.parent_call_id)}}}'
        )
    except TypeError:
        return None
    return _escape_unsafe(text)


def _status_json(item: StatusMessage) -> Optional[str]:
    try:
        text = (
            f'{{"type":"status","message":{_string(item.message)},'
            f'"call_id":{_string(item.call_id)},'
            f'"parent_call_id":{_optional_string(item.parent_call_id)},'
            f'"event":{_optional_string(item.event)}}}'
        )
    except TypeError:
        return None
    return _escape_unsafe(text)


# -- items to JSON-able payloads ---------------------------------------------------------------


class _Refusal(Exception):
    """A value the converter refuses; turned into a ``TypeError`` / ``ValueError`` that names
    the item (see ``_refused``)."""


class _Unencodable(_Refusal):
    def __init__(self, value: object, *, key: bool = False) -> None:
        super().__init__(value)
        self.value = value
        self.key = key


class _Circular(_Refusal):
    """A container contains itself."""


class _TooDeep(_Refusal):
    """Nested deeper than the interpreter's recursion limit lets the converter go."""


class _TooManyDigits(_Refusal):
    """An ``int`` that ``json`` cannot write: more digits than Python converts to text."""

    def __init__(self, limit: int, *, key: bool = False) -> None:
        super().__init__(limit)
        self.limit = limit
        self.key = key


class _KeyCollision(_Refusal):
    """Two keys of one mapping that become the same JSON key."""

    def __init__(self, mapping: Any, name: str) -> None:
        super().__init__(name)
        self.mapping = mapping
        self.name = name


def _type_name(value: object) -> str:
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


# Below 2**1920 an int has fewer than 640 digits, the lowest limit sys.set_int_max_str_digits()
# accepts: such ints (nearly all) need no further check.
_ALWAYS_WRITABLE_BITS = 1920
_max_str_digits: Callable[[], int] = getattr(sys, "get_int_max_str_digits", lambda: 0)


@functools.lru_cache(maxsize=4)
def _first_too_long(limit: int) -> int:
    smallest: int = 10**limit  # the smallest int with more than ``limit`` digits
    return smallest


def _checked_int(value: int, *, key: bool = False) -> int:
    """``value`` (a plain ``int``) if ``json`` can write it, else ``_TooManyDigits``."""
    if value.bit_length() > _ALWAYS_WRITABLE_BITS:
        limit = _max_str_digits()
        if limit > 0 and abs(value) >= _first_too_long(limit):
            raise _TooManyDigits(limit, key=key)
    return value


def _convert(value: Any, default: Optional[Default], active: set[int]) -> Any:
    """``value`` as plain JSON types (dict with str keys, list, str, int, float, bool, None)
    that ``json`` can write, strings well-formed; raises a ``_Refusal`` otherwise."""
    cls = type(value)
    if cls is str:
        return value if value.isascii() else _SURROGATES.sub(_REPLACEMENT, value)
    if cls is int:
        return value if value.bit_length() <= _ALWAYS_WRITABLE_BITS else _checked_int(value)
    if cls is bool or value is None:
        return value
    if cls is float:
        return value if math.isfinite(value) else None
    if cls is dict:
        return _convert_mapping(value, default, active)
    if cls is list or cls is tuple:
        return _convert_sequence(value, default, active)
    if isinstance(value, str):  # str, int and float subclasses (enums, numpy scalars) as such
        return _well_formed(str.__str__(value))
    if isinstance(value, int):
        return _checked_int(int.__int__(value))
    if isinstance(value, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _convert_dataclass(value, default, active)
    if isinstance(value, Mapping):
        return _convert_mapping(value, default, active)
    if isinstance(value, Prediction):
        return _convert_mapping(_fields(value), default, active)
    if isinstance(value, (list, tuple)):
        return _convert_sequence(value, default, active)
    if default is None:
        raise _Unencodable(value)
    replacement = default(value)
    if replacement is value:
        raise _Unencodable(value)
    marker = _enter(value, active)
    try:
        return _convert(replacement, default, active)
    finally:
        active.discard(marker)


def _enter(container: object, active: set[int]) -> int:
    """Mark ``container`` as being converted; a container met again inside itself is a cycle."""
    marker = id(container)
    if marker in active:
        raise _Circular
    active.add(marker)
    return marker


def _convert_mapping(
    mapping: Union[Mapping[Any, Any], Mapping[str, Any]],
    default: Optional[Default],
    active: set[int],
) -> dict[str, Any]:
    marker = _enter(mapping, active)
    try:
        converted: dict[str, Any] = {}
        for key, value in mapping.items():
            name = _key(key)
            if name in converted:
                raise _KeyCollision(mapping, name)
            converted[name] = _convert(value, default, active)
        return converted
    finally:
        active.discard(marker)


def _convert_sequence(
    sequence: Union[list[Any], tuple[Any, ...]], default: Optional[Default], active: set[int]
) -> list[Any]:
    marker = _enter(sequence, active)
    try:
        return [_convert(value, default, active) for value in sequence]
    finally:
        active.discard(marker)


def _convert_dataclass(
    instance: Any, default: Optional[Default], active: set[int]
) -> dict[str, Any]:
    marker = _enter(instance, active)
    try:
        return {
            field.name: _convert(getattr(instance, field.name), default, active)
            for field in dataclasses.fields(instance)
            if field.metadata.get("streamify_encode", True)  # StatusMessage.name / .detail
        }
    finally:
        active.discard(marker)


def _key(key: Any) -> str:
    """A mapping key as a JSON object key, the way ``json.dumps`` converts keys (and text
    well-formed, as everywhere)."""
    if isinstance(key, str):
        return _well_formed(str.__str__(key))
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(_checked_int(int.__int__(key), key=True))
    if isinstance(key, float):
        if math.isnan(key):
            return "NaN"
        if math.isinf(key):
            return "Infinity" if key > 0 else "-Infinity"
        return float.__repr__(key)
    raise _Unencodable(key, key=True)


def _fields(prediction: Prediction) -> Mapping[Any, Any]:
    return cast("Mapping[Any, Any]", prediction)  # a registered Mapping


def _prediction_payload(
    prediction: Prediction, default: Optional[Default], active: set[int]
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "prediction",
        "data": _convert_mapping(_fields(prediction), default, active),
    }
    usage = prediction.get_lm_usage()
    if usage is not None:
        payload["usage"] = usage  # str keys and int values: always encodable
    raw = prediction.raw
    if raw is not prediction and not getattr(prediction, "_complete", True):
        # documented: "raw" is included when the fields do not hold all of the program's value
        # (a value that is not a mapping, or keys that are not fields), if it can be encoded
        with contextlib.suppress(Exception):
            payload["raw"] = _convert(raw, default, active)
    return payload


def _payload(item: Any, default: Optional[Default]) -> dict[str, Any]:
    """The payload of one item; raises a ``_Refusal`` (or what ``default`` raises)."""
    active: set[int] = set()
    try:
        if isinstance(item, StreamResponse):
            return {
                "type": "token",
                "predict_name": _convert(item.predict_name, default, active),
                "signature_field_name": _convert(item.signature_field_name, default, active),
                "chunk": _convert(item.chunk, default, active),
                "is_last_chunk": _convert(item.is_last_chunk, default, active),
                "call_id": _convert(item.call_id, default, active),
                "parent_call_id": _convert(item.parent_call_id, default, active),
            }
        if isinstance(item, StatusMessage):
            return {
                "type": "status",
                "message": _convert(item.message, default, active),
                "call_id": _convert(item.call_id, default, active),
                "parent_call_id": _convert(item.parent_call_id, default, active),
                "event": _convert(item.event, default, active),
            }
        if isinstance(item, Prediction):
            return _prediction_payload(item, default, active)
        return {"type": "item", "data": _convert(item, default, active)}
    except RecursionError:
        raise _TooDeep from None


def _refused(item: Any, refusal: _Refusal, api: str) -> Exception:
    """The public exception for a refused item: ``TypeError`` for a type, else ``ValueError``."""
    where = f"item of type {_type_name(item)}"
    if isinstance(refusal, _Unencodable):
        return TypeError(_unencodable_message(item, refusal, api))
    if isinstance(refusal, _Circular):
        return ValueError(f"cannot encode {where} as JSON: it contains itself (circular reference)")
    if isinstance(refusal, _TooDeep):
        return ValueError(f"cannot encode {where} as JSON: it is nested too deeply")
    if isinstance(refusal, _TooManyDigits):
        what = "a mapping key" if refusal.key else "an int"
        return ValueError(
            f"cannot encode {what} with more than {refusal.limit} digits (in an {where}) as "
            "JSON: Python converts no larger int to text (sys.get_int_max_str_digits()); send "
            "such numbers as str"
        )
    if isinstance(refusal, _KeyCollision):
        keys = [key for key in _keys_of(refusal.mapping) if _same_key(key, refusal.name)]
        shown = " and ".join(_short_repr(key) for key in keys[:2]) or "two keys"
        return ValueError(
            f"cannot encode a mapping (in an {where}) as JSON: its keys {shown} both become "
            f"the JSON key {refusal.name!r}; make the keys distinct strings"
        )
    return ValueError(f"cannot encode {where} as JSON")  # pragma: no cover - all listed above


def _keys_of(mapping: Any) -> list[Any]:
    try:
        return list(mapping.keys())
    except Exception:
        return []


def _same_key(key: Any, name: str) -> bool:
    try:
        return _key(key) == name
    except _Refusal:
        return False


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{_type_name(value)}>"
    return text if len(text) <= 40 else text[:37] + "..."


def _encode(item: Any, default: Optional[Default], api: str) -> dict[str, Any]:
    try:
        return _payload(item, default)
    except _Refusal as refusal:
        raise _refused(item, refusal, api) from None


def _unencodable_message(item: Any, error: _Unencodable, api: str) -> str:
    where = f"item of type {_type_name(item)}"
    if error.key:
        return (
            f"cannot encode a mapping key of type {_type_name(error.value)} (in an {where}) as "
            "JSON: keys must be str, int, float, bool or None; convert the keys to str"
        )
    fix = (
        f"pass default=... to {api}(), a function that turns such objects into JSON-able "
        "values (like json.dumps's default)"
    )
    if error.value is item:
        return f"cannot encode {where} as JSON; {fix}"
    return f"cannot encode a value of type {_type_name(error.value)} (in an {where}) as JSON; {fix}"


def encode_item(item: StreamItem, default: Optional[Default] = None) -> dict[str, Any]:
    """The JSON-able payload of one stream item: a ``dict`` with a ``"type"`` key.

    ``StatusMessage`` → ``{"type": "status", "message", "call_id", "parent_call_id",
    "event"}``; ``StreamResponse`` → ``{"type": "token", "predict_name",
    "signature_field_name", "chunk", "is_last_chunk", "call_id", "parent_call_id"}``;
    ``Prediction`` → ``{"type": "prediction", "data": {fields}}``, plus ``"raw"`` when the
    fields do not hold all of the program's value (it returned something other than a
    mapping, or a mapping with keys that are not fields: see ``Prediction.from_value``) and
    that value can be encoded; anything else → ``{"type": "item", "data": value}``.

    Values are converted recursively: mappings become objects (keys converted as
    ``json.dumps`` does), lists and tuples become arrays, dataclass instances become objects
    of their fields (as ``dataclasses.asdict``), subclasses of ``str``, ``int`` and ``float``
    (such as enums) become the plain value, and NaN and infinities become ``null`` (as
    JavaScript's ``JSON.stringify`` does; JSON has no such numbers).  Surrogate code points
    in strings and keys become U+FFFD (see the module docstring).  Any other object is passed
    to ``default``, whose result is converted in turn (what ``default`` raises propagates).

    The result holds only ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` and
    ``None``, and ``json.dumps`` (or a websocket's ``send_json``) encodes it.  What it could
    not encode is refused here instead:

    * ``TypeError`` names the type when a value cannot be encoded and ``default`` does not
      help, or a mapping key is not a str, int, float, bool or None;
    * ``ValueError`` when an ``int`` has more digits than ``sys.get_int_max_str_digits()``
      allows (send such numbers as str), when a value contains itself or is nested too
      deeply, and when two keys of a mapping become one JSON key (``{1: "a", "1": "b"}``).
    """
    if default is not None and not callable(default):
        raise TypeError(f"default must be a callable or None, got {_type_name(default)}")
    return _encode(item, default, "encode_item")


def _message_of(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        return f"<unprintable {type(error).__name__}>"


def _error_payload(error: BaseException) -> dict[str, Any]:
    message = _message_of(error)
    return {
        "type": "error",
        "error": {"type": type(error).__name__, "message": message},
        "message": message,
    }


def _log_program_error(error: BaseException, api: str) -> None:
    logger.error(
        "the stream raised %s; %s() sent an error event and ended the response",
        type(error).__name__,
        api,
        exc_info=error,
    )


class _EncodeFailure(Exception):
    """An item a response could not encode; ends the response with an error frame."""

    def __init__(self, error: Exception, item_type: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.item_type = item_type
        self.message = message


def _convert_payload(value: Any, default: Optional[Default]) -> Any:
    """``value`` converted as :func:`encode_item` converts an item's data (raises a
    ``_Refusal``, or what ``default`` raises)."""
    try:
        return _convert(value, default, set())
    except RecursionError:
        raise _TooDeep from None
