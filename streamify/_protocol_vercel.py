"""The ``"vercel-ui"`` protocol: a stream as the Vercel AI SDK's UI message stream (v1).

What ``useChat`` (``@ai-sdk/react``, AI SDK 5) and ``readUIMessageStream`` read: SSE frames
``data: <chunk JSON>`` (no ``event:`` lines), the header ``x-vercel-ai-ui-message-stream: v1``,
and ``data: [DONE]`` at the end.  The chunks rebuild one assistant message
(``messageId`` ``msg_<run id>``):

* ``start`` opens it;
* each occurrence of a streamed field is a part of its own (id ``<call id>-<field>-<n>``):
  ``text-start`` / ``text-delta`` per chunk / ``text-end``; a reasoning field
  (``reasoning_fields``) the same as ``reasoning-start`` / ``-delta`` / ``-end``; a field of
  ``tool_fields`` (a ``tool=`` listener's argument) as the tool call's streamed input,
  ``tool-input-start`` / ``tool-input-delta`` / ``tool-input-available``;
* a ``@tool`` call, seen through its status messages (``StatusMessage.name`` / ``.detail``):
  ``tool-input-start`` and ``tool-input-available`` with its inputs when it starts (unless its
  input was streamed: then only ``tool-input-available``, on the same tool call),
  ``tool-output-available`` with its output when it ends; tool call id: the ``@tool`` call's id;
* a top-level ``@module`` call whose start and end produce status messages (a provider that
  returns text for them): ``start-step`` / ``finish-step`` around it;
* every status message is also a ``data-status`` part, each custom item a ``data-item``
  part (names set by ``status_part`` / ``item_part``), the prediction a ``data-prediction``
  part with its fields; when no text part was streamed, the prediction's text
  (``answer_field``, or its fields as JSON) is sent as one text part;
* the run's LM usage (``Prediction.get_lm_usage()``) as ``message-metadata``
  ``{"usage": {model: {...}}}``;
* ``finish`` (``finishReason`` ``"stop"``), then ``[DONE]``; on failure, the open parts end
  and ``error`` carries the message as ``errorText`` (no ``[DONE]``).
"""

from __future__ import annotations

from collections.abc import Mapping  # noqa: TC003 (a class annotation: see __init__)
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional, Union

