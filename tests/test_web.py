"""The web example over real HTTP: uvicorn on a loopback port, read with httpx.

Each test starts ``examples/web/app.py`` under uvicorn in a thread (see ``web_support``) and
reads ``/stream`` as a browser would, frame by frame, with a spec-following SSE parser.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamify import StreamListener
from tests.test_encoding import parse_sse
from tests.web_support import (
    ANSWER,
    REPLY,
    Gate,
    SSEEvent,
    SSEReader,
    create_app,
    http_client,
    reply_chunks,
    serve,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

    from examples.web.app import Activity

pytestmark = pytest.mark.web

QUESTION = "What is 6 \u00d7 7?\n\ndata: [DONE]\n<b>really</b>"
DONE = SSEEvent("message", "[DONE]", "")
WAIT = 20.0  # seconds: the bound on every wait for the server (never reached when all is well)

EXPECTED_STATUS = [
    f"Starting assistant for {QUESTION!r}",
    "Calling tool search_web...",
    "Tool finished.",
    "Calling tool calculator...",
    "Tool finished.",
    "Asking the LM...",
    "The LM has answered.",
]
EXPECTED_ITEMS = [
    {"step": 1, "of": 3, "note": "looking things up"},
    {"step": 2, "of": 3, "note": "2 sources; the calculator says 42"},
    {"step": 3, "of": 3, "note": "reading the reply"},
]


def listener_chunks(raw_chunks: list[str], *, finish: bool) -> list[str]:
    """What a ``StreamListener("answer")`` makes of these raw LM chunks, computed here."""
    listener = StreamListener("answer")
    out = [response.chunk for chunk in raw_chunks for response in listener.feed(chunk)]
    if finish:
        out += [response.chunk for response in listener.flush()]
    return out


def payloads(events: list[SSEEvent]) -> list[dict[str, Any]]:
    """The JSON of each data frame; each frame's ``event:`` name is its payload's type."""
    decoded = []
    for event in events:
        payload = json.loads(event.data)
        assert event.type == payload["type"], event
        decoded.append(payload)
    return decoded


def of_type(decoded: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [payload for payload in decoded if payload["type"] == kind]


class EventStream:
    """Reads a streamed httpx response frame by frame."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks: Iterator[bytes] = response.iter_raw()
        self._reader = SSEReader()
        self.pending: list[SSEEvent] = []
        self.ended = False

    @property
    def comments(self) -> list[str]:
        return self._reader.comments

    def read_more(self) -> None:
        """Read the next piece of the body (the events in it are returned by ``next``)."""
        chunk = next(self._chunks)
        self.pending += self._reader.feed(chunk)

    def __iter__(self) -> Iterator[SSEEvent]:
        return self

    def __next__(self) -> SSEEvent:
        while not self.pending:
            if self.ended:
                raise StopIteration
            chunk = next(self._chunks, None)
            if chunk is None:
                self.ended = True
                self.pending += self._reader.close()
            else:
                self.pending += self._reader.feed(chunk)
        return self.pending.pop(0)


@contextlib.contextmanager
def get_stream(base: str, **params: str) -> Iterator[tuple[httpx.Response, EventStream]]:
    """``GET /stream`` with these query parameters, read as it arrives."""
    with http_client() as client, client.stream("GET", f"{base}/stream", params=params) as response:
        yield response, EventStream(response)


def no_server_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR and not record.name.startswith("streamify")
    ]


@pytest.mark.timeout(60)
def test_stream_sends_status_items_tokens_prediction_then_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        serve(create_app(delay=0)) as base,
        get_stream(base, question=QUESTION) as (response, stream),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        events = list(stream)

    assert events[-1] == DONE
    assert DONE not in events[:-1]
    decoded = payloads(events[:-1])
    assert [payload["message"] for payload in of_type(decoded, "status")] == EXPECTED_STATUS
    assert [payload["data"] for payload in of_type(decoded, "item")] == EXPECTED_ITEMS

    tokens = of_type(decoded, "token")
    assert {(token["predict_name"], token["signature_field_name"]) for token in tokens} == {
        ("assistant", "answer")
    }
    chunks = [token["chunk"] for token in tokens]
    assert "".join(chunks) == ANSWER
    assert chunks == listener_chunks(reply_chunks(), finish=True)
    assert [token["is_last_chunk"] for token in tokens] == [False] * (len(tokens) - 1) + [True]

    assert decoded[-1]["type"] == "prediction"
    assert decoded[-1]["data"]["answer"] == ANSWER
    assert len(of_type(decoded, "prediction")) == 1
    # The tokens come between the LM's start and end status lines.
    kinds = [
        payload["message"] if payload["type"] == "status" else payload["type"]
        for payload in decoded
    ]
    first, last = kinds.index("token"), len(kinds) - 1 - kinds[::-1].index("token")
    assert kinds[first - 1] == "Asking the LM..."
    assert kinds[last + 1] == "The LM has answered."
    assert no_server_errors(caplog) == []


