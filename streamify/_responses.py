"""Responses: a stream as Server-Sent Events or NDJSON, in a wire protocol, for any framework.

A response steps the stream, asks its protocol (``_protocol.py``) for the events of each item,
and frames them: SSE ``[event: <type>\\n][id: <n>\\n]data: <json>\\n\\n``, or one JSON
object per NDJSON line.  The JSON comes from ``_encoding.py``, so no content can break the
framing whatever the protocol.

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
  (``"error"`` holds the exception's type, ``"message"`` says which item could not be encoded
  and why), without the done marker.  The failure is logged with its traceback (it is a bug
  in the server code: pass ``default=``);
* ``BaseException``\\ s that are not ``Exception`` (cancellation, ``KeyboardInterrupt``,
  ``SystemExit``) propagate, the program's own as the same object, keepalive or not;
* the consumer leaves (``aclose()``, cancellation, repeated or not, the response dropped):
  the stream is closed and the response's generator returns only once that is done;
* closing the stream raised: that exception propagates, keepalive or not.

Keepalive.  A keepalive never cancels a pending step of the stream.  A streamify stream (async
or sync) is stepped directly, as without keepalive: the response registers it for idle ticks
(``_idle``), and while it waits for an item a timer on its channel wakes it to yield a tick,
which becomes the keepalive frame.  Any other async iterable is stepped in one helper task
(``_TaskSteps``), any other sync iterable in one helper thread (``_ThreadSteps``).  The endings
above hold on all three paths.

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
import contextvars
import functools
import logging
import math
import queue
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from typing import TYPE_CHECKING, Any, Callable, Optional

from ._consumer import astream
from ._encoding import (
    Default,
    _convert_payload,
    _EncodeFailure,
    _log_program_error,
    _message_of,
    _Refusal,
    _refused,
    _to_json,
    _type_name,
)
from ._idle import BUFFERS, IDLE, TICKS
from ._protocol import _checked, _trusted, error_payload
from ._protocol_registry import ProtocolArg, get_protocol
from ._sync import _iterate

if TYPE_CHECKING:
    from ._messages import StreamItem
    from ._protocol import Event, StreamProtocol

__all__ = (
    "ndjson_response",
    "ndjson_response_sync",
    "streaming_response",
    "streaming_response_sync",
)

logger = logging.getLogger("streamify")

KEEPALIVE_FRAME = ": keepalive\n\n"


# -- framing -------------------------------------------------------------------------------------


class _Framing:
    """Turns a protocol's events into the frames of one response.

    ``item``, ``start`` and ``done`` return the frames of one step joined into one string
    (``""``: nothing to send); they raise ``_EncodeFailure`` when there can be none.
    """

    __slots__ = ("api", "default", "protocol", "trusted")

    keepalive = KEEPALIVE_FRAME
    """What is sent when the stream has been idle for a keepalive interval."""

    def __init__(
        self, api: str, default: Optional[Default], protocol: StreamProtocol, run_id: Optional[str]
    ) -> None:
        self.api = api
        self.default = default
        self.protocol = protocol.new(run_id, default)
        self.trusted = _trusted(protocol)

    def _frames(self, events: Sequence[Event]) -> str:
        if not self.trusted:
            events = _checked(events)
        if len(events) == 1:  # the usual case, kept short
            kind, data = events[0]
            return self.frame(kind, data if type(data) is str else self._json(data))
        return "".join(
            self.frame(kind, data if type(data) is str else self._json(data))
            for kind, data in events
        )

    def _json(self, data: Any) -> str:
        return _to_json(_convert_payload(data, self.default))

    def _step(self, step: Callable[..., Sequence[Event]], *args: Any) -> str:
        item = args[0] if args else None
        try:
            return self._frames(step(*args))
        except _Refusal as refusal:
            error = _refused(item, refusal, self.api)
            raise _EncodeFailure(error, _type_name(item), str(error)) from None
        except Exception as error:  # a default hook or protocol that raised; json (a safety net)
            what = f"item of type {_type_name(item)}" if args else f"the {step.__name__} events"
            message = f"cannot encode {what} as JSON: {type(error).__name__}: {_message_of(error)}"
            raise _EncodeFailure(error, _type_name(item), message) from None

    def start(self) -> str:
        return self._step(self.protocol.start)

    def item(self, item: Any) -> str:
        """The frames of one item; raises ``_EncodeFailure`` if there can be none."""
        return self._step(self.protocol.events, item)

    def error(self, failure: Exception) -> str:
        """The frames that end a failed response (and the log record that goes with it)."""
        if isinstance(failure, _EncodeFailure):
            logger.error(
                "%s() could not encode an item of type %s; it closed the stream, sent an error "
                "event and ended the response",
                self.api,
                failure.item_type,
                exc_info=failure.error,
            )
            error_type, message = type(failure.error).__name__, failure.message
        else:
            _log_program_error(failure, self.api)
            error_type, message = type(failure).__name__, _message_of(failure)
        try:
            return self._frames(self.protocol.fail(error_type, message))
        except Exception:
            logger.exception("the %s protocol failed to encode an error", self.protocol.name)
            return self.frame("error", _to_json(error_payload(error_type, message)))

    def frame(self, kind: str, data: str) -> str:
        raise NotImplementedError

    def done(self) -> Optional[str]:
        raise NotImplementedError


class _SSEFraming(_Framing):
    __slots__ = ("_event_names", "_ids", "_include_done", "_last_id", "_retry")

    def __init__(
        self,
        api: str,
        default: Optional[Default],
        protocol: StreamProtocol,
        *,
        run_id: Optional[str] = None,
        event_names: Optional[bool],
        ids: bool,
        include_done: bool,
        retry: Optional[int] = None,
    ) -> None:
        super().__init__(api, default, protocol, run_id)
        self._event_names = protocol.event_names if event_names is None else event_names
        self._ids = ids
        self._include_done = include_done
        self._last_id = 0
        self._retry = "" if retry is None else f"retry: {retry}\n\n"

    def start(self) -> str:
        return self._retry + super().start()

    def _id_line(self) -> str:
        if not self._ids:
            return ""
        self._last_id += 1
        return f"id: {self._last_id}\n"

    def frame(self, kind: str, data: str) -> str:
        if not (self._event_names or self._ids):
            return f"data: {data}\n\n"
        event = f"event: {kind}\n" if self._event_names and kind else ""
        return f"{event}{self._id_line()}data: {data}\n\n"

    def done(self) -> Optional[str]:
        frames = self._step(self.protocol.finish)
        marker = self.protocol.done_marker
        if self._include_done and marker is not None:
            frames += f"{self._id_line()}data: {marker}\n\n"
        return frames or None


class _NDJSONFraming(_Framing):
    __slots__ = ("_include_done",)

    keepalive = "\n"  # a blank line: NDJSON readers skip it

    def __init__(
        self,
        api: str,
        default: Optional[Default],
        protocol: StreamProtocol,
        *,
        include_done: bool,
    ) -> None:
        super().__init__(api, default, protocol, None)
        self._include_done = include_done

    def frame(self, kind: str, data: str) -> str:
        return f"{data}\n"

    def done(self) -> Optional[str]:
        frames = self._step(self.protocol.finish)
        marker = self.protocol.ndjson_done
        if self._include_done and marker is not None:
            frames += f"{marker}\n"
        return frames or None


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
    """The frames that end a response: the protocol's end (if any), or the error frames."""
    if failure is None:
        try:
            return framing.done()
        except _EncodeFailure as error:
            failure = error
    return framing.error(failure)


