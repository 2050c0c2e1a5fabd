"""Transports that write the frames themselves: an ASGI WebSocket and aiohttp.

Both are duck-typed: nothing here imports Starlette, uvicorn or aiohttp at import time (the
aiohttp helper imports ``aiohttp.web`` when it is called, to make the response).

Invariants:

* Whatever the exit (the stream ended or failed, the client left, the caller was cancelled,
  ``send`` / ``write`` raised), the response generator is closed before the helper returns
  or raises, and so the stream is closed and the program stopped (``_responses``' endings).
* A client that leaves is not an error: the helper returns normally (``False`` for the
  WebSocket) and logs nothing, so a server has no traceback to print.
* WebSocket: a watcher task reads the connection while the frames are sent, so a departed
  client cancels the sending, hence the program, at once, even while the program is quiet.
  The helper returns only once the watcher and the sender have both finished.
* aiohttp does not cancel a handler when its client leaves; the helper learns it when a
  write fails.  Set ``keepalive`` so that a write happens while the program is quiet.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional

from ._protocol_registry import ProtocolArg, get_protocol
from ._responses import (
    _async_frames,
    _check_keepalive,
    _ndjson_framing,
    ndjson_response,
    streaming_response,
)

if TYPE_CHECKING:
    from ._encoding import Default
    from ._messages import StreamItem

__all__ = ("aiohttp_response", "websocket_stream")

Receive = Callable[[], Any]
Send = Callable[[Mapping[str, Any]], Any]

# What ASGI servers and Starlette raise from ``send`` once the client has gone: uvicorn's
# ``ClientDisconnected`` is an ``OSError``; the others are matched by name (no import).
_GONE_NAMES = frozenset({"WebSocketDisconnect", "ClientDisconnected", "ConnectionClosed"})


def _client_gone(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return True
    return any(cls.__name__ in _GONE_NAMES for cls in type(error).__mro__)


def _asgi_pair(websocket: Any) -> tuple[Receive, Send, bool]:
    """``(receive, send, needs_accept)`` of a Starlette-like WebSocket or a raw ASGI triple."""
    if isinstance(websocket, tuple) and len(websocket) == 3:
        scope, receive, send = websocket
        if not (isinstance(scope, Mapping) and scope.get("type") == "websocket"):
            raise ValueError(
                "websocket_stream() got a tuple that is not an ASGI (scope, receive, send) "
                "triple of a websocket connection"
            )
        return receive, send, True
    receive = getattr(websocket, "receive", None)
    send = getattr(websocket, "send", None)
    if not (callable(receive) and callable(send)):
        raise TypeError(
            "websocket_stream() needs a Starlette/FastAPI WebSocket (or any object with ASGI "
            "receive() and send(message) methods) or an ASGI (scope, receive, send) triple, "
            f"got {type(websocket).__name__}"
        )
    state = getattr(getattr(websocket, "client_state", None), "name", "CONNECTING")
    return receive, send, state == "CONNECTING"


async def _accept(receive: Receive, send: Send, subprotocol: Optional[str]) -> bool:
    """The ASGI handshake; ``False`` if the client left before it."""
    message = await receive()
    if message.get("type") != "websocket.connect":
        return False
    accept: dict[str, Any] = {"type": "websocket.accept"}
    if subprotocol is not None:
        accept["subprotocol"] = subprotocol
    await send(accept)
    return True


async def _send_frames(frames: AsyncIterator[str], send: Send) -> bool:
    """Send every JSON line of the frames as a text message; ``False`` if the client left."""
    try:
        async for chunk in frames:
            for line in chunk.split("\n"):
                if line:  # a blank line is a keepalive: WebSocket has its own pings
                    await send({"type": "websocket.send", "text": line})
    except Exception as error:
        if _client_gone(error):
            return False
        raise
    finally:
        await frames.aclose()  # type: ignore[attr-defined]
    return True


async def _watch(receive: Receive) -> None:
    """Return when the client has left (other messages are ignored)."""
    while True:
        message = await receive()
        if message.get("type") == "websocket.disconnect":
            return


async def _finish(tasks: tuple[asyncio.Task[Any], ...]) -> None:
    """Cancel what is left of the tasks and wait until all have finished, even if cancelled."""
    for task in tasks:
        task.cancel()
    interrupted = False
    while not all(task.done() for task in tasks):
        try:
            await asyncio.wait(tasks)
        except asyncio.CancelledError:
            interrupted = True  # keep waiting: the helper returns after the stream closed
    if interrupted:
        raise asyncio.CancelledError()


async def websocket_stream(
    websocket: Any,
    stream: AsyncIterable[StreamItem],
    *,
    protocol: ProtocolArg = "streamify",
    default: Optional[Default] = None,
    include_done: bool = True,
    subprotocol: Optional[str] = None,
    close_code: int = 1000,
) -> bool:
    """Send a stream over an ASGI WebSocket, one text message per protocol event.

    ``websocket`` is a Starlette/FastAPI ``WebSocket`` (accepted or not) or a raw ASGI
    ``(scope, receive, send)`` triple whose handshake has not happened yet.  The helper
    accepts the connection if needed (with ``subprotocol``), sends each event's JSON as a
    text message (the same objects :func:`ndjson_response` writes as lines, ending with its
    done object, or its error object if the stream failed), then closes the connection with
    ``close_code``.  While it sends, it reads the connection: when the client leaves, the
    sending is cancelled, which closes the stream and stops the program at once, even while
    the program is quiet.

    Returns ``True`` when the whole stream was sent, ``False`` when the client left first
    (nothing is logged for that).  Raises ``TypeError`` / ``ValueError`` for bad arguments
    before anything is sent; what the program raises ends the stream with an error message,
    as in :func:`streaming_response`.  Cancelling the helper stops the program before it
    re-raises.
    """
    api = "websocket_stream"
    receive, send, needs_accept = _asgi_pair(websocket)
    framing = _ndjson_framing(api, protocol, default, include_done)
    if not isinstance(stream, AsyncIterable):
        raise TypeError(
            f"{api}() needs an async iterable (such as the stream a streamified program "
            f"returns), got {type(stream).__name__}"
        )
    iterator = stream.__aiter__()
    frames = _async_frames(iterator, framing, None)
    if needs_accept and not await _accept(receive, send, subprotocol):
        await frames.aclose()
        return False
    sender = asyncio.ensure_future(_send_frames(frames, send))
    watcher = asyncio.ensure_future(_watch(receive))
    try:
        await asyncio.wait((sender, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        await _finish((sender, watcher))
    if watcher.done() and not watcher.cancelled():
        watcher.result()  # the client left; re-raises what receive() raised instead
        return False
    if not sender.result():
        return False
    try:
        await send({"type": "websocket.close", "code": close_code})
    except Exception as error:
        if not _client_gone(error):
            raise
        return False
    return True


async def aiohttp_response(
    request: Any,
    stream: AsyncIterable[StreamItem],
    *,
    protocol: ProtocolArg = "streamify",
    ndjson: bool = False,
    keepalive: Optional[float] = None,
    headers: Optional[Mapping[str, str]] = None,
    **options: Any,
) -> Any:
    """Serve a stream from an aiohttp handler: ``return await aiohttp_response(request, s)``.

    Makes an ``aiohttp.web.StreamResponse`` with the protocol's headers
    (:meth:`StreamProtocol.response_headers`, then ``headers``), prepares it, writes the
    frames of :func:`streaming_response` (or :func:`ndjson_response` with ``ndjson=True``;
    ``options`` such as ``event_names``, ``ids``, ``retry``, ``default``, ``include_done`` are
    passed on), and returns it.  A client that leaves is noticed when a write fails (aiohttp
    does not cancel the handler): the frames are closed, stopping the program, and the
    response is returned without a traceback.  Set ``keepalive`` (seconds) so that a write
    happens while the program is quiet.  Bad arguments raise ``TypeError`` / ``ValueError``
    before the response is prepared; without aiohttp installed, ``ModuleNotFoundError``.
    """
    api = "aiohttp_response"
    template = get_protocol(protocol)
    _check_keepalive(api, keepalive)
    make = ndjson_response if ndjson else streaming_response
    frames = make(stream, protocol=template, keepalive=keepalive, **options)
    try:
        web = importlib.import_module("aiohttp.web")
        response = web.StreamResponse(
            headers={**template.response_headers(ndjson=ndjson), **(headers or {})}
        )
        await response.prepare(request)
        async for frame in frames:
            await response.write(frame.encode())
    except ConnectionError:  # the client went away: nothing more to send
        return response
    finally:
        await frames.aclose()
    await response.write_eof()
    return response
