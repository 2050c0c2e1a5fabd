"""What the ``"vercel-ui"`` and ``"ag-ui"`` protocols share: field occurrences and tool calls.

Both protocols stream each *occurrence* of a field (one field of one module call, up to its
last chunk) as a message part of its own, and both map ``@tool`` calls, seen through the
status messages of their start and end (``StatusMessage.name`` and ``.detail``), onto tool
call events.  The bookkeeping for that lives here, in one place:

* :class:`Occurrences` hands out a stable part id per field occurrence,
  ``<call id>-<field>-<n>`` (the run id stands in for a chunk without a call id; ``n`` counts
  the occurrences of that field in that call from 0), so ids depend only on the run;
* :class:`ToolCalls` gives each tool call its id: the ``@tool`` call's own call id, or, when
  a ``tool=`` listener streamed the tool's arguments first (see ``tool_fields``), the id of
  that streamed input, so the arguments and the result land on one tool call.
* :func:`jsonable` turns a tool's inputs or outputs into a JSON value, never failing: a value
  JSON cannot hold (with the response's ``default`` hook) becomes its ``repr``, so a tool that
  takes or returns an odd object cannot end the response.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Optional

from ._encoding import _to_json
from ._protocol import Event, encode_json

if TYPE_CHECKING:
    from ._encoding import Default
    from ._messages import Prediction, StatusMessage, StreamResponse

__all__ = (
    "Occurrences",
    "ToolCalls",
    "answer_text",
    "check_names",
    "check_tool_fields",
    "jsonable",
    "status_value",
    "typed_event",
    "tool_args_piece",
)

_Key = tuple[str, str, str]  # call id, module name, field name


def typed_event(kind: str, **fields: Any) -> Event:
    """An event whose JSON object carries its own ``type`` (both protocols' shape)."""
    return Event(kind, {"type": kind, **fields})


def answer_text(item: Prediction, answer_field: Optional[str], fields: dict[str, Any]) -> str:
    """The text a protocol shows as the answer when no field was streamed: the value of
    ``answer_field`` if the prediction has it, else all of its (JSON-ready) ``fields`` as JSON."""
    if answer_field is not None and answer_field in item:
        return str(item[answer_field])
    return _to_json(fields)


def status_value(item: StatusMessage) -> dict[str, Any]:
    """A status message as the camelCase object both protocols send for it."""
    return {
        "message": item.message,
        "event": item.event,
        "name": item.name,
        "callId": item.call_id,
        "parentCallId": item.parent_call_id,
    }


def jsonable(value: Any, default: Optional[Default]) -> Any:
    """``value`` as a JSON value (what ``encode_json`` makes of it), or its ``repr``."""
    try:
        return json.loads(encode_json(value, default))
    except Exception:
        try:
            return repr(value)
        except Exception:
            return f"<{type(value).__name__}>"


def check_names(owner: str, what: str, names: Optional[Collection[str]]) -> None:
    """``TypeError`` unless ``names`` is None or a collection of ``str`` (not a ``str``)."""
    if names is not None and (isinstance(names, str) or not all(isinstance(n, str) for n in names)):
        raise TypeError(
            f"{owner} {what} must be a collection of field names (such as ('answer',)), "
            f"got {names!r}"
        )


def check_tool_fields(owner: str, tool_fields: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``tool_fields``, or ``TypeError`` unless it maps ``str`` to ``str``."""
    if not isinstance(tool_fields, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tool_fields.items()
    ):
        raise TypeError(
            f"{owner} tool_fields must map a streamed field's name to the tool whose argument "
            f"it is (such as {{'query': 'search'}}), got {tool_fields!r}"
        )
    return dict(tool_fields)


class Occurrences:
    """The open field occurrences of one response, by (call id, module, field)."""

    __slots__ = ("_counts", "_run_id", "open")

    def __init__(self, run_id: str) -> None:
        self._run_id = run_id
        self._counts: dict[tuple[str, str], int] = {}
        self.open: dict[_Key, str] = {}  # key -> part id, in the order they opened

    def find(self, item: StreamResponse) -> tuple[str, bool]:
        """The part id of ``item``'s occurrence, and whether it opens with this chunk."""
        key = (item.call_id, item.predict_name, item.signature_field_name)
        part = self.open.get(key)
        if part is not None:
            return part, False
        call = item.call_id or self._run_id
        count_key = (call, item.signature_field_name)
        n = self._counts.get(count_key, 0)
        self._counts[count_key] = n + 1
        part = f"{call}-{item.signature_field_name}-{n}"
        self.open[key] = part
        return part, True

    def close(self, item: StreamResponse) -> None:
        """``item`` was its occurrence's last chunk."""
        self.open.pop((item.call_id, item.predict_name, item.signature_field_name), None)


class ToolCalls:
    """Tool call ids for one response (see the module docstring)."""

    __slots__ = ("_by_call", "_pending")

    def __init__(self) -> None:
        self._pending: dict[str, list[str]] = {}  # tool name -> streamed inputs not yet run
        self._by_call: dict[str, str] = {}  # @tool call id -> tool call id

    def streamed(self, tool: str, tool_call_id: str) -> None:
        """A ``tool=`` listener streamed the arguments of a call of ``tool``."""
        self._pending.setdefault(tool, []).append(tool_call_id)

    def started(self, call_id: str, tool: str) -> tuple[str, bool]:
        """A ``@tool`` call started: its tool call id, and whether it was streamed before."""
        pending = self._pending.get(tool)
        if pending:
            tool_call_id, streamed = pending.pop(0), True
        else:
            tool_call_id, streamed = call_id, False
        self._by_call[call_id] = tool_call_id
        return tool_call_id, streamed

    def ended(self, call_id: str) -> Optional[str]:
        """A ``@tool`` call ended: its tool call id, or None if its start was not seen."""
        return self._by_call.pop(call_id, None)


def tool_args_piece(item: StreamResponse, opened: bool) -> str:
    """A piece of the JSON arguments ``{"<field>": "<text>"}`` a tool field's chunks make."""
    piece = json.dumps(item.chunk, ensure_ascii=False)[1:-1]
    if opened:
        piece = "{" + json.dumps(item.signature_field_name) + ':"' + piece
    if item.is_last_chunk:
        piece += '"}'
    return piece
