"""Assemble the raw chunks of the OpenAI and Anthropic SDK streams into an ``LMResponse``.

:class:`LMChunkAssembler` is fed, one at a time, what an ``@lm`` generator yields: plain
``str`` chunks and the chunks of the official SDK streams, mixed freely.  Each call of
``feed(chunk)`` returns the normalized events that chunk carries (a text delta, a reasoning
delta, a tool call beginning, a piece of a tool call's arguments, a usage report, a finish
reason); ``finish()`` returns the whole reply as an :class:`~streamify.LMResponse`.

Shapes recognised, by duck typing only (the SDKs are never imported), each as the SDK's
attribute objects (its pydantic models) or as plain dicts (``chunk.model_dump()``, litellm,
raw JSON):

* **OpenAI Chat Completions** chunks (anything with ``choices``; this covers litellm and the
  OpenAI-compatible servers): ``delta.content`` text, ``delta.reasoning_content`` (litellm,
  vLLM, DeepSeek) or ``delta.reasoning`` (other servers) reasoning, ``delta.refusal`` (taken
  as text), ``delta.tool_calls[i]`` pieces joined per ``index``, the deprecated
  ``delta.function_call``, ``finish_reason``, and ``usage`` (usually on a last chunk whose
  ``choices`` is empty).  Only the first choice (``index`` 0) is assembled.  An
  ``{"error": {...}}`` chunk (what OpenAI-compatible servers send when they fail mid-stream)
  raises.  The SDK's ``client.chat.completions.stream()`` helper events are read too: a
  ``"chunk"`` event is unwrapped and the derived ``"content.delta"``-style events, which
  repeat it, are skipped.
* **OpenAI Responses** stream events (``type`` ``"response.*"`` or ``"error"``): output text
  and refusal deltas, reasoning summary and reasoning text deltas, function calls (and custom
  tool calls) from ``response.output_item.added`` and their argument deltas, joined per
  output item, ``response.completed`` / ``response.incomplete`` with usage, and
  ``response.failed`` / ``error``, which raise.  Other ``response.*`` events (created,
  in-progress, hosted tools, ...) are skipped.
* **Anthropic Messages** stream events: ``message_start`` (model, input and cache tokens),
  ``content_block_start`` for ``text``, ``thinking`` and ``tool_use`` blocks,
  ``content_block_delta`` with ``text_delta``, ``thinking_delta`` (reasoning) and
  ``input_json_delta`` (tool arguments, joined per block ``index``), ``signature_delta`` and
  ``citations_delta`` (skipped), ``content_block_stop``, ``message_delta`` (``stop_reason``
  and cumulative usage), ``message_stop``, ``ping`` and ``error`` (raises).  The extra
  events of the SDK's ``client.messages.stream()`` helper (``"text"``, ``"thinking"``,
  ``"input_json"``, ``"citation"``, ``"signature"``), which repeat the raw deltas, are
  skipped; so are ``server_tool_use`` blocks (tools the API runs itself).  Once an Anthropic
  event was seen, event types unknown to this module are skipped, as Anthropic's versioning
  policy asks of clients.

Any other chunk is a ``TypeError`` naming its type and these shapes.

Speed: the provider is decided from the first chunk, and ``feed`` is then rebound to a method
specialised for that shape and representation, whose common case (a text delta) is a few
attribute reads; a chunk of another shape (a ``str`` or another provider's chunk) is still
handled, by going through detection again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Union

from ._exceptions import StreamifyError
from ._lm_response import LMResponse, ToolCall, Usage

__all__ = (
    "FinishReason",
    "LMChunkAssembler",
    "LMEvent",
    "LMStreamError",
    "ReasoningDelta",
    "ToolCallArgumentsDelta",
    "ToolCallStarted",
    "UsageReported",
)

OPENAI_CHAT = "openai-chat"
OPENAI_RESPONSES = "openai-responses"
ANTHROPIC = "anthropic"

ACCEPTED_SHAPES = (
    "str; an OpenAI Chat Completions chunk (a ChatCompletionChunk or its dict, with "
    "'choices'); an OpenAI Responses stream event (a 'type' of 'response.*' or 'error'); an "
    "Anthropic Messages stream event (a 'type' of 'message_start', 'content_block_start', "
    "'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop', 'ping' or "
    "'error')"
)


class LMStreamError(StreamifyError):
    """The provider reported an error inside its stream.

    Raised by :meth:`LMChunkAssembler.feed` for an Anthropic ``error`` event, an OpenAI
    Responses ``error`` or ``response.failed`` event, and an ``{"error": ...}`` chunk of an
    OpenAI-compatible Chat Completions stream.

    Parameters:
        message: the provider's error message.
        provider: ``"openai-chat"``, ``"openai-responses"`` or ``"anthropic"``.
        code: the provider's error code or type (``"overloaded_error"``,
            ``"server_error"``, ...), ``None`` when it sent none.
        payload: the chunk or event that carried the error, as the provider sent it (an SDK
            object or a dict), for the details this exception does not lift out.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        code: Optional[str] = None,
        payload: object = None,
    ) -> None:
        where = f"{provider} stream error" + (f" ({code})" if code else "")
        super().__init__(f"{where}: {message}")
        self.message = message
        self.provider = provider
        self.code = code
        self.payload = payload

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild_error, (self.message, self.provider, self.code, self.payload))


