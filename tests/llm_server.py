"""A loopback HTTP server that streams like the OpenAI and Anthropic APIs, for the real SDKs.

Test support, not a test module.  ``serve_llm()`` (or the ``llm_server`` fixture, see
``llm_server_fixture``) runs a small HTTP/1.1 server on ``127.0.0.1``, on an ephemeral port, in
a thread of its own; point the official clients at it::

    openai.OpenAI(base_url=server.openai_url, api_key="test")        # .../v1
    anthropic.Anthropic(base_url=server.anthropic_url, api_key="test")

It answers, streamed as the providers stream them (``stream=True``):

- ``POST /v1/chat/completions``: ``data: {chunk}`` lines, then ``data: [DONE]``; with
  ``stream_options={"include_usage": True}`` every chunk carries ``"usage": null`` and a last
  chunk has ``choices: []`` and the usage;
- ``POST /v1/responses``: ``event: <type>`` / ``data: {...}`` pairs numbered by
  ``sequence_number``, from ``response.created`` to ``response.completed``;
- ``POST /v1/messages``: Anthropic's ``message_start``, ``ping``, ``content_block_*``,
  ``message_delta``, ``message_stop``.

What a reply holds is a ``Script``: reasoning deltas, text deltas, parallel tool calls (their
argument deltas interleaved), usage, an error event or a dropped connection after some steps,
and whether each step waits for the test to release it.  Pick one in one of three ways:

1. ``reply = server.reply("gated", text=["[[ ## answer ## ]]", "42"])`` registers a script and
   returns a handle: pass ``reply.headers`` to the client (``default_headers=`` or
   ``extra_headers=``), release gated steps with ``reply.release(n)`` (before or after the
   request went out), and observe the exchange: ``reply.disconnected.wait(10)`` (in async code
   ``await reply.disconnected.async_wait(10)``, which leaves the event loop free).
2. ``extra_headers=script_headers("tools", interleave_tool_calls=False)``: the script travels as
   JSON in the ``x-llm-script`` header; the request is then in ``server.requests``.
3. ``model="reasoning"``: with neither header the model name is the scenario (``SCENARIOS``);
   an unknown model is answered 404 ``model_not_found``.

A *step* is one content delta (a reasoning piece, a text piece, the start of a tool call or a
piece of its arguments); the frames that open and close items and blocks travel with the step
they belong to.  The preamble (the role chunk, ``response.created``, ``message_start``) is sent
with the response headers, so ``create(..., stream=True)`` returns before any step is released.

Every request becomes an ``Exchange`` whose ``disconnected`` and ``finished`` are ``Signal``s
(a ``threading.Event`` that async code can await too): a test waits on them, never sleeps.  The
server notices a client that goes away at once (the protocol sees the socket's end, whatever
the handler is waiting for).
Leaving ``serve_llm()`` stops the server, ends the exchanges still open and joins the thread;
an error inside the server itself is raised there, so a broken server fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import itertools
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Literal, Optional, Tuple, Union

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

__all__ = (
    "SCENARIOS",
    "Exchange",
    "LLMServer",
    "Reply",
    "Script",
    "Signal",
    "ToolCallScript",
    "llm_server_fixture",
    "make_script",
    "script_headers",
    "serve_llm",
)

logger = logging.getLogger(__name__)

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
MAX_HEAD_BYTES = 1 << 20
MAX_BODY_BYTES = 16 << 20

REPLY_HEADER = "x-llm-reply"
SCRIPT_HEADER = "x-llm-script"

JSONObject = Dict[str, Any]
Frame = Tuple[Optional[str], Union[JSONObject, str]]
"""One Server-Sent Event: its ``event:`` name (``None``: no such line) and its data."""


# -- scripts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCallScript:
    """One tool call of a reply: its name and its arguments (JSON text) in streamed pieces."""

    name: str
    arguments: Tuple[str, ...]
    id: str = ""
    """The call id; empty: one is made up (``call_...`` for OpenAI, ``toolu_...`` for Anthropic)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "arguments", tuple(self.arguments))

    @property
    def arguments_json(self) -> str:
        return "".join(self.arguments)