@pytest.mark.timeout(60)
def test_frames_arrive_while_the_program_runs_and_keepalives_while_it_is_silent() -> None:
    """The LM is held mid-answer: the frames produced so far have already arrived, and
    keepalive comments follow while nothing else is produced."""
    chunks = reply_chunks()
    hold_at = (REPLY.index(ANSWER) + len(ANSWER) // 2) // len(chunks[0])
    shown_before = listener_chunks(chunks[:hold_at], finish=False)
    assert 0 < len("".join(shown_before)) < len(ANSWER)

    gate = Gate(hold_at)
    app = create_app(delay=0, pace=gate.pace, keepalive=0.05)
    with gate, serve(app) as base, get_stream(base, question=QUESTION) as (_, stream):
        received: list[SSEEvent] = []
        while [p["chunk"] for p in of_type(payloads(received), "token")] != shown_before:
            received.append(next(stream))
        assert gate.reached.is_set()
        assert [payload["message"] for payload in of_type(payloads(received), "status")] == (
            EXPECTED_STATUS[:-1]
        )
        assert of_type(payloads(received), "prediction") == []
        comments = len(stream.comments)
        while len(stream.comments) == comments:
            stream.read_more()
        assert stream.comments[-1] == " keepalive"
        assert stream.pending == []  # nothing but keepalives while the LM is held

        gate.open()
        rest = list(stream)

    assert rest[-1] == DONE
    tokens = of_type(payloads(received + rest[:-1]), "token")
    assert "".join(token["chunk"] for token in tokens) == ANSWER
    assert payloads(rest[:-1])[-1]["data"]["answer"] == ANSWER


@pytest.mark.timeout(60)
def test_program_error_ends_the_stream_with_an_error_frame_and_no_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        serve(create_app(delay=0)) as base,
        get_stream(base, question=QUESTION, fail="1") as (
            response,
            stream,
        ),
    ):
        assert response.status_code == 200
        events = list(stream)

    assert DONE not in events
    decoded = payloads(events)
    assert decoded[-1] == {
        "type": "error",
        "error": {
            "type": "ConnectionError",
            "message": "the fake LM lost its connection half-way through",
        },
        "message": "the fake LM lost its connection half-way through",
    }
    assert of_type(decoded, "prediction") == []
    streamed = "".join(token["chunk"] for token in of_type(decoded, "token"))
    assert streamed and ANSWER.startswith(streamed) and streamed != ANSWER
    logged = [record for record in caplog.records if record.name == "streamify"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert isinstance(logged[0].exc_info[1], ConnectionError)
    assert no_server_errors(caplog) == []


@pytest.mark.timeout(60)
def test_client_disconnect_cancels_the_program(caplog: pytest.LogCaptureFixture) -> None:
    tick = 0.01
    app = create_app(delay=0, tick=tick)
    activity: Activity = app.state.activity
    with serve(app) as base:
        with get_stream(base, question="tick", endless="1") as (_, stream):
            heartbeats = []
            for event in stream:
                if event.type == "item":
                    heartbeats.append(json.loads(event.data)["data"]["count"])
                if len(heartbeats) == 3:
                    break
            assert activity.running.is_set()
            assert not activity.cancelled.is_set()
        # Leaving the block closes the response mid-stream: the connection is dropped.
        assert not stream.ended

        assert activity.cancelled.wait(WAIT), "the program was not cancelled by the disconnect"
        assert activity.finished.wait(WAIT), "the program did not leave its finally block"
        ticks = activity.ticks
        time.sleep(30 * tick)  # proves an absence: no heartbeat after the cancellation
        assert activity.ticks == ticks

    assert heartbeats == [1, 2, 3]
    assert no_server_errors(caplog) == []


@pytest.mark.timeout(60)
def test_page_is_self_contained_and_renders_text_only() -> None:
    with serve(create_app(delay=0)) as base, http_client() as client:
        first = client.get(f"{base}/")
        second = client.get(f"{base}/")
        too_long = client.get(f"{base}/stream", params={"question": "x" * 501})

    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/html")
    page = first.text
    for element in ('id="status"', 'id="tokens"', 'id="answer"', 'id="state"', 'id="error"'):
        assert element in page
    assert "new EventSource(" in page
    # No external assets: nothing to fetch but the page itself and its stream.
    assert not re.search(r"\b(src|href)\s*=", page)
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    # Content goes in as text, never as HTML.
    assert "innerHTML" not in page and "insertAdjacentHTML" not in page
    # A per-response nonce lets only the page's own script and style run.
    policy = first.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None and "default-src 'none'" in policy
    assert page.count(f'nonce="{nonce.group(1)}"') == 2
    assert second.headers["content-security-policy"] != policy

    assert too_long.status_code == 400


# -- the test tool itself -----------------------------------------------------------------------

_SSE_PIECES = st.sampled_from(
    ["data: a", "data:b", "data", "event: x", "id: 7", "id: \x00", "retry: 5", ": note", "é€",
     "\ufeff", "\n", "\r", "\r\n", "\n\n", ""]
)  # fmt: skip


@pytest.mark.timeout(60)
@settings(max_examples=200, deadline=None, database=None)
@given(pieces=st.lists(_SSE_PIECES, max_size=30), cuts=st.lists(st.integers(0, 200)))
def test_sse_reader_matches_the_reference_parser_for_any_split(
    pieces: list[str], cuts: list[int]
) -> None:
    text = "".join(pieces)
    body = text.encode()
    reader = SSEReader()
    events: list[SSEEvent] = []
    start = 0
    for cut in [*sorted({min(cut, len(body)) for cut in cuts}), len(body)]:
        events += reader.feed(body[start:cut])
        start = cut
    events += reader.close()
    expected = parse_sse(text)
    assert [tuple(event) for event in events] == [tuple(event) for event in expected.events]
    assert reader.comments == expected.comments
