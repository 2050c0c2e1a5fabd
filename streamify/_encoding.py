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
U+0085, U+2028 and U+2029 (which ``str.splitlines`` treats as line breaks) and lone
surrogates (which cannot be encoded as UTF-8).  A frame therefore contains no line break but
its own terminators, whatever the content, and is always valid UTF-8: content such as
``"\\n\\ndata: [DONE]"`` cannot forge or end an event.

Endings.  A stream that finishes sends the done marker.  A program that raises an
``Exception`` sends an ``error`` object instead and the response ends *without* the done
marker, so a client can tell a failed response from a complete one; the exception is logged
with its traceback on the ``streamify`` logger and not re-raised (the response is already
under way).  ``BaseException``\\ s that are not ``Exception`` (cancellation,
``KeyboardInterrupt``) propagate.  An item that cannot be encoded is a bug in the server code,
not in the program: its ``TypeError`` (or ``ValueError`` for a circular reference) propagates
to the caller after the frames before it.  On every exit path (end, error, client gone, task
cancelled) the underlying stream is closed with ``aclose()`` / ``close()``, which stops the
program.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import re
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

# JSON leaves these unescaped with ensure_ascii=False; they can only occur inside JSON strings,
# where a \uXXXX escape decodes to the same character.
_UNSAFE_CHARACTERS = re.compile("[\x85\u2028\u2029\ud800-\udfff]")