def _rebuild_error(
    message: str, provider: str, code: Optional[str], payload: object
) -> LMStreamError:
    return LMStreamError(message, provider=provider, code=code, payload=payload)


# --------------------------------------------------------------------------------------------
# Events.  A text delta is the plain ``str`` itself; the others are small named tuples (built
# with ``tuple.__new__`` on the hot paths, which skips the generated ``__new__``).


class ReasoningDelta(NamedTuple):
    """A piece of the reasoning (thinking) text."""

    text: str


class ToolCallStarted(NamedTuple):
    """A tool call began: its id and name are known, its arguments follow.

    ``index`` is the call's position in the final ``LMResponse.tool_calls`` (0, 1, ... in the
    order the calls began), not the provider's own index.
    """

    index: int  # type: ignore[assignment]  # a field, shadowing tuple.index
    id: str
    name: str


class ToolCallArgumentsDelta(NamedTuple):
    """A piece of the JSON argument text of the tool call at ``index`` (whose id is ``id``).

    The pieces of one call, joined, are its final ``ToolCall.arguments``.
    """

    index: int  # type: ignore[assignment]  # a field, shadowing tuple.index
    id: str
    delta: str


class UsageReported(NamedTuple):
    """The provider reported usage: the current reply's usage as known so far.

    It may come more than once for one reply (Anthropic sends input tokens first, then the
    cumulative output tokens); each report replaces the previous one of the same reply.
    """

    usage: Usage


class FinishReason(NamedTuple):
    """The model stopped, for ``reason`` (the provider's own word, see ``LMResponse``)."""

    reason: str


LMEvent = Union[
    str, ReasoningDelta, ToolCallStarted, ToolCallArgumentsDelta, UsageReported, FinishReason
]
"""One normalized event: a ``str`` is a text delta; the named tuples are the rest."""

Events = Tuple[LMEvent, ...]

_tuple_new = tuple.__new__
_NO_EVENTS: Events = ()
_MISSING: Any = object()


# --------------------------------------------------------------------------------------------
# Reading a field of an SDK object or a dict.


def _get(obj: Any, name: str) -> Any:
    """``obj[name]`` or ``obj.name``, ``None`` when absent; never slow on pydantic models.

    A pydantic model answers a missing attribute through a ``__getattr__`` that formats and
    raises an ``AttributeError`` (microseconds), so on models the instance's fields and
    extras are read directly.
    """
    if type(obj) is dict:
        return obj.get(name)
    extra = getattr(obj, "__pydantic_extra__", _MISSING)
    if extra is not _MISSING:
        fields = getattr(obj, "__dict__", None)
        if fields is not None and name in fields:
            return fields[name]
        if extra and name in extra:
            return extra[name]
        if hasattr(type(obj), name):  # a property or another class-level attribute
            return getattr(obj, name, None)
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _str(value: object) -> Optional[str]:
    return value if isinstance(value, str) else None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _lean_delta_class(cls: type) -> bool:
    """Whether a Chat delta class keeps every field the hot path reads as a declared field.

    True for the OpenAI SDK's ``ChoiceDelta``: ``content``, ``tool_calls``, ``refusal`` and
    ``function_call`` are declared (so always set on an instance) and reasoning, which the
    SDK does not declare, can only be a pydantic extra.
    """
    fields = getattr(cls, "__pydantic_fields__", None)
    if not isinstance(fields, dict):
        fields = getattr(cls, "model_fields", None)
    if not isinstance(fields, dict):
        return False
    names = fields.keys()
    return all(n in names for n in ("content", "tool_calls", "refusal", "function_call")) and (
        "reasoning_content" not in names and "reasoning" not in names
    )


def _unknown_chunk(chunk: object, detail: str = "") -> TypeError:
    cls = type(chunk)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    return TypeError(
        f"an LM stream chunk of type {name} has no known shape{detail}; accepted: {ACCEPTED_SHAPES}"
    )


class _Call:
    """A tool call being assembled."""

    __slots__ = ("arguments", "id", "index", "name", "start_input")

    def __init__(self, index: int, call_id: str, name: str) -> None:
        self.index = index
        self.id = call_id
        self.name = name
        self.arguments: List[str] = []
        self.start_input: Any = None  # Anthropic: the tool_use block's initial input


_RESPONSES_REASONING = frozenset(
    {"response.reasoning_summary_text.delta", "response.reasoning_text.delta"}
)
_ANTHROPIC_HELPER_TYPES = frozenset({"text", "thinking", "input_json", "citation", "signature"})
_CHAT_HELPER_TYPES = frozenset(
    {
        "content.delta",
        "content.done",
        "refusal.delta",
        "refusal.done",
        "tool_calls.function.arguments.delta",
        "tool_calls.function.arguments.done",
        "logprobs.content.delta",
        "logprobs.content.done",
        "logprobs.refusal.delta",
        "logprobs.refusal.done",
    }
)


