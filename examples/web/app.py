"""A web page that shows a streamified program live, over Server-Sent Events.

Run it (after ``pip install ".[web]"`` in the repository)::

    python examples/web/app.py                # then open http://127.0.0.1:8000/
    uvicorn examples.web.app:app              # the same app under the uvicorn command

``GET /`` serves one self-contained HTML page (inline script, no external assets) whose
``EventSource`` reads ``GET /stream?question=...``.  That endpoint is the whole integration::

    stream = ask(question)                          # a streamified program's stream
    frames = streaming_response(stream, event_names=True, keepalive=15.0)
    return StreamingResponse(frames, media_type="text/event-stream")

The program is a small "assistant" ``@module`` that calls two ``@tool`` s, emits its own
progress items and asks a fake ``@lm`` that streams a chat-format reply in small chunks, with
short pauses so that you can watch it happen.  ``/stream?...&endless=1`` runs a program that
keeps emitting heartbeats until the client goes away (close the tab: it is cancelled), and
``/stream?...&fail=1`` one whose LM fails half-way (the page shows the ``error`` frame).

Starlette is only needed by this example and its tests, never by streamify itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import secrets
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from starlette.applications import Starlette
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from streamify import (
    AGUIProtocol,
    Prediction,
    RedisRunStore,
    RunReply,
    Runs,
    RunStore,
    StatusMessageProvider,
    StreamListener,
    cancel_run_reply,
    emit,
    lm,
    module,
    protocol_headers,
    protocol_names,
    run_events_reply,
    start_run_reply,
    streamify,
    streaming_response,
    tool,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Awaitable

    from starlette.requests import Request

    from streamify import StreamItem

    Pace = Callable[[int], Awaitable[None]]
    """Awaited before the fake LM sends chunk number ``index`` (from 0) of its reply."""

DEFAULT_QUESTION = "What is the answer to everything?"
MAX_QUESTION_LENGTH = 500

REASONING = "Both sources agree, and the calculator confirms 6 * 7 = 42."
ANSWER = "The answer to life, the universe and everything is 42."
REPLY = (
    f"[[ ## reasoning ## ]]\n{REASONING}\n\n[[ ## answer ## ]]\n{ANSWER}\n\n[[ ## completed ## ]]"
)
"""What the fake LM says, in DSPy's chat format; a ``StreamListener("answer")`` cuts
``ANSWER`` out of it."""

CHUNK_SIZE = 4
FAIL_AT_CHUNK = (REPLY.index(ANSWER) + len(ANSWER) // 2) // CHUNK_SIZE
"""With ``fail=1`` the fake LM raises instead of sending this chunk: half-way through the answer."""

SSE_HEADERS = {
    "Cache-Control": "no-cache",  # never serve a stored copy of a live stream
    "X-Accel-Buffering": "no",  # ask nginx-style proxies not to buffer it
}


def reply_chunks() -> list[str]:
    """The chunks the fake LM streams, in order."""
    return [REPLY[start : start + CHUNK_SIZE] for start in range(0, len(REPLY), CHUNK_SIZE)]


@dataclass(frozen=True)
class Progress:
    """A custom item the assistant emits itself (it reaches the page as an ``item`` frame)."""

    step: int
    of: int
    note: str


@dataclass(frozen=True)
class Heartbeat:
    """What the endless program emits, forever."""

    count: int


@dataclass
class Activity:
    """The endless program's side effects, readable from any thread (the tests read them).

    ``asked`` counts the assistant's runs in this process (started programs, whatever the
    number of readers); ``ticks`` counts the heartbeats of every endless run of the app;
    ``running`` is set at the first one; ``cancelled`` is set when a run is cancelled (client
    gone), and ``finished`` when a run has left its ``finally`` block.
    """

    asked: int = 0
    ticks: int = 0
    running: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)


class WebStatus(StatusMessageProvider):
    """Status lines for the page: tool calls (DSPy's default wording), module and LM calls."""

    def module_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> Optional[str]:
        return f"Starting {instance.name} for {inputs['question']!r}"

    def tool_end_status_message(self, outputs: Any) -> Optional[str]:
        return "Tool finished."

    def lm_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> Optional[str]:
        return "Asking the LM..."

    def lm_end_status_message(self, outputs: Any) -> Optional[str]:
        return "The LM has answered."


def _fields(reply: str) -> dict[str, str]:
    """The ``[[ ## name ## ]]`` fields of a chat-format reply."""
    fields: dict[str, str] = {}
    for part in reply.split("[[ ## ")[1:]:
        name, found, value = part.partition(" ## ]]")
        if found:
            fields[name.strip()] = value.strip()
    return fields


def build_programs(
    *, delay: float, tick: float, pace: Optional[Pace], activity: Activity
) -> tuple[Callable[..., AsyncIterator[StreamItem]], Callable[..., AsyncIterator[StreamItem]]]:
    """The streamified assistant and the streamified endless program."""

    async def default_pace(index: int) -> None:
        await asyncio.sleep(delay / 5)

    lm_pace = default_pace if pace is None else pace

    @tool(name="search_web")
    async def search_web(query: str) -> list[str]:
        await asyncio.sleep(delay * 2)
        return [f"{query}: six times seven, says one", f"{query}: forty-two, says the other"]

    @tool(name="calculator")
    def calculator(expression: str) -> int:
        left, _, right = expression.partition("*")
        return int(left) * int(right)

    @lm(name="fake_lm")
    async def fake_lm(prompt: str, fail: bool = False) -> AsyncIterator[str]:
        """Streams ``REPLY`` in small chunks, as an LM API does with ``stream=True``."""
        for index, chunk in enumerate(reply_chunks()):
            if fail and index == FAIL_AT_CHUNK:
                raise ConnectionError("the fake LM lost its connection half-way through")
            await lm_pace(index)
            yield chunk

    @module(name="assistant", outputs=("reasoning", "answer"))
    async def assistant(question: str, fail: bool = False) -> Prediction:
        activity.asked += 1
        await emit(Progress(1, 3, "looking things up"))
        hits = await search_web(question)
        product = calculator("6 * 7")
        await emit(Progress(2, 3, f"{len(hits)} sources; the calculator says {product}"))
        reply = await fake_lm(f"{question}\n{hits}\n{product}", fail=fail)
        await emit(Progress(3, 3, "reading the reply"))
        fields = _fields(reply)
        return Prediction(reasoning=fields["reasoning"], answer=fields["answer"])

    @module(name="endless")
    async def endless(question: str) -> None:
        try:
            while True:
                activity.ticks += 1
                activity.running.set()
                await emit(Heartbeat(activity.ticks))
                await asyncio.sleep(tick)
        except asyncio.CancelledError:
            activity.cancelled.set()
            raise
        finally:
            activity.finished.set()

    status = WebStatus()
    ask = streamify(assistant, status, [StreamListener("answer")], buffer_size=8)
    run_endless = streamify(endless, status, buffer_size=8)
    return ask, run_endless


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "") not in ("", "0", "false")


