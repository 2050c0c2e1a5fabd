"""Wire protocols: how the items of a stream become the events a front-end reads.

A protocol maps each stream item (status message, token chunk, custom item, prediction) and
the two endings (done, error) to zero or more *events*.  The response functions
(``streaming_response`` and friends, in ``_responses.py``) frame those events as SSE or NDJSON;
a protocol never writes bytes itself, so framing safety (no raw line break can come from
content, surrogates become U+FFFD) holds for every protocol, built-in or a user's own.

An event is ``Event(type, data)``: ``type`` names it (written as the SSE ``event:`` line when
the protocol sets ``event_names``), ``data`` is a JSON-able payload (encoded by the response,
with its ``default`` hook, and refused as :func:`streamify.encode_item` refuses) or a ``str``
of JSON text made by :func:`encode_json`.

Invariants (what the response functions rely on):

1. A protocol object given to a response is a *template*: each response calls
   :meth:`StreamProtocol.new` once and uses only the copy, so one protocol object serves
   any number of concurrent responses, and per-response state (open text parts, sequence
   numbers) lives in the copy.
2. For one response the calls are, in order: ``new(run_id)``, ``start()``, then ``events(item)``
   for each item in stream order, then ``finish()`` (the stream ended) or
   ``fail(error_type, message)`` (the stream raised, or an item could not be encoded); ``fail``
   also follows a ``start``/``events``/``finish`` that raised, which ends the response like an
   item that cannot be encoded (the stream closed, an error event, logged).  No call follows
   ``fail``.  A protocol that raises in ``fail`` ends the response with streamify's own error
   event (:func:`error_payload`).  The calls of one response come from one thread, one at a
   time; the consumer leaving (a disconnect) makes no call at all.
3. Ids in events derive from ``run_id`` and the items' call ids only, so a run's log, read
   again from any id, shows the same ids.
4. Framing safety does not depend on the protocol.  ``data`` given as a ``str`` is written as
   it is, so it must be JSON text from :func:`encode_json` (or a marker); the response
   refuses (as an item that cannot be encoded) a ``str`` data or an event ``type`` holding a
   line break or a surrogate.  Built-in protocols, whose ``str`` data all come from the
   encoder and whose types are constants, set ``_trusted_framing`` in their own class body and
   skip that check (a subclass of one, which may override its methods, is checked).
"""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Mapping, Sequence  # noqa: TC003 (class annotations: see __init__)
from typing import Any, ClassVar, NamedTuple, Optional, Union

from typing_extensions import Self

from ._encoding import Default, _convert_payload, _payload, _status_json, _to_json, _token_json
from ._messages import Prediction, StatusMessage, StreamItem, StreamResponse

__all__ = ("Event", "StreamProtocol", "StreamifyProtocol", "encode_json", "error_payload")


class Event(NamedTuple):
    """One event of a protocol: its ``type`` and its ``data``.

    ``data`` is a JSON-able value (usually a ``dict``), or a ``str`` holding JSON text made by
    :func:`encode_json` (or a marker such as ``"[DONE]"``), written as it is.
    """

    type: str
    data: Union[Mapping[str, Any], Sequence[Any], str, int, float, bool, None]


def encode_json(value: Any, default: Optional[Default] = None) -> str:
    """``value`` as compact JSON text safe to frame: no raw line break, no surrogate.

    Refuses what :func:`streamify.encode_item` refuses (``TypeError`` / ``ValueError``).
    """
    return _to_json(_convert_payload(value, default))


def error_payload(error_type: str, message: str) -> dict[str, Any]:
    """streamify's error object: ``{"type": "error", "error": {"type", "message"}, "message"}``.

    ``error`` is an object with the exception's type name and the message, the shape OpenAI's
    SDKs read from a stream (``openai.Stream`` raises ``APIError`` with ``error.message``);
    the top-level ``message`` is the same text, for clients that read only that.
    """
    return {"type": "error", "error": {"type": error_type, "message": message}, "message": message}


_UNSAFE = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029\ud800-\udfff]")
"""What a frame's line may not hold: a line break by any splitting rule, or a surrogate."""


def _trusted(protocol: StreamProtocol) -> bool:
    """Whether the protocol's own class (not a subclass of it) is a trusted built-in."""
    return type(protocol).__dict__.get("_trusted_framing", False) is True


def _checked(events: Sequence[Event]) -> Sequence[Event]:
    """A protocol's events, refused (``ValueError``) if one could break the framing."""
    for kind, data in events:
        if type(kind) is not str or _UNSAFE.search(kind):
            raise ValueError(
                f"a protocol event's type must be a str without line breaks, got {kind!r}"
            )
        if type(data) is str and _UNSAFE.search(data):
            raise ValueError(
                "a protocol event's data given as a str must be JSON text made by "
                "streamify.encode_json(), but it holds a line break or a surrogate: pass the "
                "value itself as data instead"
            )
    return events