@dataclass(frozen=True)
class Script:
    """What one reply streams, in this order: reasoning, text, tool calls; then the end."""

    text: Tuple[str, ...] = ("Hello", ", ", "world", "!")
    reasoning: Tuple[str, ...] = ()
    tool_calls: Tuple[ToolCallScript, ...] = ()
    interleave_tool_calls: bool = True
    """Tool calls in parallel, their deltas taking turns (the real Responses and Messages APIs
    send one call after the other, which ``False`` reproduces; Chat Completions may interleave)."""
    chat_reasoning_field: Literal["reasoning_content", "reasoning"] = "reasoning_content"
    """The Chat delta's reasoning field: ``reasoning_content`` (DeepSeek, litellm, vLLM before
    0.10) or ``reasoning`` (OpenRouter, Ollama, later vLLM)."""
    responses_reasoning: Literal["summary", "text"] = "summary"
    """Responses: reasoning as summary deltas or as ``response.reasoning_text.delta``s."""
    signature: str = "c2lnbmF0dXJlLW9mLXRoZS10aGlua2luZw=="
    """Anthropic: the thinking block's signature (sent as a ``signature_delta``)."""
    input_tokens: int = 11
    output_tokens: Optional[int] = None
    """``None``: one token per step."""
    error_after: Optional[int] = None
    """After this many steps send the provider's error event, then end the body."""
    error_style: Literal["error", "failed"] = "error"
    """Responses only: an ``error`` event, or ``response.failed`` with the error in it."""
    error_message: str = "The server had an error while processing your request."
    drop_after: Optional[int] = None
    """After this many steps close the connection in the middle of the body."""
    gated: bool = False
    """Each step waits for a release by the test (``Reply.release`` / ``Exchange.release``)."""
    endless: bool = False
    """After the text, repeat the text pieces for ever (tool calls never come)."""
    status: Optional[int] = None
    """Refuse the request with this HTTP status and the provider's error body, before any
    stream.  The SDKs retry 408, 409, 429 and 5xx: pass ``max_retries=0`` for those."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", tuple(self.text))
        object.__setattr__(self, "reasoning", tuple(self.reasoning))
        object.__setattr__(
            self,
            "tool_calls",
            tuple(
                call if isinstance(call, ToolCallScript) else ToolCallScript(**call)
                for call in self.tool_calls
            ),
        )
        if self.endless and not self.text:
            raise ValueError("an endless script needs text pieces to repeat")
        for name in ("error_after", "drop_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, not {value}")

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)

    @property
    def joined_text(self) -> str:
        """The whole text of a finite, uninterrupted reply."""
        return "".join(self.text)

    @property
    def steps(self) -> int:
        """How many steps a finite reply has."""
        return (
            len(self.reasoning)
            + len(self.text)
            + sum(1 + len(call.arguments) for call in self.tool_calls)
        )

    def to_json(self) -> str:
        """ASCII JSON of the fields that differ from the defaults (for ``x-llm-script``)."""
        changed = {
            item.name: getattr(self, item.name)
            for item in dataclasses.fields(self)
            if getattr(self, item.name) != item.default
        }
        if "tool_calls" in changed:
            changed["tool_calls"] = [dataclasses.asdict(call) for call in self.tool_calls]
        return json.dumps(changed, ensure_ascii=True, separators=(",", ":"))


WEATHER_CALL = ToolCallScript(
    name="get_weather", arguments=('{"ci', 'ty": "Pa', 'ris", "unit"', ': "celsius"}')
)
TIME_CALL = ToolCallScript(name="get_time", arguments=('{"timez', 'one": "Europe', '/Paris"}'))

SCENARIOS: Mapping[str, Script] = {
    "text": Script(),
    "reasoning": Script(
        reasoning=("Let me think", " about it", "."), text=("The answer", " is ", "42.")
    ),
    "reasoning-alt": Script(
        reasoning=("Let me think", " about it", "."),
        text=("The answer", " is ", "42."),
        chat_reasoning_field="reasoning",
    ),
    "tools": Script(text=(), tool_calls=(WEATHER_CALL, TIME_CALL)),
    "error": Script(error_after=2),
    "failed": Script(error_after=2, error_style="failed"),
    "drop": Script(drop_after=2),
    "gated": Script(gated=True),
    "endless": Script(text=("tick ",), gated=True, endless=True),
    "rejected": Script(status=400, error_message="Invalid request: rejected by the test server."),
}
"""The named scripts.  ``text``: four text deltas.  ``reasoning``: reasoning, then text (Chat:
``delta.reasoning_content``).  ``reasoning-alt``: the same with Chat's ``delta.reasoning``.
``tools``: two parallel tool calls, argument deltas interleaved, no text.  ``error``: two text
deltas, then the provider's error event.  ``failed``: the same, as ``response.failed`` on the
Responses API (an error event elsewhere).  ``drop``: two text deltas, then the connection is
closed mid-body.  ``gated``: the text, each delta released by the test.  ``endless``: ``"tick "``
for ever, each released by the test.  ``rejected``: HTTP 400 with the provider's error body."""


def make_script(scenario: Union[str, Script] = "text", **overrides: Any) -> Script:
    """A named scenario (or a script) with some fields replaced."""
    if isinstance(scenario, Script):
        base = scenario
    else:
        try:
            base = SCENARIOS[scenario]
        except KeyError:
            raise ValueError(
                f"unknown scenario {scenario!r}; choose from {sorted(SCENARIOS)}"
            ) from None
    return dataclasses.replace(base, **overrides)


def script_headers(scenario: Union[str, Script] = "text", **overrides: Any) -> dict[str, str]:
    """Headers that carry a whole script with the request (no registration needed)."""
    return {SCRIPT_HEADER: make_script(scenario, **overrides).to_json()}


def _script_from_header(value: str, model: str) -> Script:
    fields = json.loads(value)
    if not isinstance(fields, dict):
        raise ValueError(f"{SCRIPT_HEADER} must hold a JSON object")
    scenario = fields.pop("scenario", model if model in SCENARIOS else "text")
    return make_script(scenario, **fields)


# -- hand-offs -----------------------------------------------------------------------------------