def _first_frames(framing: _Framing) -> tuple[str, Optional[Exception]]:
    """The protocol's opening frames, or the failure that ends the response at once."""
    try:
        return framing.start(), None
    except _EncodeFailure as error:
        return "", error


@contextlib.contextmanager
def _ticking(frame: object, keepalive: Optional[float]) -> Iterator[None]:
    """Ask the stream whose generator frame this is for keepalive ticks (see ``_idle``)."""
    if keepalive is None or frame is None:
        yield
        return
    TICKS[frame] = keepalive
    try:
        yield
    finally:
        TICKS.pop(frame, None)


def _stream_frame(iterator: object) -> Optional[object]:
    """The generator frame of a streamify stream (async or sync), which can tick; else None."""
    code = getattr(iterator, "ag_code", None)
    if code is not None:
        frame: Optional[object] = getattr(iterator, "ag_frame", None)
        return frame if code is astream.__code__ else None
    if getattr(iterator, "gi_code", None) is _iterate.__code__:
        frame = getattr(iterator, "gi_frame", None)
        return frame
    return None


@contextlib.contextmanager
def _buffer_of(frame: object) -> Iterator[list[Any]]:
    """A slot the streamify stream of this frame fills with its buffer (see ``_idle``)."""
    holder: list[Any] = [()]
    if frame is None:
        yield holder
        return
    BUFFERS[frame] = holder
    try:
        yield holder
    finally:
        BUFFERS.pop(frame, None)