def _reply(reply: RunReply) -> Response:
    """A streamify ``RunReply`` as a Starlette response."""
    if isinstance(reply.body, str):
        return Response(reply.body, status_code=reply.status, headers=reply.headers)
    return StreamingResponse(reply.body, status_code=reply.status, headers=reply.headers)


def owner_key(user: str) -> str:
    """The prefix of the run ids of ``user`` (see ``user_header`` in :func:`create_app`)."""
    return hashlib.sha256(user.encode()).hexdigest()[:16]


def header_authorizer(header: str) -> Callable[[str, str, Any], bool]:
    """An authorization hook: a request may read or cancel the runs that its ``header`` (the
    user name, set by the authenticating proxy in front of the app) started."""

    def authorize(action: str, run_id: str, request: Any) -> bool:
        user = request.headers.get(header, "")
        return bool(user) and run_id.startswith(owner_key(user) + "_")

    return authorize


async def _cut(frames: AsyncGenerator[str, None], after: int) -> AsyncGenerator[str, None]:
    """``frames`` until ``after`` events were sent, then the end of the body (a dropped
    connection, for the tests of resuming)."""
    sent = 0
    try:
        async for frame in frames:
            yield frame
            sent += frame.startswith("id: ")
            if sent >= after:
                return
    finally:
        await frames.aclose()


