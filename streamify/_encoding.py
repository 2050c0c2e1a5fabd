"""Encode a stream for HTTP: Server-Sent Events and NDJSON, for any web framework.

Every item becomes one JSON object with a ``"type"`` key (see :func:`encode_item`)::

    status      {"type": "status", "message", "call_id", "parent_call_id", "event"}
    token       {"type": "token", "predict_name", "signature_field_name", "chunk",
                 "is_last_chunk", "call_id", "parent_call_id"}
    prediction  {"type": "prediction", "data": {fields...}[, "raw": value]}
    item        {"type": "item", "data": value}         anything the program emitted itself
    error       {"type": "error", "error": "ValueError", "message": "..."}

Server-Sent Events (:func:`streaming_response`) frame each object as ``data: <json>\\n\\n``
and end with ``data: [DONE]\\n\\n`` (OpenAI's framing); NDJSON (:func:`ndjson_response`)
writes one object per line and ends with ``{"type":"done"}``.

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

Endings.  Every response ends well-formed, on every path, and the stream is closed with
``aclose()`` / ``close()`` (which stops the program) before the response's own generator
finishes:

* the stream finished: the done marker (unless ``include_done=False``);
* the stream raised an ``Exception``: an ``error`` object and *no* done marker, so a client
  can tell a failed response from a complete one; the exception is logged with its
  traceback on the ``streamify`` logger and not re-raised (the response is already under
  way);
* an item could not be encoded (refused as above, or a ``default`` hook raised): that item is
  not sent; the stream is closed, stopping the program, then an ``error`` object follows
  (``"error"`` is the exception's type, ``"message"`` says which item could not be encoded
  and why), without the done marker.  The failure is logged with its traceback (it is a bug
  in the server code: pass ``default=``);
* ``BaseException``\\ s that are not ``Exception`` (cancellation, ``KeyboardInterrupt``,
  ``SystemExit``) propagate, the program's own as the same object, keepalive or not;
* the consumer leaves (``aclose()``, cancellation, repeated or not, the response dropped):
  the stream is closed and the response's generator returns only once that is done;
* closing the stream raised: that exception propagates, keepalive or not.

Abandoned responses.  A response dropped without being closed is closed by the event loop's
async-generator finalizer.  Until then, this module holds the stream it serves (and, with
keepalive, the helper task that steps it): a response kept alive by a reference cycle, such as
the traceback of a failed write that refers to the handler's frame, is then closed as a whole
when the garbage collector finds the cycle, instead of its stream and helper task being torn
down separately.  That can take a while; code that writes frames itself should iterate the
response inside ``contextlib.aclosing`` so that leaving on an exception closes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import math
import re
import sys
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from typing import Any, Callable, Optional, Union, cast

from ._messages import Prediction, StatusMessage, StreamResponse

__all__ = (
    "encode_item",
    "ndjson_response",
    "ndjson_response_sync",
    "streaming_response",
    "streaming_response_sync",
)

logger = logging.getLogger("streamify")

Default = Callable[[Any], Any]
"""A ``default`` hook: turns an object JSON cannot encode into one it can (as in ``json``)."""

KEEPALIVE_FRAME = ": keepalive\n\n"
SSE_DONE_DATA = "[DONE]"
NDJSON_DONE_LINE = '{"type":"done"}\n'

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


def encode_item(item: Any, default: Optional[Default] = None) -> dict[str, Any]:
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
    return {"type": "error", "error": type(error).__name__, "message": _message_of(error)}


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


# -- framing -------------------------------------------------------------------------------------


class _Framing:
    """Turns JSON payloads into the frames of one response."""

    __slots__ = ("api", "default")

    def __init__(self, api: str, default: Optional[Default]) -> None:
        self.api = api
        self.default = default

    def item(self, item: Any) -> str:
        """The frame of one item; raises ``_EncodeFailure`` if there can be none."""
        cls = type(item)
        if cls is StreamResponse:
            text = _token_json(item)
            if text is not None:
                return self.frame("token", text)
        elif cls is StatusMessage:
            text = _status_json(item)
            if text is not None:
                return self.frame("status", text)
        try:
            payload = _payload(item, self.default)
            return self.frame(payload["type"], _to_json(payload))
        except _Refusal as refusal:
            error = _refused(item, refusal, self.api)
            raise _EncodeFailure(error, _type_name(item), str(error)) from None
        except Exception as error:  # a default hook that raised, or json itself (a safety net)
            message = (
                f"cannot encode item of type {_type_name(item)} as JSON: "
                f"{type(error).__name__}: {_message_of(error)}"
            )
            raise _EncodeFailure(error, _type_name(item), message) from None

    def error(self, failure: Exception) -> str:
        """The frame that ends a failed response (and the log record that goes with it)."""
        if isinstance(failure, _EncodeFailure):
            logger.error(
                "%s() could not encode an item of type %s; it closed the stream, sent an error "
                "event and ended the response",
                self.api,
                failure.item_type,
                exc_info=failure.error,
            )
            payload = {
                "type": "error",
                "error": type(failure.error).__name__,
                "message": failure.message,
            }
            return self.frame("error", _to_json(payload))
        _log_program_error(failure, self.api)
        return self.frame("error", _to_json(_error_payload(failure)))

    def frame(self, kind: str, data: str) -> str:
        raise NotImplementedError

    def done(self) -> Optional[str]:
        raise NotImplementedError


class _SSEFraming(_Framing):
    __slots__ = ("_event_names", "_ids", "_include_done", "_last_id")

    def __init__(
        self,
        api: str,
        default: Optional[Default],
        *,
        event_names: bool,
        ids: bool,
        include_done: bool,
    ) -> None:
        super().__init__(api, default)
        self._event_names = event_names
        self._ids = ids
        self._include_done = include_done
        self._last_id = 0

    def _id_line(self) -> str:
        if not self._ids:
            return ""
        self._last_id += 1
        return f"id: {self._last_id}\n"

    def frame(self, kind: str, data: str) -> str:
        if not (self._event_names or self._ids):
            return f"data: {data}\n\n"
        event = f"event: {kind}\n" if self._event_names else ""
        return f"{event}{self._id_line()}data: {data}\n\n"

    def done(self) -> Optional[str]:
        if not self._include_done:
            return None
        return f"{self._id_line()}data: {SSE_DONE_DATA}\n\n"


class _NDJSONFraming(_Framing):
    __slots__ = ("_include_done",)

    def __init__(self, api: str, default: Optional[Default], *, include_done: bool) -> None:
        super().__init__(api, default)
        self._include_done = include_done

    def frame(self, kind: str, data: str) -> str:
        return f"{data}\n"

    def done(self) -> Optional[str]:
        return NDJSON_DONE_LINE if self._include_done else None


# -- driving the stream --------------------------------------------------------------------------

_SERVED: dict[object, object] = {}
"""Streams served by unfinished responses, and the helper tasks that step them (keepalive).