class _Gate:
    """Credits a test hands to the server thread, one per step; safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credits = 0
        self._open = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def release(self, steps: int = 1) -> None:
        if steps < 1:
            raise ValueError(f"release at least one step, not {steps}")
        with self._lock:
            self._credits += steps
            self._wake()

    def open(self) -> None:
        with self._lock:
            self._open = True
            self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # the server's loop is already closed
                loop.call_soon_threadsafe(_resolve, future)

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._open:
                    return
                if self._credits:
                    self._credits -= 1
                    return
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, future))
            await future


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Signal:
    """A one-way flag set by the server thread: wait on it from a thread or from async code.

    ``wait(timeout)`` blocks like ``threading.Event.wait``; ``await async_wait(timeout)`` waits
    without blocking the caller's event loop (which may have to run the very client whose
    disconnect is awaited).  Both return whether the flag is set.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        with self._lock:
            self._event.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, future)

    def wait(self, timeout: Optional[float] = None) -> bool:
        return self._event.wait(timeout)

    async def async_wait(self, timeout: Optional[float] = None) -> bool:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._event.is_set():
                return True
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        try:
            await asyncio.wait({future}, timeout=timeout)
        finally:
            future.cancel()
        return self._event.is_set()

    def __bool__(self) -> bool:
        return self.is_set()

    def __repr__(self) -> str:
        return f"<Signal {'set' if self.is_set() else 'unset'}>"


class Exchange:
    """One request and its response, as the server saw them.  Read it from any thread."""

    def __init__(
        self,
        number: int,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: Any,
        reply: Optional[Reply],
    ) -> None:
        self.number = number
        self.method = method
        self.path = path
        self.headers = dict(headers)
        self.body = body
        self.reply = reply
        self.script: Optional[Script] = None
        self.frames: list[Frame] = []
        """Every event sent, in order (data as JSON objects; Chat's ``[DONE]`` as a string)."""
        self.steps_sent = 0
        self.status: Optional[int] = None
        """The HTTP status of the response."""
        self.error_body: Optional[JSONObject] = None
        """The provider-shaped error body of a refused request."""
        self.outcome: Optional[str] = None
        """``completed``, ``error-event`` (sent, then the body ended), ``dropped`` (closed on
        purpose), ``disconnected`` (the client left first), ``rejected`` (an HTTP error
        status), ``shutdown`` (the server stopped) or ``server-error``."""
        self.disconnected = Signal()
        """Set when the client closed the connection before the response was complete."""
        self.finished = Signal()
        """Set when the server is done with this exchange, whatever the outcome."""
        self._gate = reply._gate if reply is not None else _Gate()

    @property
    def model(self) -> str:
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else ""

    def release(self, steps: int = 1) -> None:
        """Let ``steps`` more gated steps go (shared with the ``Reply``, if any)."""
        self._gate.release(steps)

    def release_all(self) -> None:
        """Let every remaining gated step go."""
        self._gate.open()

    def events(self) -> list[Union[JSONObject, str]]:
        """The data of every event sent."""
        return [data for _event, data in self.frames]

    def _finish(self, outcome: str) -> None:
        if self.outcome is not None:
            return  # the first outcome stands
        self.outcome = outcome
        if outcome == "disconnected":
            self.disconnected.set()
            if self.reply is not None:
                self.reply.disconnected.set()
        self.finished.set()
        if self.reply is not None:
            self.reply.finished.set()

    def __repr__(self) -> str:
        return (
            f"<Exchange #{self.number} {self.method} {self.path} model={self.model!r}"
            f" steps_sent={self.steps_sent} outcome={self.outcome}>"
        )