async def _run_request(
    request: Request, user_header: Optional[str]
) -> Union[Response, tuple[dict[str, Any], str, Optional[str]]]:
    """A ``POST /runs`` request's JSON body, question and run id, or the error reply."""
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        body = None
    question = body.get("question", "") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or not isinstance(question, str)
        or len(question) > MAX_QUESTION_LENGTH
    ):
        return JSONResponse(
            {"error": "bad_request", "message": f"question: a string of at most "
             f"{MAX_QUESTION_LENGTH} characters"}, status_code=400)  # fmt: skip
    run_id = None
    if user_header is not None:
        user = request.headers.get(user_header, "")
        if not user:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        run_id = f"{owner_key(user)}_{secrets.token_urlsafe(16)}"
    return body, question.strip() or DEFAULT_QUESTION, run_id


def _run_routes(
    runs: Runs,
    programs: tuple[Callable[..., AsyncIterator[Any]], Callable[..., AsyncIterator[Any]]],
    *,
    keepalive: Optional[float],
    cut_after: Optional[int],
    user_header: Optional[str],
    cut: set[str],
) -> list[Route]:
    """``POST /runs``, ``GET /runs/{run_id}/events``, ``POST /runs/{run_id}/cancel``; the ids
    of the runs whose first connection was cut go in ``cut``."""
    ask, run_endless = programs

    async def start(request: Request) -> Response:
        parsed = await _run_request(request, user_header)
        if isinstance(parsed, Response):
            return parsed
        body, question, run_id = parsed
        if body.get("endless") is True:  # nobody reads it any more: stop it
            return _reply(
                await start_run_reply(
                    runs, run_endless(question), run_id=run_id, cancel_when_unread=True
                )
            )
        items = ask(question, fail=body.get("fail") is True)
        return _reply(await start_run_reply(runs, items, run_id=run_id))

    async def events(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        reply = await run_events_reply(
            runs,
            run_id,
            headers=request.headers,
            query=request.query_params,
            request=request,
            keepalive=keepalive,
            retry=500,
        )
        if cut_after is not None and reply.status == 200 and run_id not in cut:
            cut.add(run_id)  # the first connection of each run only
            assert not isinstance(reply.body, str)
            reply = reply._replace(body=_cut(reply.body, cut_after))
        return _reply(reply)

    async def cancel(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        return _reply(await cancel_run_reply(runs, run_id, request=request))

    return [
        Route("/runs", start, methods=["POST"]),
        Route("/runs/{run_id}/events", events),
        Route("/runs/{run_id}/cancel", cancel, methods=["POST"]),
    ]


def _text_of(content: Any) -> str:
    """The text of a chat message's content: a str, or a list of text parts (any SDK's)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _last_user_text(messages: Any) -> str:
    """The last user message's text in an OpenAI, Vercel UI or AG-UI message list."""
    if isinstance(messages, str):
        return messages
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("parts", message.get("content")))
    return ""


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _protocol_routes(
    ask: Callable[..., AsyncIterator[StreamItem]], *, keepalive: Optional[float]
) -> list[Route]:
    """The assistant in each front-end protocol, at the path its client posts to by default.

    ``POST /v1/responses`` (the OpenAI SDK's ``client.responses.create(..., stream=True)``
    with ``base_url=".../v1"``), ``POST /api/chat`` (``useChat`` from the Vercel AI SDK),
    ``POST /ag-ui`` (an AG-UI ``HttpAgent``), ``POST /dspy`` (``{"question": ...}``, DSPy's
    client framing).  ``?fail=1`` (or ``"fail": true`` in the body, or ``metadata.fail`` for
    the OpenAI SDK) makes the fake LM fail half-way.
    """

    def failing(request: Request, body: dict[str, Any]) -> bool:
        metadata = body.get("metadata")
        in_metadata = isinstance(metadata, dict) and metadata.get("fail") not in (None, "", "0")
        return _flag(request, "fail") or body.get("fail") is True or in_metadata

    def serve(protocol: Any, items: AsyncIterator[StreamItem]) -> Response:
        frames = streaming_response(items, protocol=protocol, keepalive=keepalive)
        return StreamingResponse(frames, headers=protocol_headers(protocol))

    def question_of(text: str) -> str:
        return text.strip()[:MAX_QUESTION_LENGTH] or DEFAULT_QUESTION

    async def responses(request: Request) -> Response:
        body = await _json_body(request)
        question = question_of(_last_user_text(body.get("input", "")))
        return serve("openai-responses", ask(question, fail=failing(request, body)))

    async def chat(request: Request) -> Response:
        body = await _json_body(request)
        question = question_of(_last_user_text(body.get("messages")))
        return serve("vercel-ui", ask(question, fail=failing(request, body)))

    async def ag_ui(request: Request) -> Response:
        body = await _json_body(request)
        thread_id, run_id = body.get("threadId"), body.get("runId")
        protocol = AGUIProtocol(
            thread_id=thread_id if isinstance(thread_id, str) and thread_id else None,
            run_id=run_id if isinstance(run_id, str) and run_id else None,
        )
        question = question_of(_last_user_text(body.get("messages")))
        return serve(protocol, ask(question, fail=failing(request, body)))

    async def dspy(request: Request) -> Response:
        body = await _json_body(request)
        question = body.get("question")
        text = question_of(question if isinstance(question, str) else "")
        return serve("dspy", ask(text, fail=failing(request, body)))

    return [
        Route("/v1/responses", responses, methods=["POST"]),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/ag-ui", ag_ui, methods=["POST"]),
        Route("/dspy", dspy, methods=["POST"]),
    ]


def _plain_routes(
    programs: tuple[Callable[..., AsyncIterator[Any]], Callable[..., AsyncIterator[Any]]],
    activity: Activity,
    *,
    keepalive: Optional[float],
) -> list[Route]:
    """``GET /`` (the page), ``GET /stream`` (the plain SSE endpoint) and ``GET /stats``."""
    ask, run_endless = programs

    async def page(request: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        policy = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; base-uri 'none'; form-action 'self'"
        )
        return HTMLResponse(
            PAGE.replace("{nonce}", nonce), headers={"Content-Security-Policy": policy}
        )

    async def stream(request: Request) -> Response:
        question = request.query_params.get("question", "").strip() or DEFAULT_QUESTION
        if len(question) > MAX_QUESTION_LENGTH:
            return PlainTextResponse(
                f"question: at most {MAX_QUESTION_LENGTH} characters", status_code=400
            )
        if _flag(request, "endless"):
            items = run_endless(question)
        else:
            items = ask(question, fail=_flag(request, "fail"))
        protocol = request.query_params.get("protocol", "streamify")
        if protocol not in protocol_names():
            return PlainTextResponse(
                f"protocol: one of {', '.join(protocol_names())}", status_code=400
            )
        if protocol != "streamify":
            frames = streaming_response(items, protocol=protocol, keepalive=keepalive)
            return StreamingResponse(frames, headers=protocol_headers(protocol))
        # The whole integration: SSE frames of the stream, streamed by the framework.  When
        # the client goes away, Starlette cancels the iteration and streaming_response closes
        # the stream, which cancels the program.
        frames = streaming_response(items, event_names=True, keepalive=keepalive)
        return StreamingResponse(frames, media_type="text/event-stream", headers=SSE_HEADERS)

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {
                "asked": activity.asked,
                "ticks": activity.ticks,
                "cancelled": activity.cancelled.is_set(),
                "finished": activity.finished.is_set(),
            }
        )

    return [Route("/", page), Route("/stream", stream), Route("/stats", stats)]