asyncio refers to tasks and async generators weakly.  Without this, a response dropped in a
reference cycle would be collected together with everything only it refers to: the garbage
collector would finalize the stream on its own (its close racing the response's own close of
it) and destroy the helper task while it is pending.  Held here, the stream and the helper
task stay reachable, and only the response is finalized: its close, run by the event loop,
closes the stream as on any other exit.  Each entry is removed when its response has closed
its stream (or the helper task has finished).
"""


@contextlib.contextmanager
def _held(value: object) -> Iterator[None]:
    key = object()
    _SERVED[key] = value
    try:
        yield
    finally:
        del _SERVED[key]


async def _aclose(iterator: object) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


def _last_frame(framing: _Framing, failure: Optional[Exception]) -> Optional[str]:
    """The frame that ends a response: the done marker (if any), or the error frame."""
    return framing.done() if failure is None else framing.error(failure)


async def _frames(iterator: AsyncIterator[Any], framing: _Framing) -> AsyncGenerator[str, None]:
    """The frames of an async stream, iterated directly (no keepalive)."""
    anext = iterator.__anext__
    failure: Optional[Exception] = None
    closed = False
    with _held(iterator):
        try:
            while True:
                try:
                    item = await anext()
                except StopAsyncIteration:
                    break
                except Exception as error:
                    failure = error
                    break
                try:
                    frame = framing.item(item)
                except _EncodeFailure as error:
                    failure = error
                    closed = True  # stop the program before the error frame is written
                    await _aclose(iterator)
                    break
                yield frame
            last, failure = _last_frame(framing, failure), None  # drop the traceback first
            if last is not None:
                yield last
        finally:
            if not closed:
                await _aclose(iterator)


_ITEM, _END, _RAISED = range(3)


class _Pump:
    """Steps an async iterator in a helper task, one step per request.

    A keepalive timeout must not cancel a pending ``__anext__`` (cancelling it kills an async
    generator), so the step runs in this task while the consumer waits for it with a timeout.
    There is no read-ahead: the next item is only asked for when the consumer wants it.

    Invariants:

    * Every step and the final ``aclose()`` run in the helper task, hence in one
      ``contextvars`` context, as they would when iterated directly: a stream that sets a
      context variable in one step and resets it in a later one keeps working.  (A pump
      stopped before its task ever ran makes the task close the iterator without a step.)
    * Nothing escapes from the helper task.  Each step's outcome (an item, the end, or any
      exception, ``KeyboardInterrupt`` and ``SystemExit`` included, which asyncio would
      otherwise let escape from the event loop) goes to the consumer through the step's
      reply, and what closing the iterator raises is re-raised by :meth:`stop`.
    * :meth:`stop` returns only once the helper task has finished, hence once the iterator is
      closed (and a streamified program stopped), even when the consumer is cancelled again
      while it waits, as anyio's and Starlette's cancel scopes do; that cancellation is
      re-raised afterwards, as ``StreamCall.stop`` does for the stream itself.
    * The helper task is held in ``_SERVED`` until it has finished.
    """

    __slots__ = ("_close_error", "_iterator", "_loop", "_requests", "_started", "task")

    def __init__(self, iterator: AsyncIterator[Any]) -> None:
        self._iterator = iterator
        self._loop = asyncio.get_running_loop()
        self._requests: asyncio.Queue[Optional[asyncio.Future[tuple[int, Any]]]] = asyncio.Queue()
        self._started = False
        self._close_error: Optional[BaseException] = None
        self.task = self._loop.create_task(self._run())
        key = object()
        _SERVED[key] = self.task
        self.task.add_done_callback(functools.partial(_forget, key))

    def request(self) -> asyncio.Future[tuple[int, Any]]:
        reply: asyncio.Future[tuple[int, Any]] = self._loop.create_future()
        self._requests.put_nowait(reply)
        return reply

    async def _run(self) -> None:
        self._started = True
        try:
            await self._serve()
        finally:
            try:
                await _aclose(self._iterator)
            except BaseException as error:  # for stop() to re-raise, in the consumer
                self._close_error = error

    async def _serve(self) -> None:
        while True:
            reply = await self._requests.get()
            if reply is None:
                return
            try:
                item = await self._iterator.__anext__()
            except StopAsyncIteration:
                reply.set_result((_END, None))
                return
            except BaseException as error:
                # A CancelledError is either ours (stop() below; nobody reads the reply) or the
                # stream's own, which the consumer re-raises, as any BaseException.
                reply.set_result((_RAISED, error))
                return
            reply.set_result((_ITEM, item))

    async def stop(self) -> None:
        """Cancel a pending step, close the iterator and wait until all that is done; see the
        class docstring.  Calling it again does nothing."""
        task = self.task
        if not task.done():
            while not self._requests.empty():  # requests nobody will read any more
                self._requests.get_nowait()
            self._requests.put_nowait(None)  # ends the task, even if a step swallows cancel()
            if self._started:
                task.cancel()
        interrupted = False
        while not task.done():
            try:
                await asyncio.wait((task,))
            except asyncio.CancelledError:
                interrupted = True  # keep waiting: the response ends after the stream closed
        error, self._close_error = self._close_error, None
        if error is not None and not isinstance(error, (Exception, asyncio.CancelledError)):
            raise error  # KeyboardInterrupt, SystemExit: before anything else
        if interrupted:
            raise asyncio.CancelledError()
        if error is not None:
            raise error


def _forget(key: object, task: asyncio.Task[None]) -> None:
    del _SERVED[key]
    if not task.cancelled():
        task.exception()  # retrieved: the consumer is told through the reply, or raises it


async def _frames_with_keepalive(
    iterator: AsyncIterator[Any], framing: _Framing, keepalive: float
) -> AsyncGenerator[str, None]:
    """The frames of an async stream, with a comment frame after ``keepalive`` idle seconds."""
    pump = _Pump(iterator)
    failure: Optional[Exception] = None
    try:
        while True:
            reply = pump.request()
            waiting: set[asyncio.Future[Any]] = {reply, pump.task}
            while not reply.done():
                await asyncio.wait(waiting, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED)
                if reply.done():
                    break
                if pump.task.done():  # only if it was cancelled from outside the response
                    pump.task.result()  # raises what ended it
                    raise RuntimeError("the stream's helper task ended without an answer")
                yield KEEPALIVE_FRAME
            outcome, value = reply.result()
            if outcome == _END:
                break
            if outcome == _RAISED:
                if not isinstance(value, Exception):
                    raise value
                failure = value
                break
            try:
                frame = framing.item(value)
            except _EncodeFailure as error:
                failure = error
                await pump.stop()  # stop the program before the error frame is written
                break
            yield frame
        last, failure = _last_frame(framing, failure), None  # drop the traceback before yielding
        if last is not None:
            yield last
    finally:
        await pump.stop()


# The sync twin of ``_frames``, step for step: one awaits ``__anext__`` and ``aclose()``, the
# other calls ``next`` and ``close()``; Python offers no way to share the body between them.
def _frames_sync(iterator: Iterator[Any], framing: _Framing) -> Generator[str, None, None]:
    failure: Optional[Exception] = None
    closed = False
    try:
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                break
            except Exception as error:
                failure = error
                break
            try:
                frame = framing.item(item)
            except _EncodeFailure as error:
                failure = error
                closed = True  # stop the program before the error frame is written
                _close(iterator)
                break
            yield frame
        last, failure = _last_frame(framing, failure), None  # drop the traceback before yielding
        if last is not None:
            yield last
    finally:
        if not closed:
            _close(iterator)


def _close(iterator: object) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


# -- public API ---------------------------------------------------------------------------------


def _check_flags(api: str, **flags: object) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"{api}() {name} must be True or False, got {value!r}")


def _check_default(api: str, default: object) -> None:
    if default is not None and not callable(default):
        raise TypeError(
            f"{api}() default must be a callable that returns a JSON-able value, or None; "
            f"got {_type_name(default)}"
        )


def _check_keepalive(keepalive: object) -> Optional[float]:
    if keepalive is None:
        return None
    if isinstance(keepalive, bool) or not isinstance(keepalive, (int, float)):
        raise TypeError(
            f"streaming_response() keepalive must be a number of seconds or None, "
            f"got {_type_name(keepalive)}"
        )
    if not (math.isfinite(keepalive) and keepalive > 0):
        raise ValueError(
            f"streaming_response() keepalive must be a positive number of seconds, "
            f"got {keepalive!r}"
        )
    return float(keepalive)


def _async_iterator(stream: object, api: str, sync_api: str) -> AsyncIterator[Any]:
    if isinstance(stream, AsyncIterable):
        return stream.__aiter__()
    if isinstance(stream, Iterable):
        hint = (
            f"; for a sync iterable use {sync_api}() (Starlette's StreamingResponse runs sync "
            "iterators in a thread pool), or make the stream async"
        )
    elif callable(stream):
        hint = "; did you pass the function instead of calling it?"
    else:
        hint = ""
    raise TypeError(
        f"{api}() needs an async iterable (such as the stream a streamified program returns), "
        f"got {_type_name(stream)}{hint}"
    )


def _sync_iterator(stream: object, api: str, async_api: str) -> Iterator[Any]:
    if isinstance(stream, Iterable):
        return iter(stream)
    if isinstance(stream, AsyncIterable):
        hint = f"; for an async iterable use {async_api}()"
    elif callable(stream):
        hint = "; did you pass the function instead of calling it?"
    else:
        hint = ""
    raise TypeError(f"{api}() needs an iterable, got {_type_name(stream)}{hint}")


def streaming_response(
    stream: AsyncIterable[Any],
    *,
    event_names: bool = False,
    ids: bool = False,
    keepalive: Optional[float] = None,
    default: Optional[Default] = None,
    include_done: bool = True,
) -> AsyncGenerator[str, None]:
    """Server-Sent Events for an async stream: ``data: <json>\\n\\n`` per item.

    Use it with any framework that streams an async iterable of ``str``, for instance
    ``StreamingResponse(streaming_response(stream), media_type="text/event-stream")``.

    * Each item is encoded by :func:`encode_item` (``default`` is passed on) and sent as
      ``data: <json>\\n\\n``; the JSON is compact, keeps non-ASCII text as is and never holds
      a raw line break, so no content can break the framing.
    * After the last item comes ``data: [DONE]\\n\\n`` (leave it out with
      ``include_done=False``).  It has no ``event:`` line: in a browser's ``EventSource`` it
      reaches ``onmessage``.
    * ``event_names=True`` adds ``event: <type>\\n`` (``status``, ``token``, ``prediction``,
      ``item``, ``error``) to each data frame.  In ``EventSource`` a listener for ``error``
      also gets the connection's own errors, which carry no ``data``.
    * ``ids=True`` adds ``id: <n>\\n`` to every data frame, ``[DONE]`` included, counting from
      1.
    * ``keepalive=seconds`` sends the comment frame ``: keepalive\\n\\n`` whenever no frame has
      been sent for that long, so proxies do not drop an idle connection.  Waiting for the
      stream is never cancelled by a keepalive: with it, the stream is stepped in a helper
      task (one task for all its steps, so context variables behave as usual).

    If the stream raises an ``Exception``, an error frame
    ``data: {"type":"error","error":"<ExceptionType>","message":"<str(exc)>"}`` follows the
    frames already sent and the response ends without ``[DONE]``; the exception is logged with
    its traceback on the ``streamify`` logger and not re-raised.  Other ``BaseException``\\ s
    propagate (the program's ``KeyboardInterrupt`` / ``SystemExit`` as the same object).  An
    item that cannot be encoded (see :func:`encode_item`; a bug in the server code: pass
    ``default=``) closes the stream, then ends the response with an error frame whose message
    says which item could not be encoded, and is logged.  Whatever the exit (end, error,
    client disconnected, consumer cancelled, even repeatedly, or closed), the stream's
    ``aclose()`` is awaited, which stops the program, before the response's generator
    finishes.  Code that writes the frames itself should iterate inside
    ``contextlib.aclosing(...)``, so that an exception of its own closes the response too.

    Arguments are checked here, before anything is iterated.  A sync iterable is refused
    (iterating it could block the event loop): use :func:`streaming_response_sync`.
    """
    api = "streaming_response"
    _check_flags(api, event_names=event_names, ids=ids, include_done=include_done)
    _check_default(api, default)
    seconds = _check_keepalive(keepalive)
    iterator = _async_iterator(stream, api, "streaming_response_sync")
    framing = _SSEFraming(api, default, event_names=event_names, ids=ids, include_done=include_done)
    if seconds is None:
        return _frames(iterator, framing)
    return _frames_with_keepalive(iterator, framing, seconds)


def streaming_response_sync(
    stream: Iterable[Any],
    *,
    event_names: bool = False,
    ids: bool = False,
    default: Optional[Default] = None,
    include_done: bool = True,
) -> Generator[str, None, None]:
    """Server-Sent Events for a sync stream (for WSGI frameworks such as Flask or Django).

    The same frames and endings as :func:`streaming_response`, without keepalive: a sync
    generator cannot send anything while it waits for the next item.  The stream's
    ``close()`` is called on every exit path.
    """
    api = "streaming_response_sync"
    _check_flags(api, event_names=event_names, ids=ids, include_done=include_done)
    _check_default(api, default)
    iterator = _sync_iterator(stream, api, "streaming_response")
    framing = _SSEFraming(api, default, event_names=event_names, ids=ids, include_done=include_done)
    return _frames_sync(iterator, framing)


def ndjson_response(
    stream: AsyncIterable[Any],
    *,
    default: Optional[Default] = None,
    include_done: bool = True,
) -> AsyncGenerator[str, None]:
    """Newline-delimited JSON for an async stream: one :func:`encode_item` object per line.

    Serve it as ``application/x-ndjson``.  Every line is ``<json>\\n`` and holds no other line
    break (not even one ``str.splitlines`` would see), so ``for line in body.splitlines():
    json.loads(line)`` reads it back.  The last line is ``{"type":"done"}`` (leave it out with
    ``include_done=False``); a stream that raises an ``Exception`` ends with an
    ``{"type":"error",...}`` line instead, and is logged, exactly as in
    :func:`streaming_response`.  An item that cannot be encoded closes the stream and ends
    the response with an ``{"type":"error",...}`` line, as there.  The stream's ``aclose()``
    is awaited on every exit path.
    """
    api = "ndjson_response"
    _check_flags(api, include_done=include_done)
    _check_default(api, default)
    iterator = _async_iterator(stream, api, "ndjson_response_sync")
    return _frames(iterator, _NDJSONFraming(api, default, include_done=include_done))


def ndjson_response_sync(
    stream: Iterable[Any],
    *,
    default: Optional[Default] = None,
    include_done: bool = True,
) -> Generator[str, None, None]:
    """Newline-delimited JSON for a sync stream; see :func:`ndjson_response`."""
    api = "ndjson_response_sync"
    _check_flags(api, include_done=include_done)
    _check_default(api, default)
    iterator = _sync_iterator(stream, api, "ndjson_response")
    return _frames_sync(iterator, _NDJSONFraming(api, default, include_done=include_done))