class Reply:
    """A registered script: the headers that select it, its gate, and what became of it."""

    def __init__(self, reply_id: str, script: Script) -> None:
        self.id = reply_id
        self.script = script
        self.headers: dict[str, str] = {REPLY_HEADER: reply_id}
        self.exchanges: list[Exchange] = []
        self.arrived = Signal()
        """Set when the first request that uses this reply has arrived."""
        self.disconnected = Signal()
        """Set when a client of this reply left before its response was complete."""
        self.finished = Signal()
        """Set when the server is done with an exchange of this reply."""
        self._gate = _Gate()

    def release(self, steps: int = 1) -> None:
        """Let ``steps`` more gated steps go; credits given early wait for the request."""
        self._gate.release(steps)

    def release_all(self) -> None:
        self._gate.open()

    def exchange(self, timeout: float = 10.0) -> Exchange:
        """The first exchange that used this reply (waits for it, bounded; in async code,
        ``await reply.arrived.async_wait(timeout)`` first, then this returns at once)."""
        if not self.arrived.wait(timeout):
            raise TimeoutError(f"no request used reply {self.id} within {timeout} s")
        return self.exchanges[0]

    def _add(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        self.arrived.set()


# -- the wire formats ----------------------------------------------------------------------------


class _Mark:
    """A mark in a format's frames where the error and drop checks go: before each step (which
    is also where a gated reply waits and steps are counted), and before the closing frames."""

    def __init__(self, step: bool) -> None:
        self.step = step


STEP = _Mark(step=True)
FINALE = _Mark(step=False)
_StepKind = Literal["reasoning", "text", "tool_start", "tool_args"]


def _plan(script: Script) -> Iterator[tuple[_StepKind, int, str, bool]]:
    """The script's steps as (kind, tool index, piece, last piece of this tool call)."""
    for piece in script.reasoning:
        yield "reasoning", -1, piece, False
    pieces: Iterable[str] = itertools.cycle(script.text) if script.endless else script.text
    for piece in pieces:
        yield "text", -1, piece, False
    per_call: list[list[tuple[_StepKind, int, str, bool]]] = []
    for index, call in enumerate(script.tool_calls):
        steps: list[tuple[_StepKind, int, str, bool]] = [
            ("tool_start", index, "", not call.arguments)
        ]
        for number, piece in enumerate(call.arguments):
            steps.append(("tool_args", index, piece, number == len(call.arguments) - 1))
        per_call.append(steps)
    if script.interleave_tool_calls:
        for round_ in itertools.zip_longest(*per_call):
            for step in round_:
                if step is not None:
                    yield step
    else:
        for calls in per_call:
            yield from calls


class _Format:
    content_type = "text/event-stream; charset=utf-8"
    request_id_header = "x-request-id"

    def __init__(self, exchange: Exchange, script: Script) -> None:
        self.exchange = exchange
        self.script = script
        self.model = exchange.model or "test-model"
        self.created = int(time.time())
        self.tag = f"{exchange.number:04d}"

    def output_tokens(self) -> int:
        if self.script.output_tokens is not None:
            return self.script.output_tokens
        return max(1, self.exchange.steps_sent)

    def frames(self) -> Iterator[Union[Frame, _Mark]]:
        raise NotImplementedError

    def error_frames(self) -> list[Frame]:
        raise NotImplementedError

    @classmethod
    def error_body(cls, status: int, message: str) -> JSONObject:
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            404: "invalid_request_error",
            429: "rate_limit_error",
        }.get(status, "server_error")
        code = "model_not_found" if status == 404 else None
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _ChatFormat(_Format):
    """Chat Completions: every event is ``data: {chat.completion.chunk}``, then ``[DONE]``."""

    def __init__(self, exchange: Exchange, script: Script) -> None:
        super().__init__(exchange, script)
        options = exchange.body.get("stream_options") or {}
        self.include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self.id = f"chatcmpl-test{self.tag}"

    def chunk(self, choices: list[JSONObject]) -> Frame:
        chunk: JSONObject = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_streamify_test",
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None
        return None, chunk

    def delta(self, delta: JSONObject, finish_reason: Optional[str] = None) -> Frame:
        return self.chunk(
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        )

    def call_id(self, index: int) -> str:
        return self.script.tool_calls[index].id or f"call_test{self.tag}_{index}"

    def frames(self) -> Iterator[Union[Frame, _Mark]]:
        script = self.script
        first_content: Optional[str] = "" if script.text and not script.reasoning else None
        yield self.delta({"role": "assistant", "content": first_content, "refusal": None})
        for kind, index, piece, _last in _plan(script):
            yield STEP
            if kind == "reasoning":
                yield self.delta({"content": None, script.chat_reasoning_field: piece})
            elif kind == "text":
                yield self.delta({"content": piece})
            elif kind == "tool_start":
                call = script.tool_calls[index]
                yield self.delta(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": self.call_id(index),
                                "type": "function",
                                "function": {"name": call.name, "arguments": ""},
                            }
                        ]
                    }
                )
            else:
                yield self.delta(
                    {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                )
        yield FINALE
        yield self.delta({}, "tool_calls" if script.tool_calls else "stop")
        if self.include_usage:
            _event, last = self.chunk([])
            assert isinstance(last, dict)
            output_tokens = self.output_tokens()
            last["usage"] = {
                "prompt_tokens": script.input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": script.input_tokens + output_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": len(script.reasoning),
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            }
            yield None, last
        yield None, "[DONE]"

    def error_frames(self) -> list[Frame]:
        # What OpenAI sends when a stream fails after it started: an ``error`` object in place
        # of a chunk (the SDK raises ``APIError`` on it).
        error = {
            "message": self.script.error_message,
            "type": "server_error",
            "param": None,
            "code": "server_error",
        }
        return [(None, {"error": error})]


class _ResponsesFormat(_Format):
    """The Responses API: ``event: <type>`` and ``data: {...}`` with a ``sequence_number``."""

    def __init__(self, exchange: Exchange, script: Script) -> None:
        super().__init__(exchange, script)
        self.id = f"resp_test{self.tag}"
        self.sequence = itertools.count()
        self.output: dict[int, JSONObject] = {}  # finished items by output index
        self.next_index = 0

    def event(self, kind: str, **fields: Any) -> Frame:
        return kind, {"type": kind, "sequence_number": next(self.sequence), **fields}

    def response(self, status: str, **fields: Any) -> JSONObject:
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": None,
            "metadata": {},
            "model": self.model,
            "output": [self.output[index] for index in sorted(self.output)],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": None,
            "user": None,
            **fields,
        }

    def usage(self) -> JSONObject:
        output_tokens = self.output_tokens()
        return {
            "input_tokens": self.script.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": len(self.script.reasoning)},
            "total_tokens": self.script.input_tokens + output_tokens,
        }

    def take_index(self) -> int:
        index, self.next_index = self.next_index, self.next_index + 1
        return index

    def frames(self) -> Iterator[Union[Frame, _Mark]]:
        script = self.script
        yield self.event("response.created", response=self.response("in_progress"))
        yield self.event("response.in_progress", response=self.response("in_progress"))
        open_item: Optional[Callable[[], Iterator[Frame]]] = None  # closes the open item
        open_kind: Optional[str] = None
        calls: dict[int, tuple[int, str, list[str]]] = {}  # tool -> (output index, id, args)
        for kind, index, piece, last in _plan(script):
            yield STEP
            if kind in ("reasoning", "text") and open_kind != kind:
                if open_item is not None:
                    yield from open_item()
                opener = self.open_reasoning if kind == "reasoning" else self.open_message
                frames, open_item = opener()
                open_kind = kind
                yield from frames
            if kind == "reasoning" or kind == "text":
                assert open_item is not None
                yield self.current_delta(piece)
            elif kind == "tool_start":
                if open_item is not None:
                    yield from open_item()
                    open_item = open_kind = None
                output_index = self.take_index()
                item_id = f"fc_test{self.tag}_{index}"
                calls[index] = (output_index, item_id, [])
                yield self.event(
                    "response.output_item.added",
                    output_index=output_index,
                    item=self.call_item(index, item_id, "", "in_progress"),
                )
            else:
                output_index, item_id, arguments = calls[index]
                arguments.append(piece)
                yield self.event(
                    "response.function_call_arguments.delta",
                    item_id=item_id,
                    output_index=output_index,
                    delta=piece,
                )
            if kind in ("tool_start", "tool_args") and last:
                output_index, item_id, arguments = calls[index]
                whole = "".join(arguments)
                # ``name`` is not in every SDK's type, but older ones require it.
                yield self.event(
                    "response.function_call_arguments.done",
                    item_id=item_id,
                    output_index=output_index,
                    name=script.tool_calls[index].name,
                    arguments=whole,
                )
                item = self.call_item(index, item_id, whole, "completed")
                self.output[output_index] = item
                yield self.event("response.output_item.done", output_index=output_index, item=item)
        yield FINALE
        if open_item is not None:
            yield from open_item()
        yield self.event(
            "response.completed",
            response=self.response("completed", completed_at=int(time.time()), usage=self.usage()),
        )

    def call_item(self, index: int, item_id: str, arguments: str, status: str) -> JSONObject:
        call = self.script.tool_calls[index]
        return {
            "id": item_id,
            "type": "function_call",
            "status": status,
            "arguments": arguments,
            "call_id": call.id or f"call_test{self.tag}_{index}",
            "name": call.name,
        }

    current_delta: Callable[[str], Frame]

    def open_reasoning(self) -> tuple[list[Frame], Callable[[], Iterator[Frame]]]:
        output_index = self.take_index()
        item_id = f"rs_test{self.tag}"
        pieces: list[str] = []
        as_text = self.script.responses_reasoning == "text"
        item: JSONObject = {"id": item_id, "type": "reasoning", "summary": []}
        if as_text:
            item["content"] = []
        where = {"item_id": item_id, "output_index": output_index}
        if as_text:
            part_event, delta_event, done_event = (
                "response.content_part",
                "response.reasoning_text.delta",
                "response.reasoning_text.done",
            )
            place: JSONObject = {"content_index": 0}
            part: JSONObject = {"type": "reasoning_text", "text": ""}
        else:
            part_event, delta_event, done_event = (
                "response.reasoning_summary_part",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
            )
            place = {"summary_index": 0}
            part = {"type": "summary_text", "text": ""}
        opening = [
            self.event("response.output_item.added", output_index=output_index, item=item),
            self.event(f"{part_event}.added", **where, **place, part=part),
        ]

        def delta(piece: str) -> Frame:
            pieces.append(piece)
            return self.event(delta_event, **where, **place, delta=piece)

        def close() -> Iterator[Frame]:
            text = "".join(pieces)
            yield self.event(done_event, **where, **place, text=text)
            yield self.event(f"{part_event}.done", **where, **place, part={**part, "text": text})
            done: JSONObject = {"id": item_id, "type": "reasoning", "summary": []}
            if as_text:
                done["content"] = [{"type": "reasoning_text", "text": text}]
            else:
                done["summary"] = [{"type": "summary_text", "text": text}]
            self.output[output_index] = done
            yield self.event("response.output_item.done", output_index=output_index, item=done)

        self.current_delta = delta
        return opening, close

    def open_message(self) -> tuple[list[Frame], Callable[[], Iterator[Frame]]]:
        output_index = self.take_index()
        item_id = f"msg_test{self.tag}"
        pieces: list[str] = []
        where = {"item_id": item_id, "output_index": output_index, "content_index": 0}

        def message(status: str, content: list[JSONObject]) -> JSONObject:
            return {
                "id": item_id,
                "type": "message",
                "status": status,
                "content": content,
                "role": "assistant",
            }

        def part(text: str) -> JSONObject:
            return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}

        opening = [
            self.event(
                "response.output_item.added",
                output_index=output_index,
                item=message("in_progress", []),
            ),
            self.event("response.content_part.added", **where, part=part("")),
        ]

        def delta(piece: str) -> Frame:
            pieces.append(piece)
            return self.event("response.output_text.delta", **where, delta=piece, logprobs=[])

        def close() -> Iterator[Frame]:
            text = "".join(pieces)
            yield self.event("response.output_text.done", **where, text=text, logprobs=[])
            yield self.event("response.content_part.done", **where, part=part(text))
            done = message("completed", [part(text)])
            self.output[output_index] = done
            yield self.event("response.output_item.done", output_index=output_index, item=done)

        self.current_delta = delta
        return opening, close

    def error_frames(self) -> list[Frame]:
        message = self.script.error_message
        if self.script.error_style == "failed":
            error = {"code": "server_error", "message": message}
            return [
                self.event(
                    "response.failed",
                    response=self.response("failed", error=error, usage=self.usage()),
                )
            ]
        # The documented ``ResponseErrorEvent`` fields, and the nested ``error`` object the
        # live API sends (which is what makes the SDK raise ``APIError``).
        nested = {"type": "server_error", "code": "server_error", "message": message, "param": None}
        return [self.event("error", code="server_error", message=message, param=None, error=nested)]


