"""Framework-neutral HTTP helpers for runs: the three endpoints as status, headers and body.

A web framework's route calls one helper and turns the :class:`RunReply` it returns into its
own response (``body`` is JSON text, or SSE frames to stream)::

    POST /runs                   -> start_run_reply(runs, stream)           201 {"run_id": ...}
    GET  /runs/{run_id}/events   -> run_events_reply(runs, run_id, ...)     200 SSE
    POST /runs/{run_id}/cancel   -> cancel_run_reply(runs, run_id, ...)     202 {"run_id": ...}

Errors are JSON ``{"error": <code>, "message": <text>}``: 400 (a malformed ``Last-Event-ID``),
403 (the ``Runs`` authorization hook refused), 404 (unknown or expired run), 503 (the run
store cannot be reached).  A reader that reconnects after it has seen the end of a run gets
204, which tells an ``EventSource`` to stop reconnecting: a finished run is never reopened.

Nothing here imports a web framework; the helpers only await ``Runs``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator  # noqa: TC003 (a class annotation: see __init__)
from typing import TYPE_CHECKING, NamedTuple, Optional, Union

from ._encoding import _to_json
from ._run_store import RunNotFound, RunStoreUnavailable

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Mapping

    from ._messages import StreamItem
    from ._runs import Runs

__all__ = (
    "RunReply",
    "cancel_run_reply",
    "last_event_id",
    "run_events_reply",
    "start_run_reply",
)

MAX_EVENT_ID_LENGTH = 256
"""The longest ``Last-Event-ID`` accepted (every store's ids are much shorter)."""

JSON_HEADERS = {"Content-Type": "application/json"}
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",  # never serve a stored copy of a live stream
    "X-Accel-Buffering": "no",  # ask nginx-style proxies not to buffer it
}


class RunReply(NamedTuple):
    """What an endpoint answers: turn it into the framework's response.

    ``status`` is the HTTP status code, ``headers`` the headers to send (``Content-Type``
    included), ``body`` either the whole body as text (JSON) or, for a 200 from
    :func:`run_events_reply`, an async generator of SSE frames to stream (the framework
    closes it when the client goes away, which ends that reader only, never the run).
    """

    status: int
    headers: dict[str, str]
    body: Union[str, AsyncGenerator[str, None]]


def _error(status: int, code: str, message: str) -> RunReply:
    return RunReply(status, dict(JSON_HEADERS), _to_json({"error": code, "message": message}))


def _lookup(mapping: Optional[Mapping[str, str]], name: str) -> Optional[str]:
    """``mapping[name]``, the name's case ignored (HTTP header names are case-insensitive)."""
    if mapping is None:
        return None
    value = mapping.get(name)
    if value is not None:
        return value
    for key, value in mapping.items():
        if isinstance(key, str) and key.lower() == name:
            return value
    return None


def last_event_id(
    headers: Optional[Mapping[str, str]] = None, query: Optional[Mapping[str, str]] = None
) -> Optional[str]:
    """The event id a reader last saw: the ``Last-Event-ID`` header (what an ``EventSource``
    sends when it reconnects), else the ``last_event_id`` query parameter (a page that
    reconnects by hand), else None.  An empty value counts as absent.

    ``headers`` and ``query`` are mappings of str (header names in any case).  Raises
    ``ValueError`` for a value longer than 256 characters or with control characters (answer
    400); whether the id is one the run store makes is checked by :meth:`Runs.sse`.
    """
    value = _lookup(headers, "last-event-id")
    if value is None or value == "":
        value = _lookup(query, "last_event_id")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"an event id is a str, got {type(value).__name__}")
    if len(value) > MAX_EVENT_ID_LENGTH or any(
        ord(char) < 32 or ord(char) == 127 for char in value
    ):
        raise ValueError(
            f"Last-Event-ID: at most {MAX_EVENT_ID_LENGTH} printable characters, got {value[:40]!r}"
        )
    return value