class LMChunkAssembler:
    """Turns the chunks of one LM reply into events, then into an ``LMResponse``.

    One assembler serves one ``@lm`` call; it is not thread-safe.

    ``feed(chunk) -> tuple[LMEvent, ...]``
        Take the next chunk (a ``str`` or a provider chunk, see the module docstring) and
        return the events it carries, in order, ``()`` when none.  The events are:

        * ``str`` -- a text delta (a plain ``str`` chunk comes back as itself);
        * :class:`ReasoningDelta` ``(text)``;
        * :class:`ToolCallStarted` ``(index, id, name)`` -- before any of the call's
          arguments;
        * :class:`ToolCallArgumentsDelta` ``(index, id, delta)``;
        * :class:`UsageReported` ``(usage)``;
        * :class:`FinishReason` ``(reason)``.

        Raises :class:`LMStreamError` for an error event of the provider, ``TypeError`` for a
        chunk of no known shape, ``RuntimeError`` after :meth:`finish`.  ``feed`` is an
        instance attribute, rebound to a specialised method once the first chunk has shown
        the provider; a reference taken earlier (``feed = assembler.feed`` before the first
        chunk) still works, through one more call per chunk.

    ``add_text(text: str) -> None``
        The fast path for a plain ``str`` chunk, a bare ``list.append``: for a chunk with
        ``type(chunk) is str``, ``add_text(chunk)`` records exactly what ``feed(chunk)``
        records, and the chunk itself is its one event (an empty ``str`` has none).  A
        caller that forwards text chunks can so keep its plain-``str`` loop as cheap as a
        ``"".join`` loop::

            for chunk in chunks:
                if type(chunk) is str:
                    add_text(chunk)
                    events = (chunk,) if chunk else ()
                else:
                    events = assembler.feed(chunk)
    """

    feed: Callable[[object], Events]

    def __init__(self) -> None:
        self._text: List[str] = []
        self.add_text: Callable[[str], None] = self._text.append
        self._reasoning: List[str] = []
        self._calls: List[_Call] = []
        self._finish_reason: Optional[str] = None
        self._usages: Dict[object, Usage] = {}
        self._provider: Optional[str] = None
        self._response: Optional[LMResponse] = None
        # Chat Completions: provider tool-call index -> call; the lean delta class.
        self._chat_calls: Dict[object, _Call] = {}
        self._last_chat_key: object = None
        self._lean_delta: Any = None  # a class, or None
        self._delta_class: Any = None  # the delta class checked last
        # Responses: output_index -> call and item id -> call, for the current response.
        self._resp_calls: Dict[object, _Call] = {}
        self._resp_items: Dict[str, _Call] = {}
        # Anthropic: content block index -> tool call; the current message and its usage.
        self._blocks: Dict[object, _Call] = {}
        self._message_key: object = None
        self._messages = 0
        self._anthropic_model: Optional[str] = None
        self._anthropic_tokens = [0, 0, 0, 0]  # input, cache creation, cache read, output
        self._handler: Optional[Callable[[object], Events]] = None  # feed once specialised
        self.feed = self._feed_first

    # ---------------------------------------------------------------------------------------
    # Public surface besides feed.

    @property
    def provider(self) -> Optional[str]:
        """The provider of the chunks seen last: ``"openai-chat"``, ``"openai-responses"``,
        ``"anthropic"``, or ``None`` while only ``str`` chunks came."""
        return self._provider

    @property
    def usages(self) -> Tuple[Usage, ...]:
        """The usage of each reply the chunks contained (usually one), in order.

        ``finish().usage`` is their sum; this keeps them apart, for per-model accounting when
        one ``@lm`` call streamed replies of several models.
        """
        return tuple(self._usages.values())

    def finish(self) -> LMResponse:
        """End the stream and return the assembled reply.

        Returns:
            The ``LMResponse``: the text deltas joined, the reasoning deltas joined, the tool
            calls in the order they began (each one's argument pieces joined), the usage (the
            sum of the replies' usages, ``None`` when the provider reported none; of
            ``model=None`` when the replies were of different models) and the last finish
            reason.  Calling ``finish()`` again returns the same object; ``feed`` raises
            ``RuntimeError`` from then on.
        """
        if self._response is not None:
            return self._response
        calls = []
        for call in self._calls:
            if not call.arguments and isinstance(call.start_input, dict):
                call.arguments.append(_dump_json(call.start_input))
            calls.append(ToolCall(call.id, call.name, "".join(call.arguments)))
        response = LMResponse(
            "".join(self._text),
            reasoning="".join(self._reasoning),
            tool_calls=calls,
            usage=self._total_usage(),
            finish_reason=self._finish_reason,
        )
        self._response = response
        # Also drops the reference cycles of the bound methods.
        self.feed = self._handler = _feed_after_finish
        return response

    # ---------------------------------------------------------------------------------------
    # Detection.

    def _feed_first(self, chunk: object) -> Events:
        if type(chunk) is str:
            if chunk:
                self.add_text(chunk)
                return (chunk,)
            return _NO_EVENTS
        handler = self._handler  # set when ``feed`` was looked up before it was rebound
        if handler is not None:
            return handler(chunk)
        return self._detect(chunk)

    def _detect(self, chunk: Any) -> Events:
        """Recognise the shape of ``chunk``, rebind ``feed`` for it and handle it."""
        if isinstance(chunk, str):  # a str subclass: its plain text
            text = str.__str__(chunk)
            if text:
                self.add_text(text)
                return (text,)
            return _NO_EVENTS
        is_dict = type(chunk) is dict
        if is_dict or isinstance(chunk, Mapping):
            if "choices" in chunk:
                if is_dict:
                    self.feed = self._handler = self._feed_chat_dict
                return self._chat_any(chunk)
            kind = chunk.get("type")
            if isinstance(kind, str):
                if is_dict:
                    self.feed = self._handler = self._feed_typed_dict
                return self._typed_any(chunk, kind)
            if chunk.get("error") is not None:
                self._chat_error(chunk)
            raise _unknown_chunk(chunk, " (a mapping with neither 'choices' nor 'type')")
        if isinstance(chunk, (bytes, bytearray)):
            raise _unknown_chunk(chunk, " (decode bytes to str, or parse the JSON, first)")
        if isinstance(chunk, (int, float, list, tuple, type(None))):
            raise _unknown_chunk(chunk)
        kind = _get(chunk, "type")
        if isinstance(kind, str):
            self.feed = self._handler = self._feed_typed_obj
            return self._typed_any(chunk, kind)
        if _get(chunk, "choices") is not None:
            self.feed = self._handler = self._feed_chat_obj
            return self._chat_any(chunk)
        if _get(chunk, "error") is not None:
            self._chat_error(chunk)
        raise _unknown_chunk(chunk)

    # ---------------------------------------------------------------------------------------
    # Chat Completions.

    def _feed_chat_obj(self, chunk: Any) -> Events:
        if type(chunk) is str:
            if chunk:
                self.add_text(chunk)
                return (chunk,)
            return _NO_EVENTS
        try:
            choices = chunk.choices
            if chunk.usage is None and len(choices) == 1:
                choice = choices[0]
                delta = choice.delta
                text = delta.content
                if (
                    text
                    and type(delta) is self._lean_delta
                    and choice.finish_reason is None
                    and not choice.index
                    and delta.tool_calls is None
                    and delta.refusal is None
                    and delta.function_call is None
                    and not delta.__pydantic_extra__
                    and type(text) is str
                ):
                    self.add_text(text)
                    return (text,)
        except AttributeError:  # not a Chat chunk object, or one of a sparser kind
            return self._detect(chunk)
        return self._chat_any(chunk)

    def _feed_chat_dict(self, chunk: Any) -> Events:
        if type(chunk) is str:
            if chunk:
                self.add_text(chunk)
                return (chunk,)
            return _NO_EVENTS
        if type(chunk) is not dict:
            return self._detect(chunk)
        choices = chunk.get("choices")
        if choices is None:
            return self._detect(chunk)
        try:
            if len(choices) == 1 and chunk.get("usage") is None:
                choice = choices[0]
                delta = choice["delta"]
                text = delta.get("content")
                if (
                    text
                    and type(text) is str
                    and choice.get("finish_reason") is None
                    and not choice.get("index")
                    and (
                        len(delta) == 1  # the JSON as sent: {"content": "..."}
                        or (  # model_dump(): every field, most None
                            delta.get("tool_calls") is None
                            and delta.get("reasoning_content") is None
                            and delta.get("reasoning") is None
                            and delta.get("refusal") is None
                            and delta.get("function_call") is None
                        )
                    )
                ):
                    self.add_text(text)
                    return (text,)
        except (AttributeError, KeyError, TypeError):
            pass
        return self._chat_any(chunk)

    def _chat_any(self, chunk: Any) -> Events:
        """Any Chat Completions chunk, dict or object: the complete (slow) path."""
        self._provider = OPENAI_CHAT
        events: List[LMEvent] = []
        choices = _get(chunk, "choices")
        if choices:
            for choice in choices:
                if _get(choice, "index") not in (None, 0):
                    continue  # another of n > 1 completions
                delta = _get(choice, "delta")
                if delta is not None:
                    self._chat_delta(delta, events)
                reason = _str(_get(choice, "finish_reason"))
                if reason:
                    self._finish_reason = reason
                    events.append(_tuple_new(FinishReason, (reason,)))
        usage = _get(chunk, "usage")
        if usage is not None:
            inp = _get(usage, "prompt_tokens")
            if inp is None:
                inp = _get(usage, "input_tokens")
            out = _get(usage, "completion_tokens")
            if out is None:
                out = _get(usage, "output_tokens")
            events.append(
                self._report_usage(
                    (OPENAI_CHAT, _get(chunk, "id")),
                    _int(inp),
                    _int(out),
                    _get(usage, "total_tokens"),
                    _str(_get(chunk, "model")),
                )
            )
        elif not choices and _get(chunk, "error") is not None:
            self._chat_error(chunk)
        return tuple(events)

    def _chat_delta(self, delta: Any, events: List[LMEvent]) -> None:
        cls = type(delta)
        if cls is not self._delta_class and cls is not dict:
            self._delta_class = cls  # checked once per class (in a row), not per chunk
            if _lean_delta_class(cls):
                self._lean_delta = cls
        reasoning = _get(delta, "reasoning_content")
        if not (isinstance(reasoning, str) and reasoning):
            reasoning = _get(delta, "reasoning")
        if isinstance(reasoning, str) and reasoning:
            self._reasoning.append(reasoning)
            events.append(_tuple_new(ReasoningDelta, (reasoning,)))
        content = _get(delta, "content")
        if content:
            if isinstance(content, str):
                self._text_event(content, events)
            elif isinstance(content, list):
                self._content_parts(content, events)
        refusal = _get(delta, "refusal")
        if isinstance(refusal, str) and refusal:
            self._text_event(refusal, events)
        pieces = _get(delta, "tool_calls")
        if pieces:
            for piece in pieces:
                function = _get(piece, "function")
                self._chat_piece(
                    _get(piece, "index"),
                    _str(_get(piece, "id")),
                    None if function is None else _str(_get(function, "name")),
                    None if function is None else _str(_get(function, "arguments")),
                    events,
                )
        function = _get(delta, "function_call")  # deprecated single function call
        if function is not None:
            self._chat_piece(
                "function_call",
                None,
                _str(_get(function, "name")),
                _str(_get(function, "arguments")),
                events,
            )

    def _content_parts(self, parts: List[Any], events: List[LMEvent]) -> None:
        # Some OpenAI-compatible servers (Mistral's reasoning models) send content as a list
        # of typed parts: text parts are text, thinking parts reasoning.
        for part in parts:
            if isinstance(part, str):
                self._text_event(part, events)
                continue
            kind = _get(part, "type")
            if kind == "thinking":
                thinking = _get(part, "thinking")
                pieces = thinking if isinstance(thinking, list) else [thinking]
                for piece in pieces:
                    text = piece if isinstance(piece, str) else _str(_get(piece, "text"))
                    if text:
                        self._reasoning.append(text)
                        events.append(_tuple_new(ReasoningDelta, (text,)))
            elif kind in (None, "text"):
                text = _str(_get(part, "text"))
                if text:
                    self._text_event(text, events)

    def _chat_piece(
        self,
        index: object,
        call_id: Optional[str],
        name: Optional[str],
        arguments: Optional[str],
        events: List[LMEvent],
    ) -> None:
        calls = self._chat_calls
        if index is None:  # servers that omit the index: a new id begins a call
            index = self._last_chat_key
            if call_id:
                index = next((k for k, c in calls.items() if c.id == call_id), None)
            if index is None:
                index = ("no-index", len(self._calls))
        self._last_chat_key = index
        call = calls.get(index)
        if call is None or (call_id and call.id and call_id != call.id):
            call = self._start_call(call_id or "", name or "", events)
            calls[index] = call
        else:
            if call_id and not call.id:
                call.id = call_id
            if name and name != call.name:  # a name sent in pieces; a repeated one is no news
                call.name += name
        if arguments:
            call.arguments.append(arguments)
            events.append(_tuple_new(ToolCallArgumentsDelta, (call.index, call.id, arguments)))

    def _chat_error(self, chunk: Any) -> None:
        error = _get(chunk, "error")
        message = _str(_get(error, "message")) if not isinstance(error, str) else error
        code = _get(error, "code") if not isinstance(error, str) else None
        if code is None and not isinstance(error, str):
            code = _get(error, "type")
        raise LMStreamError(
            message or repr(error),
            provider=OPENAI_CHAT,
            code=None if code is None else str(code),
            payload=chunk,
        )

    # ---------------------------------------------------------------------------------------
    # Typed events: OpenAI Responses and Anthropic Messages.

    def _feed_typed_obj(self, chunk: Any) -> Events:
        if type(chunk) is str:
            if chunk:
                self.add_text(chunk)
                return (chunk,)
            return _NO_EVENTS
        try:
            kind = chunk.type
            if kind == "content_block_delta":
                delta = chunk.delta
                delta_kind = delta.type
                if delta_kind == "text_delta":
                    text = delta.text
                    if text and type(text) is str:
                        self.add_text(text)
                        return (text,)
                elif delta_kind == "thinking_delta":
                    text = delta.thinking
                    if text and type(text) is str:
                        self._reasoning.append(text)
                        return (_tuple_new(ReasoningDelta, (text,)),)
                elif delta_kind == "input_json_delta":
                    text = delta.partial_json
                    call = self._blocks.get(chunk.index)
                    if text and call is not None and type(text) is str:
                        call.arguments.append(text)
                        return (_tuple_new(ToolCallArgumentsDelta, (call.index, call.id, text)),)
            elif kind == "response.output_text.delta":
                text = chunk.delta
                if text and type(text) is str:
                    self.add_text(text)
                    return (text,)
            elif kind in _RESPONSES_REASONING:
                text = chunk.delta
                if text and type(text) is str:
                    self._reasoning.append(text)
                    return (_tuple_new(ReasoningDelta, (text,)),)
            elif kind == "response.function_call_arguments.delta":
                text = chunk.delta
                call = self._resp_calls.get(chunk.output_index)
                if text and call is not None and type(text) is str:
                    call.arguments.append(text)
                    return (_tuple_new(ToolCallArgumentsDelta, (call.index, call.id, text)),)
        except AttributeError:  # not a typed event object, or one of a sparser kind
            return self._detect(chunk)
        if type(kind) is not str:
            return self._detect(chunk)
        return self._typed_any(chunk, kind)

    def _feed_typed_dict(self, chunk: Any) -> Events:
        if type(chunk) is str:
            if chunk:
                self.add_text(chunk)
                return (chunk,)
            return _NO_EVENTS
        if type(chunk) is not dict:
            return self._detect(chunk)
        kind = chunk.get("type")
        if type(kind) is not str:
            return self._detect(chunk)
        try:
            if kind == "content_block_delta":
                delta = chunk["delta"]
                delta_kind = delta["type"]
                if delta_kind == "text_delta":
                    text = delta["text"]
                    if text and type(text) is str:
                        self.add_text(text)
                        return (text,)
                elif delta_kind == "thinking_delta":
                    text = delta["thinking"]
                    if text and type(text) is str:
                        self._reasoning.append(text)
                        return (_tuple_new(ReasoningDelta, (text,)),)
                elif delta_kind == "input_json_delta":
                    text = delta["partial_json"]
                    call = self._blocks.get(chunk["index"])
                    if text and call is not None and type(text) is str:
                        call.arguments.append(text)
                        return (_tuple_new(ToolCallArgumentsDelta, (call.index, call.id, text)),)
            elif kind == "response.output_text.delta":
                text = chunk["delta"]
                if text and type(text) is str:
                    self.add_text(text)
                    return (text,)
            elif kind in _RESPONSES_REASONING:
                text = chunk["delta"]
                if text and type(text) is str:
                    self._reasoning.append(text)
                    return (_tuple_new(ReasoningDelta, (text,)),)
            elif kind == "response.function_call_arguments.delta":
                text = chunk["delta"]
                call = self._resp_calls.get(chunk["output_index"])
                if text and call is not None and type(text) is str:
                    call.arguments.append(text)
                    return (_tuple_new(ToolCallArgumentsDelta, (call.index, call.id, text)),)
        except (KeyError, TypeError):
            pass
        return self._typed_any(chunk, kind)

    def _typed_any(self, chunk: Any, kind: str) -> Events:
        """Any Responses or Anthropic event, dict or object: the complete path."""
        handler = _TYPED_HANDLERS.get(kind)
        if handler is not None:
            return handler(self, chunk)
        if kind.startswith("response."):
            self._provider = OPENAI_RESPONSES
            return _NO_EVENTS  # an event this module has no use for (or a newer one)
        if kind == "chunk":  # client.chat.completions.stream(): the raw chunk inside
            inner = _get(chunk, "chunk")
            if inner is not None:
                return self._chat_any(inner)
        if kind in _CHAT_HELPER_TYPES:
            self._provider = OPENAI_CHAT
            return _NO_EVENTS
        if kind in _ANTHROPIC_HELPER_TYPES or self._provider == ANTHROPIC:
            return _NO_EVENTS
        raise _unknown_chunk(chunk, f" (event type {kind!r})")

    def _error_event(self, chunk: Any) -> Events:
        error = _get(chunk, "error")
        if error is not None:  # Anthropic: {"type": "error", "error": {"type", "message"}}
            self._provider = ANTHROPIC
            message = _str(_get(error, "message")) if not isinstance(error, str) else error
            code = _str(_get(error, "type")) if not isinstance(error, str) else None
            raise LMStreamError(
                message or repr(error), provider=ANTHROPIC, code=code, payload=chunk
            )
        # Responses: {"type": "error", "code", "message", "param"}
        self._provider = OPENAI_RESPONSES
        code = _get(chunk, "code")
        raise LMStreamError(
            _str(_get(chunk, "message")) or repr(chunk),
            provider=OPENAI_RESPONSES,
            code=None if code is None else str(code),
            payload=chunk,
        )

    # Responses ----------------------------------------------------------------------------

    def _r_text(self, chunk: Any) -> Events:
        self._provider = OPENAI_RESPONSES
        text = _str(_get(chunk, "delta"))
        if text:
            self.add_text(text)
            return (text,)
        return _NO_EVENTS

    def _r_reasoning(self, chunk: Any) -> Events:
        self._provider = OPENAI_RESPONSES
        text = _str(_get(chunk, "delta"))
        if text:
            self._reasoning.append(text)
            return (_tuple_new(ReasoningDelta, (text,)),)
        return _NO_EVENTS

    def _r_created(self, chunk: Any) -> Events:
        # output_index counts from 0 again in each response.
        self._provider = OPENAI_RESPONSES
        self._resp_calls = {}
        self._resp_items = {}
        return _NO_EVENTS

    def _r_item(self, chunk: Any) -> Events:
        """``response.output_item.added`` / ``.done``: a function call begins (or ends)."""
        self._provider = OPENAI_RESPONSES
        item = _get(chunk, "item")
        kind = _get(item, "type")
        if kind == "function_call":
            text = _str(_get(item, "arguments"))
        elif kind == "custom_tool_call":
            text = _str(_get(item, "input"))
        else:
            return _NO_EVENTS
        events: List[LMEvent] = []
        call = self._resp_call(chunk)
        if call is None:
            call = self._start_call(
                _str(_get(item, "call_id")) or "", _str(_get(item, "name")) or "", events
            )
            output_index = _get(chunk, "output_index")
            if output_index is not None:
                self._resp_calls[output_index] = call
            item_id = _str(_get(item, "id"))
            if item_id:
                self._resp_items[item_id] = call
        if text:
            self._settle_arguments(call, text, events)
        return tuple(events)

    def _resp_call(self, chunk: Any) -> Optional[_Call]:
        call = self._resp_calls.get(_get(chunk, "output_index"))
        if call is None:
            item_id = _get(chunk, "item_id")
            if item_id is None:
                item_id = _get(_get(chunk, "item"), "id")
            if isinstance(item_id, str):
                call = self._resp_items.get(item_id)
        return call

    def _r_arguments(self, chunk: Any) -> Events:
        self._provider = OPENAI_RESPONSES
        text = _str(_get(chunk, "delta"))
        call = self._resp_call(chunk)
        if call is None or not text:
            return _NO_EVENTS
        call.arguments.append(text)
        return (_tuple_new(ToolCallArgumentsDelta, (call.index, call.id, text)),)

    def _r_arguments_done(self, chunk: Any) -> Events:
        self._provider = OPENAI_RESPONSES
        text = _str(_get(chunk, "arguments"))
        if text is None:
            text = _str(_get(chunk, "input"))
        call = self._resp_call(chunk)
        if call is None or text is None:
            return _NO_EVENTS
        events: List[LMEvent] = []
        self._settle_arguments(call, text, events)
        return tuple(events)

    def _settle_arguments(self, call: _Call, final: str, events: List[LMEvent]) -> None:
        """Take the complete argument text a ``done`` event gives: the part not streamed yet
        becomes a delta; a text that contradicts the streamed one replaces it."""
        sofar = "".join(call.arguments)
        if final == sofar:
            return
        if final.startswith(sofar):
            rest = final[len(sofar) :]
            call.arguments.append(rest)
            events.append(_tuple_new(ToolCallArgumentsDelta, (call.index, call.id, rest)))
        else:
            call.arguments[:] = [final]

    def _r_end(self, chunk: Any) -> Events:
        """``response.completed`` / ``response.incomplete``: usage and the finish reason."""
        self._provider = OPENAI_RESPONSES
        response = _get(chunk, "response")
        events: List[LMEvent] = []
        usage = _get(response, "usage")
        if usage is not None:
            events.append(
                self._report_usage(
                    (OPENAI_RESPONSES, _get(response, "id")),
                    _int(_get(usage, "input_tokens")),
                    _int(_get(usage, "output_tokens")),
                    _get(usage, "total_tokens"),
                    _str(_get(response, "model")),
                )
            )
        reason = None
        if _get(chunk, "type") == "response.incomplete":
            reason = _str(_get(_get(response, "incomplete_details"), "reason")) or "incomplete"
        else:
            reason = _str(_get(response, "status")) or "completed"
        self._finish_reason = reason
        events.append(_tuple_new(FinishReason, (reason,)))
        return tuple(events)

    def _r_failed(self, chunk: Any) -> Events:
        self._provider = OPENAI_RESPONSES
        response = _get(chunk, "response")
        error = _get(response, "error")
        code = _get(error, "code")
        raise LMStreamError(
            _str(_get(error, "message")) or "the response failed",
            provider=OPENAI_RESPONSES,
            code=None if code is None else str(code),
            payload=chunk,
        )

    # Anthropic ----------------------------------------------------------------------------

    def _a_message_start(self, chunk: Any) -> Events:
        self._provider = ANTHROPIC
        message = _get(chunk, "message")
        self._messages += 1
        self._message_key = (ANTHROPIC, _get(message, "id") or self._messages)
        self._blocks = {}
        self._anthropic_model = _str(_get(message, "model"))
        usage = _get(message, "usage")
        if usage is None:
            self._anthropic_tokens = [0, 0, 0, 0]
            return _NO_EVENTS
        self._anthropic_tokens = [
            _int(_get(usage, "input_tokens")),
            _int(_get(usage, "cache_creation_input_tokens")),
            _int(_get(usage, "cache_read_input_tokens")),
            _int(_get(usage, "output_tokens")),
        ]
        return (self._anthropic_usage(),)

    def _anthropic_usage(self) -> UsageReported:
        inp, created, read, out = self._anthropic_tokens
        return self._report_usage(
            self._message_key, inp + created + read, out, None, self._anthropic_model
        )

    # _a_block_start and _a_block_delta read the same three kinds (text, thinking, tool use)
    # from differently named fields of the two Anthropic events; kept apart so each stays a
    # flat run of attribute reads on the per-chunk path.
    def _a_block_start(self, chunk: Any) -> Events:
        self._provider = ANTHROPIC
        block = _get(chunk, "content_block")
        kind = _get(block, "type")
        if kind == "text":
            text = _str(_get(block, "text"))
            if text:
                self.add_text(text)
                return (text,)
        elif kind == "thinking":
            text = _str(_get(block, "thinking"))
            if text:
                self._reasoning.append(text)
                return (_tuple_new(ReasoningDelta, (text,)),)
        elif kind == "tool_use":
            events: List[LMEvent] = []
            call = self._start_call(
                _str(_get(block, "id")) or "", _str(_get(block, "name")) or "", events
            )
            call.start_input = _get(block, "input")
            self._blocks[_get(chunk, "index")] = call
            return tuple(events)
        return _NO_EVENTS

    def _a_block_delta(self, chunk: Any) -> Events:
        self._provider = ANTHROPIC
        delta = _get(chunk, "delta")
        kind = _get(delta, "type")
        if kind == "text_delta":
            text = _str(_get(delta, "text"))
            if text:
                self.add_text(text)
                return (text,)
        elif kind == "thinking_delta":
            text = _str(_get(delta, "thinking"))
            if text:
                self._reasoning.append(text)
                return (_tuple_new(ReasoningDelta, (text,)),)
        elif kind == "input_json_delta":
            text = _str(_get(delta, "partial_json"))
            call = self._blocks.get(_get(chunk, "index"))
            if call is not None and text:
                call.arguments.append(text)
                return (_tuple_new(ToolCallArgumentsDelta, (call.index, call.id, text)),)
        # signature_delta, citations_delta and newer kinds carry nothing assembled here.
        return _NO_EVENTS

    def _a_block_stop(self, chunk: Any) -> Events:
        self._provider = ANTHROPIC
        call = self._blocks.get(_get(chunk, "index"))
        if call is not None and not call.arguments and isinstance(call.start_input, dict):
            # A tool without parameters streams no input_json_delta: its arguments are the
            # block's initial input, ``{}``.
            text = _dump_json(call.start_input)
            call.arguments.append(text)
            return (_tuple_new(ToolCallArgumentsDelta, (call.index, call.id, text)),)
        return _NO_EVENTS

    def _a_message_delta(self, chunk: Any) -> Events:
        self._provider = ANTHROPIC
        events: List[LMEvent] = []
        reason = _str(_get(_get(chunk, "delta"), "stop_reason"))
        if reason:
            self._finish_reason = reason
            events.append(_tuple_new(FinishReason, (reason,)))
        usage = _get(chunk, "usage")
        if usage is not None:
            # Cumulative counts; the input ones only when the API sends them again.
            tokens = self._anthropic_tokens
            for slot, name in enumerate(
                (
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                    "output_tokens",
                )
            ):
                value = _get(usage, name)
                if value is not None:
                    tokens[slot] = _int(value)
            events.append(self._anthropic_usage())
        return tuple(events)

    def _a_skip(self, chunk: Any) -> Events:
        self._provider = ANTHROPIC
        return _NO_EVENTS

    # ---------------------------------------------------------------------------------------
    # Shared state changes.

    def _text_event(self, text: str, events: List[LMEvent]) -> None:
        self.add_text(text)
        events.append(text)

    def _start_call(self, call_id: str, name: str, events: List[LMEvent]) -> _Call:
        call = _Call(len(self._calls), call_id, name)
        self._calls.append(call)
        events.append(_tuple_new(ToolCallStarted, (call.index, call_id, name)))
        return call

    def _report_usage(
        self,
        key: object,
        input_tokens: int,
        output_tokens: int,
        total_tokens: object,
        model: Optional[str],
    ) -> UsageReported:
        total = _int(total_tokens) if total_tokens is not None else input_tokens + output_tokens
        usage = Usage(input_tokens, output_tokens, total, model)
        self._usages[key] = usage  # a later report of the same reply replaces it
        return _tuple_new(UsageReported, (usage,))

    def _total_usage(self) -> Optional[Usage]:
        usages = list(self._usages.values())
        if not usages:
            return None
        if len(usages) == 1:
            return usages[0]
        models = {usage.model for usage in usages}
        return Usage(
            sum(usage.input_tokens for usage in usages),
            sum(usage.output_tokens for usage in usages),
            sum(usage.total_tokens for usage in usages),
            models.pop() if len(models) == 1 else None,
        )