class _MessagesFormat(_Format):
    """Anthropic Messages: named events, content blocks opened, filled and closed by index."""

    request_id_header = "request-id"

    def __init__(self, exchange: Exchange, script: Script) -> None:
        super().__init__(exchange, script)
        self.id = f"msg_test{self.tag}"

    @staticmethod
    def event(kind: str, **fields: Any) -> Frame:
        return kind, {"type": kind, **fields}

    def frames(self) -> Iterator[Union[Frame, _Mark]]:
        script = self.script
        usage = {
            "input_tokens": script.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
            "service_tier": "standard",
        }
        message: JSONObject = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        yield self.event("message_start", message=message)
        yield self.event("ping")
        blocks = itertools.count()
        open_kind: Optional[str] = None
        open_index = -1
        tool_blocks: dict[int, int] = {}

        def close_open() -> Iterator[Frame]:
            if open_kind == "reasoning":
                signature = {"type": "signature_delta", "signature": script.signature}
                yield self.event("content_block_delta", index=open_index, delta=signature)
            yield self.event("content_block_stop", index=open_index)

        for kind, index, piece, last in _plan(script):
            yield STEP
            if kind in ("reasoning", "text") and open_kind != kind:
                if open_kind is not None:
                    yield from close_open()
                open_kind, open_index = kind, next(blocks)
                block: JSONObject = (
                    {"type": "thinking", "thinking": "", "signature": ""}
                    if kind == "reasoning"
                    else {"type": "text", "text": ""}
                )
                yield self.event("content_block_start", index=open_index, content_block=block)
            if kind == "reasoning":
                delta: JSONObject = {"type": "thinking_delta", "thinking": piece}
                yield self.event("content_block_delta", index=open_index, delta=delta)
            elif kind == "text":
                delta = {"type": "text_delta", "text": piece}
                yield self.event("content_block_delta", index=open_index, delta=delta)
            elif kind == "tool_start":
                if open_kind is not None:
                    yield from close_open()
                    open_kind = None
                call = script.tool_calls[index]
                tool_blocks[index] = next(blocks)
                block = {
                    "type": "tool_use",
                    "id": call.id or f"toolu_test{self.tag}_{index}",
                    "name": call.name,
                    "input": {},
                }
                yield self.event(
                    "content_block_start", index=tool_blocks[index], content_block=block
                )
            else:
                delta = {"type": "input_json_delta", "partial_json": piece}
                yield self.event("content_block_delta", index=tool_blocks[index], delta=delta)
            if kind in ("tool_start", "tool_args") and last:
                yield self.event("content_block_stop", index=tool_blocks[index])
        yield FINALE
        if open_kind is not None:
            yield from close_open()
        stop_reason = "tool_use" if script.tool_calls else "end_turn"
        final_usage = {
            "input_tokens": script.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": self.output_tokens(),
        }
        yield self.event(
            "message_delta",
            delta={"stop_reason": stop_reason, "stop_sequence": None},
            usage=final_usage,
        )
        yield self.event("message_stop")

    def error_frames(self) -> list[Frame]:
        error = {"type": "overloaded_error", "message": self.script.error_message}
        return [self.event("error", error=error)]

    @classmethod
    def error_body(cls, status: int, message: str) -> JSONObject:
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            413: "request_too_large",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}


