"""The ``"dspy"`` protocol, read as DSPy's ``streaming_response`` clients read it.

The client is the code block of docs/protocols.md, run as written: it keeps the
``{"prediction": ...}`` frame, joins the ``choices[0].delta.content`` of the ``{"chunk": ...}``
frames and stops at ``[DONE]``.  The server is uvicorn, started here.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest
from hypothesis import given

import streamify
from streamify import (
    DSPyProtocol,
    StatusMessageProvider,
    StreamListener,
    StreamResponse,
    ndjson_response,
    protocol_headers,
    streaming_response,
)
from tests.test_encoding import hypothesis_settings, token_chunks
from tests.web_support import http_client, serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

ROOT = Path(__file__).resolve().parent.parent
GUIDE = "docs/protocols.md"
_BLOCK = re.compile(r"<!-- tested by tests/test_protocol_dspy\.py -->\n```python\n(.*?)```", re.S)

ANSWER = "Forty-two.\n\ndata: [DONE]\n\nStill the answer, \u2028 with a line separator."
FAILURE = "the LM is gone"


def guide_client() -> Callable[[Iterable[str]], tuple[str, Any]]:
    """``read_dspy_stream`` as the guide writes it."""
    (code,) = _BLOCK.findall((ROOT / GUIDE).read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {}
    exec(compile(code, GUIDE, "exec"), namespace)
    reader: Callable[[Iterable[str]], tuple[str, Any]] = namespace["read_dspy_stream"]
    return reader


@streamify.lm(name="fake_lm")
async def fake_lm(question: str, fail: bool) -> AsyncIterator[str]:
    reply = f"[[ ## reasoning ## ]]\nKnown.\n\n[[ ## answer ## ]]\n{ANSWER}\n\n"
    reply += "[[ ## completed ## ]]"
    for index in range(0, len(reply), 6):
        if fail and index > reply.index(ANSWER) + 10:
            raise ConnectionError(FAILURE)
        yield reply[index : index + 6]


@streamify.module(name="answerer", outputs=("reasoning", "answer"))
async def answerer(question: str, fail: bool = False) -> dict[str, str]:
    await streamify.emit({"progress": "thinking"})
    await fake_lm(question, fail)
    return {"reasoning": "Known.", "answer": ANSWER}


class Status(StatusMessageProvider):
    def lm_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> str:
        return "Asking the LM..."


ask = streamify.streamify(
    answerer, status_message_provider=Status(), stream_listeners=[StreamListener("answer")]
)


async def endpoint(request: Request) -> Response:
    from starlette.responses import StreamingResponse

    stream = ask("why?", fail="fail" in request.query_params)
    chunks = "tokens" not in request.query_params
    frames = streaming_response(stream, protocol=DSPyProtocol(chunks=chunks))
    return StreamingResponse(frames, headers=protocol_headers("dspy"))


def create_app() -> Starlette:
    from starlette.applications import Starlette
    from starlette.routing import Route

    return Starlette(routes=[Route("/stream", endpoint)])


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


def _lines(url: str) -> list[str]:
    with http_client() as client, client.stream("GET", url) as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        return list(response.iter_lines())


def _payloads(lines: list[str]) -> list[Any]:
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {")]


@pytest.mark.timeout(60)
def test_dspys_client_reads_the_answer_chunks_and_the_prediction(base_url: str) -> None:
    lines = _lines(f"{base_url}/stream")
    text, prediction = guide_client()(lines)
    assert text == ANSWER
    assert prediction == {"reasoning": "Known.", "answer": ANSWER}
    assert lines[-2:] == ["data: [DONE]", ""]


@pytest.mark.timeout(60)
def test_what_dspy_cannot_send_is_a_frame_its_clients_skip(base_url: str) -> None:
    payloads = _payloads(_lines(f"{base_url}/stream"))
    dspy_frames = [p for p in payloads if "prediction" in p or "chunk" in p]
    others = [p["streamify"] for p in payloads if p not in dspy_frames]
    assert [other["type"] for other in others] == ["item", "status"]
    assert others[0]["data"] == {"progress": "thinking"}
    assert all(len(frame) == 1 for frame in payloads)  # nothing else for a client to trip on
    chunks = [json.loads(frame["chunk"]) for frame in dspy_frames if "chunk" in frame]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert {chunk["signature_field_name"] for chunk in chunks} == {"answer"}
    assert len({chunk["id"] for chunk in chunks}) == 1  # one module call, one id
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks][-1] == "stop"
    assert "prediction" in payloads[-1]


@pytest.mark.timeout(60)
def test_with_chunks_off_tokens_are_frames_dspys_client_skips(base_url: str) -> None:
    lines = _lines(f"{base_url}/stream?tokens=1")
    text, prediction = guide_client()(lines)
    assert (text, prediction) == ("", {"reasoning": "Known.", "answer": ANSWER})
    tokens = [p["streamify"] for p in _payloads(lines) if "streamify" in p]
    tokens = [token for token in tokens if token["type"] == "token"]
    assert "".join(token["chunk"] for token in tokens) == ANSWER


@pytest.mark.timeout(60)
def test_a_failed_run_ends_with_an_error_frame_and_no_prediction_nor_done(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="streamify"):
        lines = _lines(f"{base_url}/stream?fail=1")
    text, prediction = guide_client()(lines)
    assert prediction is None
    assert text and ANSWER.startswith(text) and text != ANSWER
    assert "data: [DONE]" not in lines
    assert _payloads(lines)[-1]["error"] == {"type": "ConnectionError", "message": FAILURE}


def test_the_dspy_protocol_is_sse_only_and_checks_its_option() -> None:
    async def nothing() -> AsyncIterator[Any]:
        yield 1

    with pytest.raises(ValueError, match="Server-Sent Events only"):
        ndjson_response(nothing(), protocol="dspy")
    with pytest.raises(TypeError, match="chunks must be True or False"):
        DSPyProtocol(chunks="yes")  # type: ignore[arg-type]


@hypothesis_settings
@given(item=token_chunks)
def test_the_direct_chunk_json_is_the_general_encoders(item: StreamResponse) -> None:
    protocol = DSPyProtocol().new("run-1")
    (fast,) = protocol.on_token(item)
    (general,) = protocol._token_events(item)
    assert fast == general