async def _frames(
    iterator: AsyncIterator[Any], framing: _Framing, keepalive: Optional[float] = None
) -> AsyncGenerator[str, None]:
    """The frames of an async stream, iterated directly; with ``keepalive``, the stream must be
    a streamify stream (``_stream_frame``), whose idle ticks become keepalive frames.  The
    frames of a streamify stream's items that are already buffered go out in one string."""
    anext = iterator.__anext__
    closed = False
    key = _stream_frame(iterator)
    with _held(iterator), _ticking(key, keepalive), _buffer_of(key) as buffered:
        try:
            first, failure = _first_frames(framing)
            if first:
                yield first
            batch: list[str] = []
            while failure is None:
                try:
                    item = await anext()
                except StopAsyncIteration:
                    break
                except Exception as error:
                    failure = error
                    break
                if item is IDLE:
                    yield framing.keepalive
                    continue
                try:
                    frame = framing.item(item)
                except _EncodeFailure as error:
                    failure = error
                    closed = True  # stop the program before the error frame is written
                    await _aclose(iterator)
                    break
                if buffered[0]:  # the next step returns at once: its frame joins this one
                    if frame:
                        batch.append(frame)
                    continue
                if batch:
                    batch.append(frame)
                    frame = "".join(batch)
                    batch.clear()
                if frame:
                    yield frame
            if batch:
                yield "".join(batch)
            last, failure = _last_frame(framing, failure), None  # drop the traceback first
            if last is not None:
                yield last
        finally:
            if not closed:
                await _aclose(iterator)


_ITEM, _END, _RAISED = range(3)