from ._encoding import _payload
from ._messages import PartialResponse
from ._protocol import Event, StreamProtocol
from ._protocol_parts import (
    Occurrences,
    ToolCalls,
    answer_text,
    check_names,
    check_tool_fields,
    jsonable,
    status_value,
    tool_args_piece,
    typed_event,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from ._messages import Prediction, StatusMessage, StreamItem, StreamResponse

__all__ = ("VercelUIProtocol",)

PartName = Union[None, str, Callable[[Any], Optional[str]]]
"""A ``data-<name>`` part's name: a name, a function of the item giving one, or None."""


def _check_part(what: str, value: Any) -> None:
    if value is not None and not callable(value) and not (isinstance(value, str) and value):
        raise TypeError(
            f"VercelUIProtocol {what} must be a part name (such as 'status'), a function of "
            f"the item that returns one (or None), or None to leave them out; got {value!r}"
        )


class VercelUIProtocol(StreamProtocol):
    """The Vercel AI SDK UI message stream protocol v1, read by ``useChat``.

    :param text_fields: the streamed fields sent as text parts; ``None``: every field that is
        not a reasoning field or a tool field.  Chunks of other fields are left out.
    :param reasoning_fields: the fields sent as reasoning parts (``"reasoning"``, the default
        name of a module's reasoning field).
    :param tool_fields: streamed fields that are a tool call's argument (the field of a
        ``StreamListener(field, tool=name)``), mapped to the tool's name: each occurrence is
        sent as that tool call's streamed input ``{field: text}``.
    :param answer_field: the prediction field sent as the text when no text part was
        streamed; ``None``: the prediction's fields as JSON text.
    :param status_part: the name of the ``data-<name>`` part of each status message (its
        data: ``message``, ``event``, ``name``, ``callId``, ``parentCallId``), a function of
        the message giving the name (or None to leave it out), or None for no status parts.
    :param item_part: the same for custom items (data: the item), default ``"item"``.
    :param prediction_part: the same for the prediction (data: its fields), default
        ``"prediction"``.
    :raises TypeError: a parameter of the wrong type.
    """

    name = "vercel-ui"
    headers: ClassVar[Mapping[str, str]] = {"x-vercel-ai-ui-message-stream": "v1"}
    done_marker = "[DONE]"
    sse_only = True

    def __init__(
        self,
        *,
        text_fields: Optional[Collection[str]] = None,
        reasoning_fields: Collection[str] = ("reasoning",),
        tool_fields: Mapping[str, str] = {},
        answer_field: Optional[str] = None,
        status_part: PartName = "status",
        item_part: PartName = "item",
        prediction_part: PartName = "prediction",
    ) -> None:
        check_names("VercelUIProtocol", "text_fields", text_fields)
        check_names("VercelUIProtocol", "reasoning_fields", reasoning_fields)
        self.tool_fields = check_tool_fields("VercelUIProtocol", tool_fields)
        if answer_field is not None and not isinstance(answer_field, str):
            raise TypeError(
                f"VercelUIProtocol answer_field must be a field name or None, got {answer_field!r}"
            )
        for what, value in (
            ("status_part", status_part),
            ("item_part", item_part),
            ("prediction_part", prediction_part),
        ):
            _check_part(what, value)
        self.text_fields = None if text_fields is None else frozenset(text_fields)
        self.reasoning_fields = frozenset(reasoning_fields)
        self.answer_field = answer_field
        self.status_part = status_part
        self.item_part = item_part
        self.prediction_part = prediction_part

    def reset(self) -> None:
        self._parts = Occurrences(self.run_id)
        self._kinds: dict[str, str] = {}  # open part id -> "text" / "reasoning" / "tool"
        self._inputs: dict[str, list[str]] = {}  # open tool input part id -> text so far
        self._tools = ToolCalls()
        self._texts = 0
        self._steps: list[str] = []  # call ids of the open top-level module steps

    # -- the protocol --------------------------------------------------------------------------

    def start(self) -> Sequence[Event]:
        return (Event("start", {"type": "start", "messageId": f"msg_{self.run_id}"}),)

    def on_token(self, item: StreamResponse) -> Sequence[Event]:
        field = item.signature_field_name
        tool = self.tool_fields.get(field)
        if tool is not None:
            return self._tool_input(item, tool)
        if field in self.reasoning_fields:
            kind = "reasoning"
        elif self.text_fields is None or field in self.text_fields:
            kind = "text"
        else:
            return ()
        part, opened = self._parts.find(item)
        events: list[Event] = []
        if opened:
            self._kinds[part] = kind
            if kind == "text":
                self._texts += 1
            events.append(typed_event(f"{kind}-start", id=part))
        if item.chunk:
            events.append(typed_event(f"{kind}-delta", id=part, delta=item.chunk))
        if item.is_last_chunk:
            self._parts.close(item)
            del self._kinds[part]
            events.append(typed_event(f"{kind}-end", id=part))
        return events

    def _tool_input(self, item: StreamResponse, tool: str) -> list[Event]:
        part, opened = self._parts.find(item)
        events: list[Event] = []
        text = self._inputs.setdefault(part, [])
        if opened:
            self._kinds[part] = "tool"
            events.append(typed_event("tool-input-start", toolCallId=part, toolName=tool))
        text.append(item.chunk)
        piece = tool_args_piece(item, opened)
        if piece:
            events.append(typed_event("tool-input-delta", toolCallId=part, inputTextDelta=piece))
        if item.is_last_chunk:
            self._parts.close(item)
            del self._kinds[part]
            value: Any = "".join(self._inputs.pop(part))
            if isinstance(item, PartialResponse) and item.complete:
                value = jsonable(item.value, self.default)
            events.append(
                typed_event(
                    "tool-input-available",
                    toolCallId=part,
                    toolName=tool,
                    input={item.signature_field_name: value},
                )
            )
            self._tools.streamed(tool, part)
        return events

    def on_status(self, item: StatusMessage) -> Sequence[Event]:
        events: list[Event] = []
        top = item.parent_call_id is None
        if item.event == "module_start" and top:
            self._steps.append(item.call_id)
            events.append(typed_event("start-step"))
        data = self._data(self.status_part, item, status_value(item))
        if data is not None:
            events.append(data)
        if item.event == "tool_start" and item.name is not None:
            events += self._tool_start(item)
        elif item.event == "tool_end":
            tool_call_id = self._tools.ended(item.call_id)
            if tool_call_id is not None:
                output = jsonable(item.detail, self.default)
                events.append(
                    typed_event("tool-output-available", toolCallId=tool_call_id, output=output)
                )
        elif item.event == "module_end" and top and item.call_id in self._steps:
            self._steps.remove(item.call_id)
            events += self._close_parts()
            events.append(typed_event("finish-step"))
        return events

    def _tool_start(self, item: StatusMessage) -> list[Event]:
        assert item.name is not None
        tool_call_id, streamed = self._tools.started(item.call_id, item.name)
        events: list[Event] = []
        if not streamed:
            events.append(
                typed_event("tool-input-start", toolCallId=tool_call_id, toolName=item.name)
            )
        inputs = jsonable(item.detail, self.default) if item.detail is not None else {}
        events.append(
            typed_event(
                "tool-input-available", toolCallId=tool_call_id, toolName=item.name, input=inputs
            )
        )
        return events

    def on_item(self, item: StreamItem) -> Sequence[Event]:
        data = self._data(self.item_part, item, None)
        return () if data is None else (data,)

    def on_prediction(self, item: Prediction) -> Sequence[Event]:
        events = self._close_parts()
        fields = _payload(item, self.default)["data"]
        if not self._texts:
            text = answer_text(item, self.answer_field, fields)
            part = f"{self.run_id}-prediction-0"
            events.append(typed_event("text-start", id=part))
            if text:
                events.append(typed_event("text-delta", id=part, delta=text))
            events.append(typed_event("text-end", id=part))
        data = self._data(self.prediction_part, item, fields)
        if data is not None:
            events.append(data)
        usage = item.get_lm_usage()
        if usage:
            events.append(typed_event("message-metadata", messageMetadata={"usage": usage}))
        return events

    def finish(self) -> Sequence[Event]:
        events = self._close_parts()
        for _ in self._steps:
            events.append(typed_event("finish-step"))
        self._steps.clear()
        events.append(typed_event("finish", finishReason="stop"))
        return events

    def fail(self, error_type: str, message: str) -> Sequence[Event]:
        events = self._close_parts()
        events.append(typed_event("error", errorText=message))
        return events

    # -- helpers -------------------------------------------------------------------------------

    def _close_parts(self) -> list[Event]:
        """End every open text and reasoning part (a tool input stays as it is)."""
        events = [
            typed_event(f"{kind}-end", id=part)
            for part, kind in self._kinds.items()
            if kind in ("text", "reasoning")
        ]
        for part in [part for part, kind in self._kinds.items() if kind != "tool"]:
            del self._kinds[part]
        self._parts.open = {k: p for k, p in self._parts.open.items() if p in self._kinds}
        return events

    def _data(self, name: PartName, item: Any, data: Any) -> Optional[Event]:
        if callable(name):
            name = name(item)
            if name is None:
                return None
            if not isinstance(name, str) or not name:
                raise TypeError(f"a VercelUIProtocol part function returned {name!r}, not a name")
        if name is None:
            return None
        kind = f"data-{name}"
        return Event(kind, {"type": kind, "data": item if data is None else data})