def create_app(
    *,
    delay: float = 0.25,
    tick: float = 0.5,
    pace: Optional[Pace] = None,
    keepalive: Optional[float] = 15.0,
    store: Optional[RunStore] = None,
    lease: float = 10.0,
    cut_after: Optional[int] = None,
    user_header: Optional[str] = None,
) -> Starlette:
    """The example app.

    ``delay`` scales the pauses of the assistant (the LM waits ``delay / 5`` before each
    chunk; 0 for tests); ``tick`` is the endless program's pause between heartbeats;
    ``pace``, if given, is awaited before each LM chunk instead (tests use it to hold the LM
    mid-answer); ``keepalive`` is the longest silence, in seconds, before a comment frame
    keeps proxies from closing an idle stream (``None``: never).

    Runs: ``store`` keeps their logs (a ``MemoryRunStore`` when None: this process only; a
    ``RedisRunStore`` shared by several processes of the app), ``lease`` is the ``Runs``
    lease (seconds before the readers of a run whose process died get an error);
    ``cut_after`` (tests) ends the first connection to each run's events after that many
    events; with ``user_header`` a run is started, read and cancelled only with that header
    (the user's name) set, by the same user.  ``app.state.activity`` is the programs'
    :class:`Activity`, ``app.state.runs`` the ``Runs``, ``app.state.cut`` the ids of the runs
    whose first connection was cut; ``GET /stats`` shows the activity.
    """
    activity = Activity()
    programs = build_programs(delay=delay, tick=tick, pace=pace, activity=activity)
    authorize = None if user_header is None else header_authorizer(user_header)
    runs = Runs(store, lease=lease, authorize=authorize)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await runs.aclose()  # this process's runs end "cancelled"; the store is closed

    routes = _plain_routes(programs, activity, keepalive=keepalive)
    routes += _protocol_routes(programs[0], keepalive=keepalive)
    cut: set[str] = set()
    routes += _run_routes(
        runs, programs, keepalive=keepalive, cut_after=cut_after, user_header=user_header, cut=cut
    )
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.activity = activity
    app.state.runs = runs
    app.state.cut = cut
    return app


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streamify: a program, live</title>
<style nonce="{nonce}">
  body { font: 16px/1.5 system-ui, sans-serif; color: #1d1d1f; background: #fff;
         max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.5rem; margin-bottom: .2rem; }
  h1 + p { margin-top: 0; color: #666; }
  form { display: flex; gap: .5rem; margin: 1.2rem 0 .6rem; }
  input { flex: 1; padding: .45rem .6rem; font: inherit; border: 1px solid #bbb;
          border-radius: 6px; }
  button { padding: .45rem 1.1rem; font: inherit; border: 0; border-radius: 6px;
           background: #2d6cdf; color: #fff; cursor: pointer; }
  h2 { font-size: .75rem; text-transform: uppercase; letter-spacing: .08em; color: #888;
       margin: 1.4rem 0 .4rem; }
  #state { display: inline-block; padding: 0 .5rem; border-radius: 4px; background: #eee;
           font-size: .85rem; }
  #state[data-state="streaming"] { background: #fff3c4; }
  #state[data-state="done"] { background: #d7f5dd; }
  #state[data-state="error"] { background: #fbd5d5; }
  #state[data-state="reconnecting"] { background: #ffe0b3; }
  #stop { background: #8a1010; }
  #status { list-style: none; margin: 0; padding: 0;
            font: 14px/1.7 ui-monospace, SFMono-Regular, Menlo, monospace; }
  #status li.status::before { content: "\\25b8  "; color: #1a9b5c; }
  #status li.item { color: #7a4bb3; }
  #status li.item::before { content: "\\2022  "; }
  #tokens, #answer { min-height: 1.5em; padding: .6rem .8rem; border-radius: 6px;
                     white-space: pre-wrap; }
  #tokens { background: #f5f5f2; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
  #tokens.live::after { content: "\\258d"; color: #2d6cdf; }
  #answer { background: #eef7f0; border-left: 4px solid #1a9b5c; font-weight: 600; }
  #error { margin-top: 1rem; padding: .6rem .8rem; border-radius: 6px; background: #fbd5d5;
           color: #8a1010; }