class _TaskSteps:
    """Steps an async iterator in a helper task, one step per request.

    A keepalive timeout must not cancel a pending ``__anext__`` (cancelling it kills an async
    generator), so the step runs in this task while the consumer waits for it with a timeout.
    There is no read-ahead: the next item is only asked for when the consumer wants it.

    Invariants:

    * Every step and the final ``aclose()`` run in the helper task, hence in one
      ``contextvars`` context, as they would when iterated directly: a stream that sets a
      context variable in one step and resets it in a later one keeps working.  (A stepper
      stopped before its task ever ran makes the task close the iterator without a step.)
    * Nothing escapes from the helper task.  Each step's outcome (an item, the end, or any
      exception, ``KeyboardInterrupt`` and ``SystemExit`` included, which asyncio would
      otherwise let escape from the event loop) goes to the consumer through the step's
      reply, and what closing the iterator raises is re-raised by :meth:`stop`.
    * :meth:`stop` returns only once the helper task has finished, hence once the iterator is
      closed (and a streamified program stopped), even when the consumer is cancelled again
      while it waits, as anyio's and Starlette's cancel scopes do; that cancellation is
      re-raised afterwards, as ``StreamRun.stop`` does for the stream itself.
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
    steps = _TaskSteps(iterator)
    try:
        first, failure = _first_frames(framing)
        if first:
            yield first
        while failure is None:
            reply = steps.request()
            waiting: set[asyncio.Future[Any]] = {reply, steps.task}
            while not reply.done():
                await asyncio.wait(waiting, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED)
                if reply.done():
                    break
                if steps.task.done():  # only if it was cancelled from outside the response
                    steps.task.result()  # raises what ended it
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
                await steps.stop()  # stop the program before the error frame is written
                break
            if frame:
                yield frame
        last, failure = _last_frame(framing, failure), None  # drop the traceback before yielding
        if last is not None:
            yield last
    finally:
        await steps.stop()


# The sync twin of ``_frames``, step for step: one awaits ``__anext__`` and ``aclose()``, the
# other calls ``next`` and ``close()``; Python offers no way to share the body between them.
def _frames_sync(
    iterator: Iterator[Any], framing: _Framing, keepalive: Optional[float] = None
) -> Generator[str, None, None]:
    frame = _stream_frame(iterator)
    if keepalive is not None and frame is None:
        iterator = _ThreadSteps(iterator, keepalive)  # any other iterable: a helper thread
    with _ticking(frame, keepalive):
        yield from _sync_body(iterator, framing)


def _sync_body(iterator: Iterator[Any], framing: _Framing) -> Generator[str, None, None]:
    closed = False
    try:
        first, failure = _first_frames(framing)
        if first:
            yield first
        while failure is None:
            try:
                item = next(iterator)
            except StopIteration:
                break
            except Exception as error:
                failure = error
                break
            if item is IDLE:
                yield framing.keepalive
                continue
            try:
                frame = framing.item(item)
            except _EncodeFailure as error:
                failure = error
                closed = True  # stop the program before the error frame is written
                _close(iterator)
                break
            if frame:
                yield frame
        last, failure = _last_frame(framing, failure), None  # drop the traceback before yielding
        if last is not None:
            yield last
    finally:
        if not closed:
            _close(iterator)


class _ThreadSteps:
    """Steps a sync iterator in a helper thread, so that a WSGI response can send keepalives
    while a step blocks: ``next()`` returns ``IDLE`` when the pending step has taken
    ``keepalive`` seconds, and the next ``next()`` goes on waiting for that same step.

    Invariants:

    * One step at a time, and none ahead: a step is asked for only when the response wants
      the next item, and a step still pending after a keepalive is never asked for again.
    * Every step and the final ``close()`` run in the helper thread, in one ``contextvars``
      context copied from the response's, so the iterator sees one thread and one context.
    * Each step's outcome, any ``BaseException`` included, is raised in the response's thread;
      nothing escapes from the helper thread.
    * ``close()`` returns only once the iterator is closed and the thread has ended.  A step
      in a plain iterator cannot be interrupted: the close waits for the pending step to
      return first (a streamify stream never comes here: it ticks, see ``_idle``).  What
      closing the iterator raised is re-raised by ``close()``.
    """

    __slots__ = ("_close_error", "_keepalive", "_pending", "_replies", "_requests", "_thread")

    def __init__(self, iterator: Iterator[Any], keepalive: float) -> None:
        self._keepalive = keepalive
        self._pending = False
        self._close_error: Optional[BaseException] = None
        self._requests: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._replies: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run, iterator), name="streamify-keepalive", daemon=True
        )
        self._thread.start()

    def _run(self, iterator: Iterator[Any]) -> None:
        try:
            while self._requests.get():
                try:
                    item = next(iterator)
                except StopIteration:
                    self._replies.put((_END, None))
                    return
                except BaseException as error:  # raised by __next__, in the response's thread
                    self._replies.put((_RAISED, error))
                    return
                self._replies.put((_ITEM, item))
        finally:
            try:
                _close(iterator)
            except BaseException as error:  # for close() to re-raise
                self._close_error = error

    def __iter__(self) -> _ThreadSteps:
        return self

    def __next__(self) -> Any:
        if not self._pending:
            self._requests.put(True)
            self._pending = True
        try:
            outcome, value = self._replies.get(timeout=self._keepalive)
        except queue.Empty:
            return IDLE
        self._pending = False
        if outcome == _ITEM:
            return value
        if outcome == _END:
            raise StopIteration
        raise value

    def close(self) -> None:
        """Close the iterator in its thread and wait for that; see the class docstring."""
        self._requests.put(False)
        self._thread.join()
        error, self._close_error = self._close_error, None
        if error is not None:
            raise error


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


def _check_keepalive(api: str, keepalive: object) -> Optional[float]:
    if keepalive is None:
        return None
    if isinstance(keepalive, bool) or not isinstance(keepalive, (int, float)):
        raise TypeError(
            f"{api}() keepalive must be a number of seconds or None, got {_type_name(keepalive)}"
        )
    if not (math.isfinite(keepalive) and keepalive > 0):
        raise ValueError(
            f"{api}() keepalive must be a positive number of seconds, got {keepalive!r}"
        )
    return float(keepalive)


def _check_retry(api: str, retry: object) -> Optional[int]:
    if retry is None:
        return None
    if isinstance(retry, bool) or not isinstance(retry, int):
        raise TypeError(
            f"{api}() retry must be a whole number of milliseconds or None, got {_type_name(retry)}"
        )
    if retry < 0:
        raise ValueError(f"{api}() retry must be 0 or more milliseconds, got {retry!r}")
    return retry


def _async_frames(
    iterator: AsyncIterator[Any], framing: _Framing, keepalive: Optional[float]
) -> AsyncGenerator[str, None]:
    """A streamify stream ticks (a timer per wait); any other stream needs the helper task."""
    if keepalive is None or _stream_frame(iterator) is not None:
        return _frames(iterator, framing, keepalive)
    return _frames_with_keepalive(iterator, framing, keepalive)


def _ndjson_protocol(api: str, protocol: ProtocolArg) -> StreamProtocol:
    template = get_protocol(protocol)
    if template.sse_only:
        raise ValueError(
            f"{api}(): the {template.name!r} protocol is defined over Server-Sent Events only; "
            "use streaming_response() for it"
        )
    return template


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
    stream: AsyncIterable[StreamItem],
    *,
    protocol: ProtocolArg = "streamify",
    event_names: Optional[bool] = None,
    ids: bool = False,
    keepalive: Optional[float] = None,
    retry: Optional[int] = None,
    default: Optional[Default] = None,
    include_done: bool = True,
) -> AsyncGenerator[str, None]:
    """Server-Sent Events for an async stream: ``data: <json>\\n\\n`` per item.

    Use it with any framework that streams an async iterable of ``str``, for instance
    ``StreamingResponse(streaming_response(stream), media_type="text/event-stream")``.

    ``protocol`` is the wire protocol: a built-in's name (:func:`protocol_names`) or a
    :class:`StreamProtocol` instance or subclass; :func:`protocol_headers` gives the headers
    it needs.  ``event_names=None`` leaves the choice to the protocol.  For ``"streamify"``:

    * each item is encoded by :func:`encode_item` (``default`` is passed on) as compact JSON
      that never holds a raw line break, so no content can break the framing; after the last
      item comes ``data: [DONE]\\n\\n`` (no ``event:`` line; leave it out with
      ``include_done=False``);
    * ``event_names=True`` adds ``event: <type>\\n`` (``status``, ``token``, ``prediction``,
      ``item``, ``error``); ``ids=True`` adds ``id: <n>\\n`` to every data frame, counting
      from 1.

    ``keepalive=seconds`` sends ``: keepalive\\n\\n`` whenever no item came for that long, so
    proxies keep an idle connection and a server notices a departed client while the program
    is quiet.  A streamify stream only arms a timer while it waits (no cost per item); any
    other async iterable is stepped in one helper task.  ``retry=milliseconds`` sends
    ``retry: <ms>\\n\\n`` once, first.  The frames of items already waiting in a streamify
    stream's buffer go out joined in one string; a frame is never held back for another.

    Returns an async generator of frames.  If the stream raises an ``Exception``, the
    protocol's error frame (for ``"streamify"``: ``{"type":"error","error":{"type":..,
    "message":..},"message":..}``) follows the frames already sent, the response ends
    without ``[DONE]``, and the exception is logged on the ``streamify`` logger, not
    re-raised; other ``BaseException``\\ s propagate as the same object.  An item that
    cannot be encoded (pass ``default=``) ends the response the same way, with a message
    naming the item.  Whatever the exit (end, error, client gone, cancelled, even
    repeatedly, closed), the stream's ``aclose()`` is awaited, which stops the program,
    before the generator finishes.  Code that writes the frames itself should iterate
    inside ``contextlib.aclosing(...)``.

    Raises ``TypeError`` / ``ValueError`` for bad arguments (an unknown protocol name
    included) here, before anything is iterated.  A sync iterable is refused (iterating it
    could block the event loop): use :func:`streaming_response_sync`.
    """
    api = "streaming_response"
    framing = _sse_framing(api, protocol, event_names, ids, retry, default, include_done)
    seconds = _check_keepalive(api, keepalive)
    iterator = _async_iterator(stream, api, "streaming_response_sync")
    return _async_frames(iterator, framing, seconds)


def _sse_framing(
    api: str,
    protocol: ProtocolArg,
    event_names: Optional[bool],
    ids: bool,
    retry: Optional[int],
    default: Optional[Default],
    include_done: bool,
) -> _SSEFraming:
    """Check the SSE arguments and make the framing."""
    _check_flags(api, ids=ids, include_done=include_done)
    if event_names is not None:
        _check_flags(api, event_names=event_names)
    _check_default(api, default)
    template = get_protocol(protocol)
    return _SSEFraming(
        api,
        default,
        template,
        event_names=event_names,
        ids=ids,
        include_done=include_done,
        retry=_check_retry(api, retry),
    )


def streaming_response_sync(
    stream: Iterable[StreamItem],
    *,
    protocol: ProtocolArg = "streamify",
    event_names: Optional[bool] = None,
    ids: bool = False,
    keepalive: Optional[float] = None,
    retry: Optional[int] = None,
    default: Optional[Default] = None,
    include_done: bool = True,
) -> Generator[str, None, None]:
    """Server-Sent Events for a sync stream (for WSGI frameworks such as Flask or Django).

    The same frames, arguments and endings as :func:`streaming_response`; the stream's
    ``close()`` is called on every exit path.  ``keepalive=seconds`` matters most here: a WSGI
    server learns that the client left only when a write fails, so without it a departed
    client is noticed at the next item, however long the program stays quiet.  A streamify
    sync stream waits for its next item with a timeout and yields the keepalive meanwhile;
    any other iterable is stepped in a helper thread (one for all its steps, in a copy of the
    caller's context), and closing the response then waits for a pending step to return.
    """
    api = "streaming_response_sync"
    framing = _sse_framing(api, protocol, event_names, ids, retry, default, include_done)
    seconds = _check_keepalive(api, keepalive)
    iterator = _sync_iterator(stream, api, "streaming_response")
    return _frames_sync(iterator, framing, seconds)


def ndjson_response(
    stream: AsyncIterable[StreamItem],
    *,
    protocol: ProtocolArg = "streamify",
    keepalive: Optional[float] = None,
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
    the response with an ``{"type":"error",...}`` line, as there.  ``keepalive=seconds``
    sends an empty line after that long without an item (readers must then skip blank
    lines), as :func:`streaming_response` sends its comment.  The stream's ``aclose()`` is
    awaited on every exit path.
    """
    api = "ndjson_response"
    framing = _ndjson_framing(api, protocol, default, include_done)
    seconds = _check_keepalive(api, keepalive)
    iterator = _async_iterator(stream, api, "ndjson_response_sync")
    return _async_frames(iterator, framing, seconds)


def _ndjson_framing(
    api: str, protocol: ProtocolArg, default: Optional[Default], include_done: bool
) -> _NDJSONFraming:
    _check_flags(api, include_done=include_done)
    _check_default(api, default)
    template = _ndjson_protocol(api, protocol)
    return _NDJSONFraming(api, default, template, include_done=include_done)


def ndjson_response_sync(
    stream: Iterable[StreamItem],
    *,
    protocol: ProtocolArg = "streamify",
    keepalive: Optional[float] = None,
    default: Optional[Default] = None,
    include_done: bool = True,
) -> Generator[str, None, None]:
    """Newline-delimited JSON for a sync stream; see :func:`ndjson_response` and, for
    ``keepalive``, :func:`streaming_response_sync`."""
    api = "ndjson_response_sync"
    framing = _ndjson_framing(api, protocol, default, include_done)
    seconds = _check_keepalive(api, keepalive)
    iterator = _sync_iterator(stream, api, "ndjson_response")
    return _frames_sync(iterator, framing, seconds)