async def start_run_reply(
    runs: Runs,
    stream: AsyncIterable[StreamItem],
    *,
    run_id: Optional[str] = None,
    cancel_when_unread: bool = False,
) -> RunReply:
    """Start ``stream`` as a run (:meth:`Runs.start` with these arguments): 201
    ``{"run_id": ...}``, or 503 if the store cannot be reached (the stream is closed).
    ``TypeError`` / ``ValueError`` from :meth:`Runs.start` (a programming error) propagate."""
    try:
        started = await runs.start(stream, run_id=run_id, cancel_when_unread=cancel_when_unread)
    except RunStoreUnavailable as error:
        return _error(503, "store_unavailable", str(error))
    return RunReply(201, dict(JSON_HEADERS), _to_json({"run_id": started}))


async def run_events_reply(
    runs: Runs,
    run_id: str,
    *,
    headers: Optional[Mapping[str, str]] = None,
    query: Optional[Mapping[str, str]] = None,
    request: object = None,
    keepalive: Optional[float] = 15.0,
    retry: Optional[int] = 1000,
) -> RunReply:
    """The answer to ``GET /runs/{run_id}/events``: 200 and the run's SSE frames after the
    reader's last event id (see :func:`last_event_id`: ``headers``, ``query``), then its live
    events, its terminal event, and the end of the body.

    ``request`` is passed to the ``Runs`` authorization hook (action ``"read"``): 403 when it
    refuses.  404 for an unknown run, 400 for a malformed id, 503 if the store is lost, 204
    when the reader saw the end already.  ``keepalive`` is as for :meth:`Runs.sse`;
    ``retry`` (milliseconds, or None) is sent first as the SSE ``retry:`` field, how long an
    ``EventSource`` waits before it reconnects.
    """
    try:
        after = last_event_id(headers, query)
    except (TypeError, ValueError) as error:
        return _error(400, "bad_event_id", str(error))
    try:
        if not await runs.authorized("read", run_id, request):
            return _error(403, "forbidden", f"not allowed to read run {run_id!r}")
        status = await runs.status(run_id)
        frames = runs.sse(run_id, last_event_id=after, keepalive=keepalive)
    except RunNotFound as error:
        return _error(404, "not_found", str(error))
    except RunStoreUnavailable as error:
        return _error(503, "store_unavailable", str(error))
    except (TypeError, ValueError) as error:
        return _error(400, "bad_event_id", str(error))
    first: Optional[str] = None
    if status != "running":  # the log is complete: its first frame is there at once
        try:
            first = await frames.__anext__()
        except StopAsyncIteration:
            return RunReply(204, {}, "")  # this reader saw the end: do not reconnect
        except RunNotFound as error:
            return _error(404, "not_found", str(error))
        except RunStoreUnavailable as error:
            return _error(503, "store_unavailable", str(error))
    return RunReply(200, dict(SSE_HEADERS), _frames(frames, first, retry))


async def _frames(
    frames: AsyncGenerator[str, None], first: Optional[str], retry: Optional[int]
) -> AsyncGenerator[str, None]:
    try:
        if retry is not None:
            yield f"retry: {retry}\n\n"
        if first is not None:
            yield first
        async for frame in frames:
            yield frame
    finally:
        await frames.aclose()


async def cancel_run_reply(runs: Runs, run_id: str, *, request: object = None) -> RunReply:
    """The answer to ``POST /runs/{run_id}/cancel``: 202 ``{"run_id": ...}`` once the cancel
    is requested (:meth:`Runs.cancel`: the program stops soon, its readers get the
    ``cancelled`` event; a run that has ended stays as it is).  ``request`` goes to the
    authorization hook (action ``"cancel"``): 403 when it refuses; 404 for an unknown run,
    503 if the store cannot be reached."""
    try:
        if not await runs.authorized("cancel", run_id, request):
            return _error(403, "forbidden", f"not allowed to cancel run {run_id!r}")
        await runs.cancel(run_id)
    except RunNotFound as error:
        return _error(404, "not_found", str(error))
    except RunStoreUnavailable as error:
        return _error(503, "store_unavailable", str(error))
    return RunReply(202, dict(JSON_HEADERS), _to_json({"run_id": run_id}))