class StreamProtocol:
    """Base class of wire protocols.  Subclass it and override the ``on_*`` methods.

    Class attributes describe the protocol to the response functions:

    * ``name`` -- the name ``protocol=`` accepts for a built-in;
    * ``media_type`` and ``headers`` -- what the HTTP response must say
      (see :meth:`response_headers`);
    * ``event_names`` -- write each event's ``type`` as the SSE ``event:`` line;
    * ``done_marker`` -- SSE data sent after :meth:`finish`'s events (``"[DONE]"``), or None;
      NDJSON responses end with ``ndjson_done`` instead (a JSON line, or None);
    * ``sse_only`` -- the protocol is defined over SSE only (NDJSON is refused when wrapping).

    Each ``on_*`` method returns a sequence of :class:`Event` (empty: nothing is sent).
    ``self.run_id`` is set by :meth:`new`: the run's id, or a fresh random one per response.
    """

    name: ClassVar[str] = "custom"
    media_type: ClassVar[str] = "text/event-stream"
    headers: ClassVar[Mapping[str, str]] = {}
    event_names: ClassVar[bool] = False
    done_marker: ClassVar[Optional[str]] = None
    ndjson_done: ClassVar[Optional[str]] = None
    sse_only: ClassVar[bool] = False
    _trusted_framing: ClassVar[bool] = False  # see invariant 4; built-in protocols only

    run_id: str = ""
    default: Optional[Default] = None

    def new(self, run_id: Optional[str] = None, default: Optional[Default] = None) -> Self:
        """A copy of this template for one response (see the module docstring).

        ``run_id`` is the run's id (a fresh random one when None); ``default`` is the
        response's ``default`` hook, for :func:`encode_json`.  Override :meth:`reset` to set up
        per-response state.
        """
        fresh = copy.copy(self)
        fresh.run_id = run_id if run_id is not None else secrets.token_hex(16)
        fresh.default = default
        fresh.reset()
        return fresh

    def reset(self) -> None:
        """Set up per-response state on a fresh copy.  The default does nothing."""

    def response_headers(self, *, ndjson: bool = False) -> dict[str, str]:
        """The HTTP headers a response in this protocol needs, ``content-type`` included:
        ``media_type`` (``application/x-ndjson`` with ``ndjson=True``), then, for SSE, the
        no-cache and no-buffering headers, then the class's ``headers``."""
        media_type = "application/x-ndjson" if ndjson else self.media_type
        base = {"content-type": f"{media_type}; charset=utf-8"}
        if not ndjson:
            base.update({"cache-control": "no-cache", "x-accel-buffering": "no"})
        base.update(self.headers)
        return base

    # -- the calls a response makes (see invariant 2) --------------------------------------

    def start(self) -> Sequence[Event]:
        """Events sent before the first item.  The default: none."""
        return ()

    def events(self, item: StreamItem) -> Sequence[Event]:
        """The events of one stream ``item``: dispatches on its type to the ``on_*`` methods.

        An exception raised here (or in an ``on_*`` method) ends the response as an item that
        cannot be encoded does: the stream is closed and :meth:`fail` follows.
        """
        if isinstance(item, StreamResponse):
            return self.on_token(item)
        if isinstance(item, StatusMessage):
            return self.on_status(item)
        if isinstance(item, Prediction):
            return self.on_prediction(item)
        return self.on_item(item)

    def finish(self) -> Sequence[Event]:
        """Events sent after the last item, when the stream ended normally."""
        return ()

    def fail(self, error_type: str, message: str) -> Sequence[Event]:
        """Events sent when the stream raised (or an item could not be encoded).

        ``error_type`` is the exception's type name, ``message`` what went wrong.  The default
        sends streamify's error object (:func:`error_payload`).
        """
        return (Event("error", error_payload(error_type, message)),)

    # -- per item type -----------------------------------------------------------------------

    def on_status(self, item: StatusMessage) -> Sequence[Event]:
        """The events of a status message ``item``.  The default: none."""
        return ()

    def on_token(self, item: StreamResponse) -> Sequence[Event]:
        """The events of a token chunk ``item`` (a :class:`StreamResponse`, or its subclass
        :class:`PartialResponse`).  The default: none."""
        return ()

    def on_prediction(self, item: Prediction) -> Sequence[Event]:
        """The events of the stream's result ``item``, its last item.  The default: none."""
        return ()

    def on_item(self, item: StreamItem) -> Sequence[Event]:
        """The events of a custom ``item``: any object the program emitted (narrow it with
        ``isinstance``).  The default: none."""
        return ()


class StreamifyProtocol(StreamProtocol):
    """streamify's own frames: ``{"type": ...}`` objects, as :func:`streamify.encode_item`."""

    name = "streamify"
    done_marker = "[DONE]"
    _trusted_framing = True
    ndjson_done = '{"type":"done"}'

    def events(self, item: StreamItem) -> Sequence[Event]:
        # One type() per item; mypy does not narrow ``item`` through ``cls``, hence the ignores.
        cls = type(item)
        if cls is StreamResponse:
            text = _token_json(item)  # type: ignore[arg-type]
            if text is not None:
                return (Event("token", text),)
        elif cls is StatusMessage:
            text = _status_json(item)  # type: ignore[arg-type]
            if text is not None:
                return (Event("status", text),)
        payload = _payload(item, self.default)
        return (Event(payload["type"], _to_json(payload)),)