_ROUTES: dict[str, type[_Format]] = {
    "/chat/completions": _ChatFormat,
    "/responses": _ResponsesFormat,
    "/messages": _MessagesFormat,
}


def _route(path: str) -> Optional[type[_Format]]:
    path = path.split("?", 1)[0].rstrip("/")
    for suffix, kind in _ROUTES.items():
        if path in (suffix, "/v1" + suffix):
            return kind
    return None


def _encode(frame: Frame) -> bytes:
    event, data = frame
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {text}\n\n".encode()


# -- HTTP/1.1 over asyncio -----------------------------------------------------------------------


class _ClientGone(Exception):
    """The client closed the connection."""


class _Connection(asyncio.Protocol):
    """One client connection: requests read in turn (keep-alive), responses written back.

    ``connection_lost`` resolves ``lost`` whatever the handler is doing, which is how a client
    that goes away mid-stream is noticed while the handler waits for the test's hand-off.
    """

    def __init__(self, server: LLMServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self.buffer = bytearray()
        self.eof = False
        self.data_waiter: Optional[asyncio.Future[None]] = None
        self.writable: Optional[asyncio.Future[None]] = None
        self.transport: Optional[asyncio.Transport] = None
        self.task: Optional[asyncio.Task[None]] = None

    # protocol callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # Pause at any buffered byte: ``drain`` then means "handed to the kernel".
        transport.set_write_buffer_limits(high=0)
        self.task = self.loop.create_task(self.serve())
        self.server._connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer.extend(data)
        self._wake_reader()

    def eof_received(self) -> Optional[bool]:
        self.eof = True
        self._wake_reader()
        return None  # close the transport: a client that stops sending is gone

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.eof = True
        self._wake_reader()
        if not self.lost.done():
            self.lost.set_result(None)
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.server._connections.discard(self)

    def pause_writing(self) -> None:
        if self.writable is None or self.writable.done():
            self.writable = self.loop.create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def _wake_reader(self) -> None:
        if self.data_waiter is not None and not self.data_waiter.done():
            self.data_waiter.set_result(None)

    # reading
    async def _more(self) -> None:
        if self.eof:
            raise _ClientGone
        self.data_waiter = self.loop.create_future()
        try:
            await self.data_waiter
        finally:
            self.data_waiter = None

    async def read_until(self, separator: bytes, limit: int) -> bytes:
        while True:
            end = self.buffer.find(separator)
            if end >= 0:
                data = bytes(self.buffer[: end + len(separator)])
                del self.buffer[: end + len(separator)]
                return data
            if len(self.buffer) > limit:
                raise ValueError("request head too large")
            await self._more()

    async def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._more()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    # writing
    async def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing() or self.lost.done():
            raise _ClientGone
        transport.write(data)
        if self.writable is not None and not self.writable.done():
            await self.writable
        if self.lost.done():
            raise _ClientGone

    async def write_chunk(self, data: bytes) -> None:
        await self.write(b"%x\r\n%s\r\n" % (len(data), data))

    # serving
    async def serve(self) -> None:
        exchange: Optional[Exchange] = None
        try:
            while True:
                if not self.buffer and self.eof:
                    return
                try:
                    head = await self.read_until(b"\r\n\r\n", MAX_HEAD_BYTES)
                except _ClientGone:
                    return  # the client closed an idle keep-alive connection
                method, path, headers = _parse_head(head)
                body_bytes = await self.read_body(headers)
                exchange = self.server._new_exchange(method, path, headers, body_bytes)
                keep_alive = await self.respond(exchange)
                exchange = None
                if not keep_alive or headers.get("connection", "").lower() == "close":
                    return
        except _ClientGone:
            if exchange is not None:
                exchange._finish("disconnected")
        except asyncio.CancelledError:
            if exchange is not None:
                exchange._finish("shutdown")
            raise
        except Exception as error:
            if exchange is not None:
                exchange._finish("server-error")
            self.server._errors.append(error)
            logger.exception("the LLM test server failed")
        finally:
            if self.transport is not None:
                self.transport.abort()

    async def read_body(self, headers: Mapping[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            total = 0
            while True:
                size_line = await self.read_until(b"\r\n", 1024)
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    await self.read_until(b"\r\n", MAX_HEAD_BYTES)  # (no trailers expected)
                    return b"".join(parts)
                total += size
                if total > MAX_BODY_BYTES:
                    raise ValueError("request body too large")
                parts.append(await self.read_exactly(size))
                await self.read_exactly(2)
        length = int(headers.get("content-length", "0") or "0")
        if length > MAX_BODY_BYTES:
            raise ValueError("request body too large")
        return await self.read_exactly(length)

    async def respond(self, exchange: Exchange) -> bool:
        """Answer one request; ``False``: the connection is to be closed afterwards."""
        kind = _route(exchange.path)
        if kind is None or exchange.method != "POST":
            await self.send_json(exchange, _Format, 404, f"no route for {exchange.path}")
            return True
        if not isinstance(exchange.body, dict):
            await self.send_json(exchange, kind, 400, "the request body must be a JSON object")
            return True
        try:
            script = self.server._script_for(exchange)
        except (KeyError, TypeError, ValueError) as error:
            status = 404 if isinstance(error, KeyError) else 400
            message = error.args[0] if error.args else str(error)
            await self.send_json(exchange, kind, status, str(message))
            return True
        exchange.script = script
        if script.status is not None:
            await self.send_json(exchange, kind, script.status, script.error_message)
            return True
        if not exchange.body.get("stream"):
            message = "the LLM test server streams only: pass stream=True"
            await self.send_json(exchange, kind, 400, message)
            return True
        return await self.stream(exchange, kind(exchange, script))

    async def send_json(
        self, exchange: Exchange, kind: type[_Format], status: int, message: str
    ) -> None:
        error = kind.error_body(status, message)
        body = json.dumps(error).encode()
        exchange.status, exchange.error_body = status, error
        head = (
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            f"{kind.request_id_header}: req_test{exchange.number:04d}\r\n"
            "\r\n"
        )
        await self.write(head.encode("latin-1") + body)
        exchange._finish("rejected")

    async def stream(self, exchange: Exchange, fmt: _Format) -> bool:
        script = fmt.script
        exchange.status = 200
        head = (
            "HTTP/1.1 200 OK\r\n"
            f"content-type: {fmt.content_type}\r\n"
            "cache-control: no-cache\r\n"
            "transfer-encoding: chunked\r\n"
            f"{fmt.request_id_header}: req_test{exchange.number:04d}\r\n"
            "\r\n"
        )
        await self.write(head.encode("latin-1"))
        for item in fmt.frames():
            if isinstance(item, _Mark):
                steps = exchange.steps_sent
                if script.drop_after is not None and steps >= script.drop_after:
                    exchange._finish("dropped")
                    return False  # ``serve`` aborts the connection mid-body
                if script.error_after is not None and steps >= script.error_after:
                    for frame in fmt.error_frames():
                        await self.send_frame(exchange, frame)
                    exchange._finish("error-event")
                    return await self.end_body()
                if item.step:
                    if script.gated:
                        await self.wait_for_release(exchange)
                    exchange.steps_sent += 1
            else:
                await self.send_frame(exchange, item)
                await asyncio.sleep(0)  # let a disconnect be seen between frames
        exchange._finish("completed")
        return await self.end_body()

    async def end_body(self) -> bool:
        """The last chunk, after the last event.  A client may well be gone by then: the OpenAI
        SDK closes the response as soon as it has read ``[DONE]``, and every SDK does once it
        raised an error event; that is no disconnect, everything was sent."""
        try:
            await self.write(b"0\r\n\r\n")
        except _ClientGone:
            return False
        return True

    async def send_frame(self, exchange: Exchange, frame: Frame) -> None:
        await self.write_chunk(_encode(frame))
        exchange.frames.append(frame)

    async def wait_for_release(self, exchange: Exchange) -> None:
        acquire = self.loop.create_task(exchange._gate.acquire())
        try:
            await asyncio.wait({acquire, self.lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not acquire.done():
                acquire.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await acquire
        if self.lost.done():
            raise _ClientGone


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


# -- the server ----------------------------------------------------------------------------------


class LLMServer:
    """The running server: its URLs, the scripts registered with it, the requests it saw."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.requests: list[Exchange] = []
        """Every request, in arrival order."""
        self._replies: dict[str, Reply] = {}
        self._numbers = itertools.count(1)
        self._arrived = threading.Condition()
        self._connections: set[_Connection] = set()
        self._errors: list[BaseException] = []
        self._ready = threading.Event()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop: Optional[asyncio.Future[None]] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        """``base_url`` for ``openai.OpenAI`` / ``AsyncOpenAI``."""
        return f"{self.url}/v1"

    @property
    def anthropic_url(self) -> str:
        """``base_url`` for ``anthropic.Anthropic`` / ``AsyncAnthropic``."""
        return self.url

    def reply(self, scenario: Union[str, Script] = "text", **overrides: Any) -> Reply:
        """Register a script (a scenario name or a ``Script``, fields replaced by ``overrides``)."""
        script = make_script(scenario, **overrides)
        reply = Reply(f"reply-{len(self._replies) + 1}", script)
        self._replies[reply.id] = reply
        return reply

    def wait_for_requests(self, count: int = 1, timeout: float = 10.0) -> list[Exchange]:
        """The first ``count`` requests, waiting (bounded) until they have arrived."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"{len(self.requests)} of {count} requests in {timeout} s")
            return self.requests[:count]

    # called on the server's loop
    def _new_exchange(
        self, method: str, path: str, headers: Mapping[str, str], body_bytes: bytes
    ) -> Exchange:
        try:
            body: Any = json.loads(body_bytes) if body_bytes else None
        except ValueError:
            body = None
        reply = self._replies.get(headers.get(REPLY_HEADER, ""))
        exchange = Exchange(next(self._numbers), method, path, headers, body, reply)
        with self._arrived:
            self.requests.append(exchange)
            self._arrived.notify_all()
        if reply is not None:
            reply._add(exchange)
        return exchange

    def _script_for(self, exchange: Exchange) -> Script:
        reply_id = exchange.headers.get(REPLY_HEADER)
        if reply_id is not None:
            if exchange.reply is None:
                raise ValueError(f"no reply {reply_id!r} is registered with this server")
            return exchange.reply.script
        header = exchange.headers.get(SCRIPT_HEADER)
        if header is not None:
            return _script_from_header(header, exchange.model)
        if exchange.model not in SCENARIOS:
            raise KeyError(
                f"The model {exchange.model!r} does not exist: name a scenario"
                f" ({', '.join(sorted(SCENARIOS))}) or send an {SCRIPT_HEADER} header."
            )
        return SCENARIOS[exchange.model]

    # lifecycle
    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((self.host, 0))
            sock.listen(64)
            sock.setblocking(False)
            self.port = sock.getsockname()[1]
        except BaseException:
            sock.close()
            raise
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="llm-test-server", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"the LLM test server did not start in {START_TIMEOUT} s")
        if self._errors:
            self.stop()
            raise RuntimeError("the LLM test server failed to start") from self._errors[0]

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(sock))
        except BaseException as error:  # pragma: no cover - a bug in the server
            self._errors.append(error)
        finally:
            sock.close()  # (already closed by the asyncio server, unless it never started)
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._ready.set()

    async def _main(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._stop = loop.create_future()
        try:
            server = await loop.create_server(lambda: _Connection(self), sock=sock)
        except BaseException as error:
            self._errors.append(error)
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop
        finally:
            server.close()
            connections = list(self._connections)
            for connection in connections:
                if connection.task is not None:
                    connection.task.cancel()
                if connection.transport is not None:
                    connection.transport.abort()
            waits: list[asyncio.Future[None]] = [c.lost for c in connections]
            waits += [c.task for c in connections if c.task is not None]
            await asyncio.gather(*waits, return_exceptions=True)
            await server.wait_closed()

    def stop(self) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop ended already
                loop.call_soon_threadsafe(_resolve, stop)
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError(f"the LLM test server did not stop in {STOP_TIMEOUT} s")
        self._thread = None
        for exchange in self.requests:
            exchange._finish("shutdown")

    def __enter__(self) -> LLMServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        if self._errors and exc_info[0] is None:
            raise RuntimeError(
                f"the LLM test server failed {len(self._errors)} time(s); the first error is"
                " chained below"
            ) from self._errors[0]


@contextlib.contextmanager
def serve_llm() -> Iterator[LLMServer]:
    """Run an ``LLMServer`` for the block; stop it (thread joined) on the way out."""
    with LLMServer() as server:
        yield server


@pytest.fixture(name="llm_server")
def llm_server_fixture() -> Iterator[LLMServer]:
    """The ``llm_server`` fixture: ``from tests.llm_server import llm_server_fixture  # noqa: F401``
    in a test module, then take ``llm_server`` as an argument."""
    with serve_llm() as server:
        yield server
