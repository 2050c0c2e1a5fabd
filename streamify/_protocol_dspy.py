"""The ``"dspy"`` protocol: the frames DSPy's own ``dspy.streaming.streaming_response`` sends.

DSPy's server helper writes ``data: {"prediction": {fields...}}`` for the result,
``data: {"chunk": "<JSON text of an LM stream chunk>"}`` for the raw LM chunks a program
without listeners streams (a ``chat.completion.chunk``, JSON-encoded a second time), and
ends with ``data: [DONE]``.  Its clients look for those two keys and the marker.  Here:

* a prediction is ``{"prediction": {fields...}}``, as there;
* a token chunk is ``{"chunk": "<chat.completion.chunk JSON>"}`` whose
  ``choices[0].delta.content`` is the chunk's text, so a client that shows DSPy's chunks shows
  ours; the chunk also names its field (``predict_name``, ``signature_field_name``, top level
  of the inner JSON).  With ``chunks=False`` tokens are sent as the other items below;
* status messages and custom items, which DSPy's helper cannot send at all (it raises on
  them), are streamify's own payload under a ``streamify`` key
  (``{"streamify": {"type": "status", ...}}``): objects with neither a ``prediction`` nor a
  ``chunk`` key, which those clients skip;
* an error is streamify's error frame (``{"type": "error", "error": {...}, "message": ...}``),
  and a failed response has no ``[DONE]``.

The chunk ids are ``chatcmpl-<call id>`` (the run id for a chunk without one).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ._encoding import _escape_unsafe, _payload, _string, _to_json
from ._messages import Prediction, StreamResponse
from ._protocol import Event, StreamProtocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._messages import StreamItem

__all__ = ("DSPyProtocol",)


class DSPyProtocol(StreamProtocol):
    """The frames DSPy's ``streaming_response`` clients parse (see the module docstring).

    :param chunks: send token chunks as DSPy's ``{"chunk": ...}`` frames (the default), or,
        when False, as ``{"streamify": {"type": "token", ...}}``, which DSPy's clients skip.
    :raises TypeError: ``chunks`` is not a bool.
    """

    name = "dspy"
    done_marker = "[DONE]"
    sse_only = True  # DSPy's clients read Server-Sent Events
    _trusted_framing = True

    def __init__(self, *, chunks: bool = True) -> None:
        if not isinstance(chunks, bool):
            raise TypeError(f"DSPyProtocol chunks must be True or False, got {chunks!r}")
        self.chunks = chunks

    def reset(self) -> None:
        self._created = int(time.time())

    def events(self, item: StreamItem) -> Sequence[Event]:
        if isinstance(item, Prediction):
            return self.on_prediction(item)
        if self.chunks and isinstance(item, StreamResponse):
            return self.on_token(item)
        # Status messages, custom items (and tokens with chunks=False): streamify's payload,
        # under a key of its own, so that no client mistakes it for a DSPy frame.
        payload = _payload(item, self.default)
        return (Event(payload["type"], _to_json({"streamify": payload})),)

    def on_prediction(self, item: Prediction) -> Sequence[Event]:
        fields = _payload(item, self.default)["data"]
        return (Event("prediction", _to_json({"prediction": fields})),)

    def on_token(self, item: StreamResponse) -> Sequence[Event]:
        last: object = item.is_last_chunk
        if last is not True and last is not False:
            return self._token_events(item)
        finish = '"stop"' if last else "null"
        try:  # the chunk's JSON written out directly, as _token_json does for streamify's
            inner = _escape_unsafe(
                f'{{"id":{_string(f"chatcmpl-{item.call_id or self.run_id}")},'
                f'"object":"chat.completion.chunk","created":{self._created},'
                f'"model":{_string(item.predict_name)},"choices":[{{"index":0,'
                f'"delta":{{"role":"assistant","content":{_string(item.chunk)}}},'
                f'"finish_reason":{finish}}}],'
                f'"predict_name":{_string(item.predict_name)},'
                f'"signature_field_name":{_string(item.signature_field_name)}}}'
            )
        except TypeError:  # a field that is not a str: the general encoder says why
            return self._token_events(item)
        return (Event("chunk", f'{{"chunk":{_string(inner)}}}'),)

    def _token_events(self, item: StreamResponse) -> Sequence[Event]:
        token = _payload(item, self.default)  # text made safe to encode (no surrogates)
        chunk = {
            "id": f"chatcmpl-{item.call_id or self.run_id}",
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": token["predict_name"],
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": token["chunk"]},
                    "finish_reason": "stop" if item.is_last_chunk else None,
                }
            ],
            "predict_name": token["predict_name"],
            "signature_field_name": token["signature_field_name"],
        }
        return (Event("chunk", _to_json({"chunk": _to_json(chunk)})),)