</style>
</head>
<body>
<h1>streamify, live</h1>
<p>A program's status lines, the tokens of its <code>answer</code> field and its result,
sent by the server as Server-Sent Events while the program runs.</p>
<form id="ask">
  <input id="question" name="question" value="What is the answer to everything?"
         autocomplete="off" maxlength="500" aria-label="Question">
  <button id="go" type="submit">Ask</button>
  <button id="stop" type="button" hidden>Stop</button>
</form>
<div>State: <span id="state" data-state="idle">idle</span></div>
<h2>Status</h2>
<ul id="status"></ul>
<h2>Tokens of <code>answer</code>, as they arrive</h2>
<div id="tokens"></div>
<h2>Final answer</h2>
<div id="answer"></div>
<div id="error" hidden></div>
<script nonce="{nonce}">
"use strict";
const $ = (id) => document.getElementById(id);
const pageQuery = new URLSearchParams(location.search);
let source = null;

function setState(state, text) {
  $("state").dataset.state = state;
  $("state").textContent = text || state;
}

function addLine(kind, text) {
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = text;  // text, never HTML: the content comes from the program
  $("status").append(li);
}

function describe(data) {
  if (data && typeof data === "object") {
    if ("note" in data) return `step ${data.step} of ${data.of}: ${data.note}`;
    if ("count" in data) return `still working (heartbeat ${data.count})`;
  }
  return JSON.stringify(data);
}

