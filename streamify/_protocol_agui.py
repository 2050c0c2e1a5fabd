"""The ``"ag-ui"`` protocol: a stream as AG-UI events (Agent-User Interaction protocol 1.0).

What an AG-UI client (``HttpAgent`` of ``@ag-ui/client``, CopilotKit) reads from an agent's
endpoint: SSE frames ``data: <event JSON>`` (no ``event:`` lines, no ``[DONE]``), each event an
object with ``type`` and camelCase fields, one run per response:

* ``RUN_STARTED`` {threadId, runId} opens the run (``thread_id`` / ``run_id`` options, by
  default ``thread_<run id>`` and the run id; pass the ``RunAgentInput``'s ``threadId`` and
  ``runId`` to echo the client's);
* each occurrence of a streamed text field is a message of its own (messageId
  ``<call id>-<field>-<n>``): ``TEXT_MESSAGE_START`` {messageId, role "assistant"},
  ``TEXT_MESSAGE_CONTENT`` {messageId, delta} per chunk, ``TEXT_MESSAGE_END``; a reasoning field
  ``REASONING_START``, ``REASONING_MESSAGE_START`` / ``_CONTENT`` / ``_END``, ``REASONING_END``;
* a field of ``tool_fields`` (a ``tool=`` listener's argument) is that tool call's streamed
  arguments: ``TOOL_CALL_START`` {toolCallId, toolCallName}, ``TOOL_CALL_ARGS`` {delta: JSON
  text}, ``TOOL_CALL_END``;
* a ``@tool`` call, seen through its status messages: ``TOOL_CALL_START`` / ``TOOL_CALL_ARGS``
  (its inputs as JSON) / ``TOOL_CALL_END`` when it starts (nothing if its arguments were
  streamed), ``TOOL_CALL_RESULT`` {messageId, toolCallId, content, role "tool"} when it ends;
* a ``@module`` call whose start and end produce status messages: ``STEP_STARTED`` /
  ``STEP_FINISHED`` {stepName: the module's name};
* status messages and custom items: ``CUSTOM`` {name ``status_name`` / ``item_name``,
  value};
* the prediction: its text as one message when no text message was streamed; its fields are
  ``RUN_FINISHED``'s ``result``, its LM usage ``RUN_FINISHED``'s ``usage`` (one entry per model);
* ``RUN_FINISHED`` {threadId, runId, result}; on failure ``RUN_ERROR`` {message, code: the
  exception's type name}.  Open messages are ended first either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ._encoding import _payload, _to_json
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
    from collections.abc import Collection, Mapping, Sequence

    from ._messages import Prediction, StatusMessage, StreamItem, StreamResponse

__all__ = ("AGUIProtocol",)


def _check_str(what: str, value: Any, optional: bool) -> None:
    if (value is None and optional) or (isinstance(value, str) and value):
        return
    kind = "a non-empty str or None" if optional else "a non-empty str"
    raise TypeError(f"AGUIProtocol {what} must be {kind}, got {value!r}")


class AGUIProtocol(StreamProtocol):
    """AG-UI events, read by an AG-UI client such as ``HttpAgent``.

    :param thread_id: the run's ``threadId`` (the client's ``RunAgentInput.threadId``);
        ``None``: ``thread_<run id>``.
    :param run_id: the run's ``runId`` (the client's ``RunAgentInput.runId``); ``None``: the
        response's run id.
    :param text_fields: the streamed fields sent as text messages; ``None``: every field that
        is not a reasoning field or a tool field.  Chunks of other fields are left out.
    :param reasoning_fields: the fields sent as reasoning messages.
    :param tool_fields: streamed fields that are a tool call's argument, mapped to the
        tool's name (see ``StreamListener(field, tool=name)``).
    :param answer_field: the prediction field sent as the text when no text message was
        streamed; ``None``: the prediction's fields as JSON text.
    :param status_name: the ``CUSTOM`` event name of status messages (value: ``message``,
        ``event``, ``name``, ``callId``, ``parentCallId``); None leaves them out.
    :param item_name: the ``CUSTOM`` event name of custom items (value: the item); None
        leaves them out.
    :raises TypeError: a parameter of the wrong type.
    """

    name = "ag-ui"
    sse_only = True

    def __init__(
        self,
        *,
        thread_id: Optional[str] = None,
        run_id: Optional[str] = None,
        text_fields: Optional[Collection[str]] = None,
        reasoning_fields: Collection[str] = ("reasoning",),
        tool_fields: Mapping[str, str] = {},
        answer_field: Optional[str] = None,
        status_name: Optional[str] = "streamify.status",
        item_name: Optional[str] = "streamify.item",
    ) -> None:
        _check_str("thread_id", thread_id, optional=True)
        _check_str("run_id", run_id, optional=True)
        _check_str("answer_field", answer_field, optional=True)
        _check_str("status_name", status_name, optional=True)
        _check_str("item_name", item_name, optional=True)
        check_names("AGUIProtocol", "text_fields", text_fields)
        check_names("AGUIProtocol", "reasoning_fields", reasoning_fields)
        self.tool_fields = check_tool_fields("AGUIProtocol", tool_fields)
        self.thread_id = thread_id
        self.agui_run_id = run_id
        self.text_fields = None if text_fields is None else frozenset(text_fields)
        self.reasoning_fields = frozenset(reasoning_fields)
        self.answer_field = answer_field
        self.status_name = status_name
        self.item_name = item_name

    def reset(self) -> None:
        self._ids = {
            "threadId": self.thread_id or f"thread_{self.run_id}",
            "runId": self.agui_run_id or self.run_id,
        }
        self._parts = Occurrences(self.run_id)
        self._kinds: dict[str, str] = {}  # open message/tool call id -> "text"/"reasoning"/"tool"
        self._tools = ToolCalls()
        self._texts = 0
        self._steps: dict[str, str] = {}  # module call id -> its open step's name
        self._result: Any = None
        self._usage: Optional[list[dict[str, Any]]] = None

    # -- the protocol --------------------------------------------------------------------------

    def start(self) -> Sequence[Event]:
        return (typed_event("RUN_STARTED", **self._ids),)

    def on_token(self, item: StreamResponse) -> Sequence[Event]:
        field = item.signature_field_name
        tool = self.tool_fields.get(field)
        if tool is not None:
            kind = "tool"
        elif field in self.reasoning_fields:
            kind = "reasoning"
        elif self.text_fields is None or field in self.text_fields:
            kind = "text"
        else:
            return ()
        part, opened = self._parts.find(item)
        events: list[Event] = []
        if opened:
            self._kinds[part] = kind
            events += self._open(kind, part, tool)
        if kind == "tool":
            piece = tool_args_piece(item, opened)
            if piece:
                events.append(typed_event("TOOL_CALL_ARGS", toolCallId=part, delta=piece))
        elif item.chunk:
            content = "TEXT_MESSAGE_CONTENT" if kind == "text" else "REASONING_MESSAGE_CONTENT"
            events.append(typed_event(content, messageId=part, delta=item.chunk))
        if item.is_last_chunk:
            self._parts.close(item)
            del self._kinds[part]
            events += _close(kind, part)
            if tool is not None:
                self._tools.streamed(tool, part)
        return events

    def _open(self, kind: str, part: str, tool: Optional[str]) -> list[Event]:
        if kind == "text":
            self._texts += 1
            return [typed_event("TEXT_MESSAGE_START", messageId=part, role="assistant")]
        if kind == "reasoning":
            return [
                typed_event("REASONING_START", messageId=part),
                typed_event("REASONING_MESSAGE_START", messageId=part, role="reasoning"),
            ]
        return [typed_event("TOOL_CALL_START", toolCallId=part, toolCallName=tool)]

    def on_status(self, item: StatusMessage) -> Sequence[Event]:
        events: list[Event] = []
        if item.event == "module_start" and item.call_id not in self._steps:
            step = item.name or item.call_id or "module"
            if step in self._steps.values():  # two open calls of one module: keep names apart
                step = f"{step}#{item.call_id}"
            self._steps[item.call_id] = step
            events.append(typed_event("STEP_STARTED", stepName=step))
        if self.status_name is not None:
            events.append(typed_event("CUSTOM", name=self.status_name, value=status_value(item)))
        if item.event == "tool_start" and item.name is not None:
            tool_call_id, streamed = self._tools.started(item.call_id, item.name)
            if not streamed:
                inputs = jsonable(item.detail, self.default) if item.detail is not None else {}
                events += [
                    typed_event("TOOL_CALL_START", toolCallId=tool_call_id, toolCallName=item.name),
                    typed_event("TOOL_CALL_ARGS", toolCallId=tool_call_id, delta=_to_json(inputs)),
                    typed_event("TOOL_CALL_END", toolCallId=tool_call_id),
                ]
        elif item.event == "tool_end":
            ended = self._tools.ended(item.call_id)
            if ended is not None:
                events.append(self._result_event(ended, item.detail))
        elif item.event == "module_end" and item.call_id in self._steps:
            events.append(typed_event("STEP_FINISHED", stepName=self._steps.pop(item.call_id)))
        return events

    def _result_event(self, tool_call_id: str, output: Any) -> Event:
        content = output if isinstance(output, str) else _to_json(jsonable(output, self.default))
        return typed_event(
            "TOOL_CALL_RESULT",
            messageId=f"{tool_call_id}-result",
            toolCallId=tool_call_id,
            content=content,
            role="tool",
        )

    def on_item(self, item: StreamItem) -> Sequence[Event]:
        if self.item_name is None:
            return ()
        return (Event("CUSTOM", {"type": "CUSTOM", "name": self.item_name, "value": item}),)

    def on_prediction(self, item: Prediction) -> Sequence[Event]:
        events = self._close_all()
        fields = _payload(item, self.default)["data"]
        self._result = fields
        self._usage = _usage(item.get_lm_usage())
        if self._texts:
            return events
        text = answer_text(item, self.answer_field, fields)
        part = f"{self.run_id}-prediction-0"
        events.append(typed_event("TEXT_MESSAGE_START", messageId=part, role="assistant"))
        if text:
            events.append(typed_event("TEXT_MESSAGE_CONTENT", messageId=part, delta=text))
        events.append(typed_event("TEXT_MESSAGE_END", messageId=part))
        return events

    def finish(self) -> Sequence[Event]:
        events = self._close_all()
        for step in self._steps.values():
            events.append(typed_event("STEP_FINISHED", stepName=step))
        self._steps.clear()
        finished: dict[str, Any] = {**self._ids}
        if self._result is not None:
            finished["result"] = self._result
        if self._usage:
            finished["usage"] = self._usage
        events.append(typed_event("RUN_FINISHED", **finished))
        return events

    def fail(self, error_type: str, message: str) -> Sequence[Event]:
        events = self._close_all()
        events.append(typed_event("RUN_ERROR", message=message, code=error_type))
        return events

    def _close_all(self) -> list[Event]:
        events: list[Event] = []
        for part, kind in self._kinds.items():
            if kind == "tool":  # arguments cut short: end them as valid JSON
                events.append(typed_event("TOOL_CALL_ARGS", toolCallId=part, delta='"}'))
            events += _close(kind, part)
        self._kinds.clear()
        self._parts.open.clear()
        return events


def _close(kind: str, part: str) -> list[Event]:
    if kind == "text":
        return [typed_event("TEXT_MESSAGE_END", messageId=part)]
    if kind == "reasoning":
        return [
            typed_event("REASONING_MESSAGE_END", messageId=part),
            typed_event("REASONING_END", messageId=part),
        ]
    return [typed_event("TOOL_CALL_END", toolCallId=part)]


def _usage(usage: Optional[dict[str, dict[str, int]]]) -> Optional[list[dict[str, Any]]]:
    """DSPy-style usage per model as AG-UI ``TokenUsage`` entries, or None."""
    if not usage:
        return None
    entries = []
    for model, counts in usage.items():
        entry: dict[str, Any] = {"model": model}
        for source, target in (
            ("prompt_tokens", "inputTokens"),
            ("completion_tokens", "outputTokens"),
            ("total_tokens", "totalTokens"),
        ):
            value = counts.get(source)
            if isinstance(value, int) and value >= 0:
                entry[target] = value
        entries.append(entry)
    return entries