def _escape_character(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _escape_unsafe(text: str) -> str:
    if text.isascii():
        return text
    return _UNSAFE_CHARACTERS.sub(_escape_character, text)


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


class _Unencodable(Exception):
    """Raised inside the converter; turned into a ``TypeError`` that names the item."""

    def __init__(self, value: object, *, key: bool = False) -> None:
        super().__init__(value)
        self.value = value
        self.key = key


class _Circular(Exception):
    """A container contains itself."""


def _type_name(value: object) -> str:
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _convert(value: Any, default: Optional[Default], active: set[int]) -> Any:
    """``value`` as plain JSON types: dict with str keys, list, str, int, float, bool, None."""
    cls = type(value)
    if cls is str or cls is int or cls is bool or value is None:
        return value
    if cls is float:
        return value if math.isfinite(value) else None
    if cls is dict:
        return _convert_mapping(value, default, active)
    if cls is list or cls is tuple:
        return _convert_sequence(value, default, active)
    if isinstance(value, str):  # str, int and float subclasses (enums, numpy scalars) as such
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
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
        return {_key(key): _convert(value, default, active) for key, value in mapping.items()}
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
    """A mapping key as a JSON object key, the way ``json.dumps`` converts keys."""
    if isinstance(key, str):
        return str.__str__(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
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
    raw = prediction.raw
    if raw is not prediction and not isinstance(raw, Mapping):
        # documented: "raw" is included only when it can be encoded
        with contextlib.suppress(_Unencodable, _Circular, TypeError, ValueError):
            payload["raw"] = _convert(raw, default, active)
    return payload


def _encode(item: Any, default: Optional[Default], api: str) -> dict[str, Any]:
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
    if isinstance(item, StatusMessage):
        return {
            "type": "status",
            "message": item.message,
            "call_id": item.call_id,
            "parent_call_id": item.parent_call_id,
            "event": item.event,
        }
    active: set[int] = set()
    try:
        if isinstance(item, Prediction):
            return _prediction_payload(item, default, active)
        return {"type": "item", "data": _convert(item, default, active)}
    except _Unencodable as error:
        raise TypeError(_unencodable_message(item, error, api)) from None
    except _Circular:
        raise ValueError(
            f"cannot encode item of type {_type_name(item)} as JSON: it contains itself "
            "(circular reference)"
        ) from None


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
    program returned something other than a mapping or a ``Prediction`` and that value can be
    encoded; anything else → ``{"type": "item", "data": value}``.

    Values are converted recursively: mappings become objects (keys converted as
    ``json.dumps`` does), lists and tuples become arrays, dataclass instances become objects
    of their fields (as ``dataclasses.asdict``), subclasses of ``str``, ``int`` and ``float``
    (such as enums) become the plain value, and NaN and infinities become ``null`` (as
    JavaScript's ``JSON.stringify`` does; JSON has no such numbers).  Any other object is
    passed to ``default``, whose result is converted in turn.

    The result holds only ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` and
    ``None``, so ``json.dumps`` or a websocket's ``send_json`` accept it.

    Raises ``TypeError`` naming the type when a value cannot be encoded and ``default`` does
    not help, and ``ValueError`` when a value contains itself.
    """
    if default is not None and not callable(default):
        raise TypeError(f"default must be a callable or None, got {_type_name(default)}")
    return _encode(item, default, "encode_item")


def _error_payload(error: BaseException) -> dict[str, Any]:
    try:
        message = str(error)
    except Exception:
        message = f"<unprintable {type(error).__name__}>"
    return {"type": "error", "error": type(error).__name__, "message": message}


def _log_program_error(error: BaseException, api: str) -> None:
    logger.error(
        "the stream raised %s; %s() sent an error event and ended the response",
        type(error).__name__,
        api,
        exc_info=error,
    )


# -- framing -------------------------------------------------------------------------------------


class _Framing:
    """Turns JSON payloads into the frames of one response."""

    __slots__ = ("api", "default")

    def __init__(self, api: str, default: Optional[Default]) -> None:
        self.api = api
        self.default = default

    def item(self, item: Any) -> str:
        cls = type(item)
        if cls is StreamResponse:
            text = _token_json(item)
            if text is not None:
                return self.frame("token", text)
        elif cls is StatusMessage:
            text = _status_json(item)
            if text is not None:
                return self.frame("status", text)
        payload = _encode(item, self.default, self.api)
        return self.frame(payload["type"], _to_json(payload))

    def error(self, error: BaseException) -> str:
        _log_program_error(error, self.api)
        return self.frame("error", _to_json(_error_payload(error)))

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


async def _aclose(iterator: object) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


def _last_frame(framing: _Framing, failure: Optional[Exception]) -> Optional[str]:
    """The frame that ends a response: the done marker (if any), or the program's error."""
    return framing.done() if failure is None else framing.error(failure)


async def _frames(iterator: AsyncIterator[Any], framing: _Framing) -> AsyncGenerator[str, None]:
    """The frames of an async stream, iterated directly (no keepalive)."""
    anext = iterator.__anext__
    failure: Optional[Exception] = None
    try:
        while True:
            try:
                item = await anext()
            except StopAsyncIteration:
                break
            except Exception as error:
                failure = error
                break
            yield framing.item(item)
        last, failure = _last_frame(framing, failure), None  # drop the traceback before yielding
        if last is not None:
            yield last
    finally:
        await _aclose(iterator)


_ITEM, _END, _RAISED = range(3)


class _Pump:
    """Steps an async iterator in a helper task, one step per request.

    A keepalive timeout must not cancel a pending ``__anext__`` (cancelling it kills an async
    generator), so the step runs in this task while the consumer waits for it with a timeout.
    Every step and the final ``aclose()`` run in the same task, hence in one ``contextvars``
    context, as they would when iterated directly: a stream that sets a context variable in
    one step and resets it in a later one keeps working.  There is no read-ahead: the next
    item is only asked for when the consumer wants it.
    """

    __slots__ = ("_iterator", "_loop", "_requests", "_started", "task")

    def __init__(self, iterator: AsyncIterator[Any]) -> None:
        self._iterator = iterator
        self._loop = asyncio.get_running_loop()
        self._requests: asyncio.Queue[Optional[asyncio.Future[tuple[int, Any]]]] = asyncio.Queue()
        self._started = False
        self.task = self._loop.create_task(self._run())
        self.task.add_done_callback(_retrieve_exception)

    def request(self) -> asyncio.Future[tuple[int, Any]]:
        reply: asyncio.Future[tuple[int, Any]] = self._loop.create_future()
        self._requests.put_nowait(reply)
        return reply

    async def _run(self) -> None:
        self._started = True
        try:
            while True:
                reply = await self._requests.get()
                if reply is None:
                    return
                try:
                    item = await self._iterator.__anext__()
                except StopAsyncIteration:
                    reply.set_result((_END, None))
                    return
                except (Exception, asyncio.CancelledError) as error:
                    # A CancelledError is either ours (stop() below; nobody reads the reply)
                    # or the stream's own, which the consumer re-raises.
                    reply.set_result((_RAISED, error))
                    return
                reply.set_result((_ITEM, item))
        finally:
            await _aclose(self._iterator)

    async def stop(self) -> None:
        """Cancel a pending step, close the iterator and wait until all that is done."""
        self._requests.put_nowait(None)  # in case the stream swallows the cancellation
        self.task.cancel()
        await asyncio.wait({self.task})
        if not self._started:  # cancelled before its first step: its finally never ran
            await _aclose(self._iterator)


def _retrieve_exception(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


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
                if pump.task.done():
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
            yield framing.item(value)
        last, failure = _last_frame(framing, failure), None  # drop the traceback before yielding
        if last is not None:
            yield last
    finally:
        await pump.stop()


def _frames_sync(iterator: Iterator[Any], framing: _Framing) -> Generator[str, None, None]:
    failure: Optional[Exception] = None
    try:
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                break
            except Exception as error:
                failure = error
                break
            yield framing.item(item)
        last, failure = _last_frame(framing, failure), None  # drop the traceback before yielding
        if last is not None:
            yield last
    finally:
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
    propagate.  An item that cannot be encoded raises ``TypeError`` when it is reached (a bug
    in the server code: pass ``default=``).  Whatever the exit (end, error, client
    disconnected, consumer cancelled or closed), the stream's ``aclose()`` is awaited, which
    stops the program.

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
    :func:`streaming_response`.  An item that cannot be encoded raises ``TypeError`` when it
    is reached.  The stream's ``aclose()`` is awaited on every exit path.
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