function finish(state, text) {
  if (source !== null) source.close();  // else EventSource reconnects to a finished stream
  source = null;
  runId = null;
  $("stop").hidden = true;
  $("tokens").classList.remove("live");
  setState(state, text);
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = false;
  finish("error");
}

// One event of the program, whichever endpoint it came from (type, parsed JSON data).
function show(type, data) {
  if (type === "status") addLine("status", data.message);
  else if (type === "item") addLine("item", describe(data.data));
  else if (type === "token") {
    if (data.signature_field_name !== "answer") return;
    $("tokens").classList.toggle("live", !data.is_last_chunk);
    $("tokens").append(data.chunk);  // appends a text node
  } else if (type === "prediction") {
    $("answer").textContent = "answer" in data.data ? data.data.answer : JSON.stringify(data.data);
  } else if (type === "error") showError(`${data.error.type}: ${data.message}`);
  else if (type === "cancelled") finish("cancelled");
  else if (type === "gap") addLine("item", "some events were dropped by the server's log");
}

// The plain stream (/?plain=1): lives and dies with its connection; never reopened.
function startPlain(query) {
  source = new EventSource("stream?" + query);
  source.addEventListener("open", () => setState("streaming"));
  for (const type of ["status", "item", "token", "prediction"]) {
    source.addEventListener(type, (event) => show(type, JSON.parse(event.data)));
  }
  source.addEventListener("message", (event) => {  // frames without an event name
    if (event.data === "[DONE]") finish("done");
  });
  source.addEventListener("error", (event) => {
    if (typeof event.data === "string") show("error", JSON.parse(event.data));
    else if (source !== null) showError("The connection was lost before the end of the stream.");
  });
}

// A run: the program runs on the server whatever happens to this connection; after a drop
// the EventSource reconnects with Last-Event-ID and gets the events after it, once each.
let runId = null;
let lastId = "";
let retries = 0;

