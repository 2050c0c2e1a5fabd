"""The ``"openai-responses"`` protocol: a stream as OpenAI Responses API streaming events.

What an OpenAI SDK client reads from ``client.responses.create(..., stream=True)``: typed SSE
events (``event: <type>`` lines) whose data carry ``type`` and ``sequence_number`` (0, 1, 2, ...
per response), and no ``[DONE]``:

* ``response.created`` and ``response.in_progress`` open the response (``resp_<run id>``);
* each *occurrence* of a streamed field (one field of one module call, up to its last chunk)
  is an output item of its own, at the next ``output_index``: a text field is a ``message``
  item with one ``output_text`` part (``response.output_item.added``,
  ``response.content_part.added``, ``response.output_text.delta`` per chunk, then
  ``response.output_text.done``, ``response.content_part.done``,
  ``response.output_item.done``); a reasoning field is a ``reasoning`` item whose
  ``reasoning_text`` part streams as ``response.reasoning_text.delta`` / ``.done``;
* the prediction: when no text item was streamed, its text (``answer_field``, or all its
  fields as JSON) becomes one message item, sent whole; its usage is kept for the end;
* ``response.completed`` carries the whole response: every output item, ``usage`` from
  ``Prediction.get_lm_usage()`` summed over the models (``None`` if there was none);
* on failure: ``response.failed`` (status ``"failed"``, ``error.message`` ours), then an
  ``error`` event that carries both the Responses ``error`` event's fields (``code``,
  ``message``, ``param``) and an ``error`` object, which is what makes ``openai.Stream``
  raise ``openai.APIError`` with our message.

Status messages and custom items have no place in the Responses protocol: they are left out,
unless ``extras=True`` sends them as ``streamify.status`` / ``streamify.item`` events (with
the item's streamify payload; the SDK yields them as events of an unknown type).

Item ids are ``msg_<call id>_<output index>`` and ``rs_<call id>_<output index>`` (the run id
stands in for a chunk without a call id), so they depend only on the run and the stream.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional

from ._encoding import _escape_unsafe, _payload, _string
from ._protocol import Event, StreamProtocol
from ._protocol_parts import answer_text

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from ._messages import Prediction, StatusMessage, StreamItem, StreamResponse

__all__ = ("OpenAIResponsesProtocol",)

_Key = tuple[str, str, str]  # call id, module name, field name


class _Output:
    """One output item being streamed: its index, id, kind and the text so far."""

    __slots__ = ("id", "index", "reasoning", "text")

    def __init__(self, index: int, item_id: str, reasoning: bool) -> None:
        self.index = index
        self.id = item_id
        self.reasoning = reasoning
        self.text: list[str] = []

    def part(self, text: str) -> dict[str, Any]:
        if self.reasoning:
            return {"type": "reasoning_text", "text": text}
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def item(self, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
        if self.reasoning:
            return {
                "id": self.id,
                "type": "reasoning",
                "summary": [],
                "content": content,
                "status": status,
            }
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": content,
        }


def _usage(usage: Optional[dict[str, dict[str, int]]]) -> Optional[dict[str, Any]]:
    """DSPy-style usage per model as one Responses ``usage`` object, or None."""
    if not usage:
        return None
    prompt = sum(model.get("prompt_tokens", 0) for model in usage.values())
    completion = sum(model.get("completion_tokens", 0) for model in usage.values())
    total = sum(model.get("total_tokens", 0) for model in usage.values()) or prompt + completion
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": total,
    }


class OpenAIResponsesProtocol(StreamProtocol):
    """OpenAI Responses API streaming events, read by ``client.responses.create(stream=True)``.

    :param model: the ``model`` the response objects name.
    :param text_fields: the streamed fields that become output text; ``None``: every field
        that is not a reasoning field.  Chunks of other fields are left out.
    :param reasoning_fields: the fields streamed as reasoning items (``"reasoning"``, the
        default name of a module's reasoning field).
    :param answer_field: the prediction field whose value is the output text when no text
        field was streamed; ``None``: the prediction's fields as JSON text.
    :param extras: also send status messages and custom items, as ``streamify.status`` /
        ``streamify.item`` events.
    :raises TypeError: a parameter of the wrong type.
    """

    name = "openai-responses"
    event_names = True
    sse_only = True
    _trusted_framing = True

    def __init__(
        self,
        *,
        model: str = "streamify",
        text_fields: Optional[Collection[str]] = None,
        reasoning_fields: Collection[str] = ("reasoning",),
        answer_field: Optional[str] = None,
        extras: bool = False,
    ) -> None:
        for what, names in (("text_fields", text_fields), ("reasoning_fields", reasoning_fields)):
            if names is not None and (
                isinstance(names, str) or not all(isinstance(n, str) for n in names)
            ):
                raise TypeError(
                    f"OpenAIResponsesProtocol {what} must be a collection of field names "
                    f"(such as ('answer',)), got {names!r}"
                )
        if not isinstance(model, str):
            raise TypeError(f"OpenAIResponsesProtocol model must be a str, got {model!r}")
        if answer_field is not None and not isinstance(answer_field, str):
            raise TypeError(
                f"OpenAIResponsesProtocol answer_field must be a field name or None, "
                f"got {answer_field!r}"
            )
        if not isinstance(extras, bool):
            raise TypeError(f"OpenAIResponsesProtocol extras must be True or False, got {extras!r}")
        self.model = model
        self.text_fields = None if text_fields is None else frozenset(text_fields)
        self.reasoning_fields = frozenset(reasoning_fields)
        self.answer_field = answer_field
        self.extras = extras

    def reset(self) -> None:
        self._sequence = 0
        self._created_at = int(time.time())
        self._open: dict[_Key, _Output] = {}
        self._done: dict[int, dict[str, Any]] = {}  # output index -> finished item
        self._count = 0
        self._texts = 0
        self._usage: Optional[dict[str, Any]] = None

    # -- helpers -------------------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> Event:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return Event(kind, data)

    def _response(self, status: str, error: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        return {
            "id": f"resp_{self.run_id}",
            "object": "response",
            "created_at": self._created_at,
            "status": status,
            "model": self.model,
            "output": [self._done[index] for index in sorted(self._done)],
            "error": error,
            "incomplete_details": None,
            "instructions": None,
            "metadata": {},
            "parallel_tool_calls": False,
            "tool_choice": "auto",
            "tools": [],
            "usage": self._usage,
        }

    def _kind(self, field: str) -> Optional[bool]:
        """True: a reasoning field, False: a text field, None: not sent."""
        if field in self.reasoning_fields:
            return True
        if self.text_fields is None or field in self.text_fields:
            return False
        return None

    def _open_item(self, call_id: str, reasoning: bool) -> tuple[_Output, list[Event]]:
        index = self._count
        self._count += 1
        prefix = "rs" if reasoning else "msg"
        output = _Output(index, f"{prefix}_{call_id or self.run_id}_{index}", reasoning)
        events = [
            self._event(
                "response.output_item.added",
                output_index=index,
                item=output.item("in_progress", []),
            ),
            self._event(
                "response.content_part.added",
                item_id=output.id,
                output_index=index,
                content_index=0,
                part=output.part(""),
            ),
        ]
        if not reasoning:
            self._texts += 1
        return output, events

    def _delta(self, output: _Output, delta: str) -> Event:
        output.text.append(delta)
        kind = "response.reasoning_text.delta" if output.reasoning else "response.output_text.delta"
        if type(delta) is str and type(output.id) is str:
            # The most frequent event, written out directly: the same JSON as the general
            # path below (a test checks it), without converting a dict for every chunk.
            sequence = self._sequence
            self._sequence += 1
            tail = "}" if output.reasoning else ',"logprobs":[]}'
            text = (
                f'{{"type":"{kind}","sequence_number":{sequence},"item_id":{_string(output.id)},'
                f'"output_index":{output.index},"content_index":0,"delta":{_string(delta)}{tail}'
            )
            return Event(kind, _escape_unsafe(text))
        return self._delta_event(output, kind, delta)

    def _delta_event(self, output: _Output, kind: str, delta: str) -> Event:
        extra: dict[str, Any] = {} if output.reasoning else {"logprobs": []}
        return self._event(
            kind,
            item_id=output.id,
            output_index=output.index,
            content_index=0,
            delta=delta,
            **extra,
        )

    def _close_item(self, output: _Output) -> list[Event]:
        text = "".join(output.text)
        kind = "response.reasoning_text.done" if output.reasoning else "response.output_text.done"
        extra: dict[str, Any] = {} if output.reasoning else {"logprobs": []}
        item = output.item("completed", [output.part(text)])
        self._done[output.index] = item
        where = {"item_id": output.id, "output_index": output.index, "content_index": 0}
        return [
            self._event(kind, **where, text=text, **extra),
            self._event("response.content_part.done", **where, part=output.part(text)),
            self._event("response.output_item.done", output_index=output.index, item=item),
        ]

    def _close_all(self) -> list[Event]:
        events: list[Event] = []
        for output in self._open.values():
            events += self._close_item(output)
        self._open.clear()
        return events

    # -- the protocol --------------------------------------------------------------------------

    def start(self) -> Sequence[Event]:
        return (
            self._event("response.created", response=self._response("in_progress")),
            self._event("response.in_progress", response=self._response("in_progress")),
        )

    def on_token(self, item: StreamResponse) -> Sequence[Event]:
        reasoning = self._kind(item.signature_field_name)
        if reasoning is None:
            return ()
        key = (item.call_id, item.predict_name, item.signature_field_name)
        events: list[Event] = []
        output = self._open.get(key)
        if output is None:
            output, events = self._open_item(item.call_id, reasoning)
            self._open[key] = output
        if item.chunk:
            events.append(self._delta(output, item.chunk))
        if item.is_last_chunk:
            events += self._close_item(self._open.pop(key))
        return events

    def on_prediction(self, item: Prediction) -> Sequence[Event]:
        events = self._close_all()
        self._usage = _usage(item.get_lm_usage())
        if self._texts:
            return events
        text = answer_text(item, self.answer_field, _payload(item, self.default)["data"])
        output, opened = self._open_item("", reasoning=False)
        events += opened
        if text:
            events.append(self._delta(output, text))
        return events + self._close_item(output)

    def on_status(self, item: StatusMessage) -> Sequence[Event]:
        return self._extra("streamify.status", item)

    def on_item(self, item: StreamItem) -> Sequence[Event]:
        return self._extra("streamify.item", item)

    def _extra(self, kind: str, item: Any) -> Sequence[Event]:
        if not self.extras:
            return ()
        return (self._event(kind, item=_payload(item, self.default)),)

    def finish(self) -> Sequence[Event]:
        events = self._close_all()
        events.append(self._event("response.completed", response=self._response("completed")))
        return events

    def fail(self, error_type: str, message: str) -> Sequence[Event]:
        error = {"code": "server_error", "message": message, "type": error_type}
        failed = self._event("response.failed", response=self._response("failed", error))
        return (
            failed,
            self._event("error", code="server_error", message=message, param=None, error=error),
        )
