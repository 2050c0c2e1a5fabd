"""A streamified program with every item kind, served in a protocol by a Starlette app.

The program (an ``assistant`` ``@module``) emits a custom item, calls a ``@tool``, asks a fake
``@lm`` that streams a chat-format reply with a ``reasoning`` and an ``answer`` field in small
chunks, and returns a prediction with LM usage.  Its provider gives status messages for module
and tool starts and ends.  ``create_protocol_app()`` serves it:

* ``GET /vercel`` in ``"vercel-ui"``; ``GET /vercel?fail=1``: the LM fails half-way;
* ``POST /agui`` in ``"ag-ui"``, echoing the ``RunAgentInput``'s ``threadId`` / ``runId``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from streamify import (
    AGUIProtocol,
    Prediction,
    StatusMessageProvider,
    StreamListener,
    emit,
    lm,
    module,
    protocol_headers,
    streamify,
    streaming_response,
    tool,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from starlette.requests import Request
    from starlette.responses import Response

__all__ = (
    "ANSWER",
    "FAILURE",
    "HITS",
    "REASONING",
    "create_protocol_app",
    "program",
)

REASONING = "Both sources say six times seven — 42."
ANSWER = 'The answer is "42", ünïcode & all.\nSecond line.'
REPLY = (
    f"[[ ## reasoning ## ]]\n{REASONING}\n\n[[ ## answer ## ]]\n{ANSWER}\n\n[[ ## completed ## ]]"
)
HITS = ["six times seven", "forty-two"]
FAILURE = "the fake LM lost its connection half-way through"
CHUNK = 5


class Status(StatusMessageProvider):
    """DSPy's tool messages, plus one at each module start and end (they make steps)."""

    def module_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> Optional[str]:
        return f"Starting {instance.name}"

    def module_end_status_message(self, outputs: Any) -> Optional[str]:
        return "Done."


def program() -> Callable[..., AsyncIterator[Any]]:
    """The streamified assistant: ``ask(question, fail=False)``."""

    @tool(name="search")
    async def search(query: str, limit: int = 2) -> list[str]:
        return HITS[:limit]

    @lm(name="fake_lm")
    async def fake_lm(prompt: str, fail: bool = False) -> AsyncIterator[Any]:
        cut = REPLY.index(ANSWER) + len(ANSWER) // 2
        for start in range(0, len(REPLY), CHUNK):
            if fail and start >= cut:
                raise ConnectionError(FAILURE)
            yield REPLY[start : start + CHUNK]
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        yield {"object": "chat.completion.chunk", "model": "fake-1", "choices": [], "usage": usage}

    @module(name="assistant", outputs=("reasoning", "answer"))
    async def assistant(question: str, fail: bool = False) -> Prediction:
        await emit({"progress": 1, "note": "looking things up"})
        hits = await search(question)
        reply = await fake_lm(f"{question}\n{hits}", fail=fail)
        return Prediction(reasoning=REASONING, answer=ANSWER, hits=hits, chars=len(str(reply)))

    listeners = [StreamListener("reasoning"), StreamListener("answer")]
    return streamify(assistant, Status(), listeners)


def create_protocol_app() -> Starlette:
    """The app described in the module docstring."""
    ask = program()

    async def vercel(request: Request) -> Response:
        fail = request.query_params.get("fail") == "1"
        frames = streaming_response(ask("What is it?", fail=fail), protocol="vercel-ui")
        return StreamingResponse(frames, headers=protocol_headers("vercel-ui"))

    async def agui(request: Request) -> Response:
        body = await request.json()
        fail = body.get("forwardedProps", {}).get("fail") is True
        protocol = AGUIProtocol(thread_id=body["threadId"], run_id=body["runId"])
        frames = streaming_response(ask("What is it?", fail=fail), protocol=protocol)
        return StreamingResponse(frames, headers=protocol_headers(protocol))

    return Starlette(routes=[Route("/vercel", vercel), Route("/agui", agui, methods=["POST"])])