function listen(id) {
  const url = `runs/${encodeURIComponent(id)}/events`;
  source = new EventSource(lastId ? `${url}?last_event_id=${encodeURIComponent(lastId)}` : url);
  const mine = source;
  source.addEventListener("open", () => { retries = 0; setState("streaming"); });
  source.addEventListener("message", (event) => {
    if (source !== mine) return;
    if (event.lastEventId) lastId = event.lastEventId;
    if (event.data === "[DONE]") return finish("done");
    const data = JSON.parse(event.data);
    show(data.type, data);
  });
  source.addEventListener("error", () => {
    if (source !== mine) return;
    if (source.readyState === EventSource.CONNECTING) return setState("reconnecting");
    source.close();  // the server refused: try again by hand a few times, from lastId
    if (++retries > 3) return showError("The run can no longer be read.");
    setState("reconnecting");
    setTimeout(() => { if (source === mine && runId === id) listen(id); }, 1000);
  });
}

async function startRun(question) {
  const body = {question};
  for (const mode of ["endless", "fail"]) if (pageQuery.has(mode)) body[mode] = true;
  const reply = await fetch("runs", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  });
  if (reply.status !== 201) return showError(`The run did not start (HTTP ${reply.status}).`);
  runId = (await reply.json()).run_id;
  lastId = "";
  retries = 0;
  $("stop").hidden = false;
  listen(runId);
}

function start(question) {
  if (source !== null) source.close();
  source = null;
  for (const id of ["status", "tokens", "answer", "error"]) $(id).textContent = "";
  $("error").hidden = true;
  setState("connecting");
  if (!pageQuery.has("plain")) return startRun(question);
  const query = new URLSearchParams({question});
  for (const mode of ["endless", "fail"]) {  // /?endless=1 and /?fail=1 pick the demo's modes
    if (pageQuery.has(mode)) query.set(mode, pageQuery.get(mode));
  }
  startPlain(query);
}

$("stop").addEventListener("click", () => {
  if (runId !== null) fetch(`runs/${encodeURIComponent(runId)}/cancel`, {method: "POST"});
});

$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  start($("question").value);
});

// Leaving the page must end the stream, which stops the program on the server.  Without
// this, Chromium's back/forward cache keeps a page that was left, and its EventSource, alive.
window.addEventListener("pagehide", () => {
  if (source !== null) finish("stopped");
});

const preset = pageQuery.get("question");
if (preset) {
  $("question").value = preset;
  start(preset);
}
</script>
</body>
</html>
"""

app = create_app()
"""The app with the demo's pauses, for ``uvicorn examples.web.app:app``."""


def main(argv: Optional[list[str]] = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the streamify web example.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--delay", type=float, default=0.25, help="pause scale in seconds (0: no pauses)"
    )
    parser.add_argument(
        "--store",
        default="memory",
        help="where runs live: redis://HOST:PORT/DB (shared by processes) or memory (default)",
    )
    parser.add_argument(
        "--tick", type=float, default=0.5, help="the endless program's pause, seconds"
    )
    parser.add_argument("--lease", type=float, default=10.0, help="the runs' lease, seconds")
    parser.add_argument("--cut-after", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--user-header", default=None, help="runs belong to the user named by this header"
    )
    args = parser.parse_args(argv)
    if args.store != "memory" and not args.store.startswith(("redis://", "rediss://", "unix://")):
        parser.error(f"--store: redis://HOST:PORT/DB or memory, got {args.store!r}")

    async def serve() -> None:
        # The store is made on the server's event loop: redis.asyncio's locks bind to the loop
        # they are made on (Python 3.9).
        store = None if args.store == "memory" else RedisRunStore(args.store)
        app = create_app(
            delay=args.delay,
            tick=args.tick,
            store=store,
            lease=args.lease,
            cut_after=args.cut_after,
            user_header=args.user_header,
        )
        # Open streams (an endless one, say) must not hold up Ctrl+C for long.
        config = uvicorn.Config(app, host=args.host, port=args.port, timeout_graceful_shutdown=3)
        await uvicorn.Server(config).serve()

    print(f"open http://{args.host}:{args.port}/ (Ctrl+C stops)", flush=True)
    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