def _dump_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _feed_after_finish(chunk: object) -> Events:
    raise RuntimeError("LMChunkAssembler.feed() called after finish()")


_TypedHandler = Callable[[LMChunkAssembler, Any], Events]

_TYPED_HANDLERS: Dict[str, _TypedHandler] = {
    # OpenAI Responses
    "response.output_text.delta": LMChunkAssembler._r_text,
    "response.refusal.delta": LMChunkAssembler._r_text,
    "response.reasoning_summary_text.delta": LMChunkAssembler._r_reasoning,
    "response.reasoning_text.delta": LMChunkAssembler._r_reasoning,
    "response.created": LMChunkAssembler._r_created,
    "response.output_item.added": LMChunkAssembler._r_item,
    "response.output_item.done": LMChunkAssembler._r_item,
    "response.function_call_arguments.delta": LMChunkAssembler._r_arguments,
    "response.custom_tool_call_input.delta": LMChunkAssembler._r_arguments,
    "response.function_call_arguments.done": LMChunkAssembler._r_arguments_done,
    "response.custom_tool_call_input.done": LMChunkAssembler._r_arguments_done,
    "response.completed": LMChunkAssembler._r_end,
    "response.incomplete": LMChunkAssembler._r_end,
    "response.failed": LMChunkAssembler._r_failed,
    # Both ("error" is told apart by its shape)
    "error": LMChunkAssembler._error_event,
    # Anthropic Messages
    "message_start": LMChunkAssembler._a_message_start,
    "content_block_start": LMChunkAssembler._a_block_start,
    "content_block_delta": LMChunkAssembler._a_block_delta,
    "content_block_stop": LMChunkAssembler._a_block_stop,
    "message_delta": LMChunkAssembler._a_message_delta,
    "message_stop": LMChunkAssembler._a_skip,
    "ping": LMChunkAssembler._a_skip,
}
