"""WebSocket over uvicorn and WSGI under gunicorn: real servers, real clients, real disconnects.

* ``websocket_stream`` under uvicorn (wsproto), read by aiohttp's WebSocket client, for a
  Starlette ``WebSocket`` and for a raw ASGI app.
* ``streaming_response_sync(keepalive=...)`` under gunicorn in a subprocess, with a client
  that leaves while the program is quiet: the program's own tick counter shows it stopped.

Every wait is bounded; what happens in the servers is ordered by events, not sleeps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.web_support import REQUIRE_WEB, serve

try:
    import aiohttp
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
except ImportError as missing:  # pragma: no cover - depends on the environment
    if REQUIRE_WEB:
        raise
    pytest.skip(f"{missing.name} is missing: pip install '.[web]'", allow_module_level=True)

from streamify import emit, streamify, websocket_stream

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.websockets import WebSocket

pytestmark = pytest.mark.web

ROOT = Path(__file__).resolve().parent.parent
WAIT = 20.0  # seconds: the bound on every wait (never reached when all is well)
TICK = 0.01  # seconds between the quiet program's ticks


@dataclass
class Quiet:
    """A program that emits once, then ticks forever without emitting (a long silent step)."""

    ticks: int = 0
    started: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    async def __call__(self, question: str) -> None:
        try:
            await emit({"started": question})
            self.started.set()
            while True:
                self.ticks += 1
                await asyncio.sleep(TICK)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        finally:
            self.finished.set()

    def assert_stopped(self) -> None:
        assert self.cancelled.wait(WAIT), "the program was not cancelled"
        assert self.finished.wait(WAIT), "the program did not leave its finally block"
        ticks = self.ticks
        time.sleep(30 * TICK)  # proves an absence: no tick after the cancellation
        assert self.ticks == ticks


async def answer(question: str) -> dict[str, str]:
    for step in range(3):
        await emit({"step": step})
    return {"answer": f"{question} 42"}


async def failing(question: str) -> None:
    await emit({"step": 0})
    raise ValueError(f"no answer to {question}")


def starlette_app(program: Callable[[str], Any]) -> Starlette:
    ask = streamify(program)

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        question = await websocket.receive_text()
        await websocket_stream(websocket, ask(question))

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


def raw_asgi_app(program: Callable[[str], Any]) -> Any:
    ask = streamify(program)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        await websocket_stream((scope, receive, send), ask(scope["query_string"].decode()))

    return app


async def read_all(url: str, question: str) -> tuple[list[dict[str, Any]], Any]:
    """Connect, ask, read every message until the server closes; (messages, close code)."""
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str(question)
        return await read_until_close(ws)


async def read_until_close(ws: aiohttp.ClientWebSocketResponse) -> tuple[list[Any], Any]:
    """The JSON text messages, and the code of the server's close frame (its ``data``: the
    client's own ``close_code`` depends on the aiohttp version)."""
    messages: list[Any] = []
    while True:
        message = await asyncio.wait_for(ws.receive(), WAIT)
        if message.type != aiohttp.WSMsgType.TEXT:
            assert message.type == aiohttp.WSMsgType.CLOSE, message
            return messages, message.data
        messages.append(json.loads(message.data))


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR
    ]


# -- WebSocket ------------------------------------------------------------------------------------


async def test_websocket_sends_every_item_then_done_and_closes_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve(starlette_app(answer), ws="wsproto") as base:
        messages, code = await read_all(base.replace("http", "ws") + "/ws", "Why?")
    assert messages == [{"type": "item", "data": {"step": step}} for step in range(3)] + [
        {"type": "prediction", "data": {"answer": "Why? 42"}},
        {"type": "done"},
    ]
    assert code == 1000
    assert errors_logged(caplog) == []


async def test_a_raw_asgi_websocket_app_gets_the_handshake_the_messages_and_the_close() -> None:
    with serve(raw_asgi_app(answer), ws="wsproto") as base:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(base.replace("http", "ws") + "/?Who")
            messages, code = await read_until_close(ws)
            await ws.close()
    assert messages[-2:] == [{"type": "prediction", "data": {"answer": "Who 42"}}, {"type": "done"}]
    assert code == 1000


async def test_a_failing_program_ends_the_websocket_with_an_error_message_and_no_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve(starlette_app(failing), ws="wsproto") as base:
        messages, code = await read_all(base.replace("http", "ws") + "/ws", "this")
    assert messages == [
        {"type": "item", "data": {"step": 0}},
        {
            "type": "error",
            "error": {"type": "ValueError", "message": "no answer to this"},
            "message": "no answer to this",
        },
    ]
    assert code == 1000
    logged = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.name for record in logged] == ["streamify"]  # the program's error, once


@pytest.mark.parametrize("app", [starlette_app, raw_asgi_app], ids=["starlette", "raw-asgi"])
async def test_a_client_leaving_a_quiet_websocket_stops_the_program_at_once_without_errors(
    app: Callable[[Callable[[str], Any]], Any],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    quiet = Quiet()
    with caplog.at_level(logging.DEBUG), serve(app(quiet), ws="wsproto") as base:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(base.replace("http", "ws") + "/ws?q")
            if app is starlette_app:
                await ws.send_str("q")
            first = await asyncio.wait_for(ws.receive(), WAIT)
            assert json.loads(first.data)["data"] == {"started": "q"}
            await ws.close()  # leaves while the program is quiet: no item would tell
        quiet.assert_stopped()
    assert errors_logged(caplog) == []
    assert "Traceback" not in capfd.readouterr().err


def test_websocket_stream_refuses_what_is_not_a_websocket_when_called() -> None:
    stream = streamify(answer)("q")
    with pytest.raises(TypeError, match="needs a Starlette/FastAPI WebSocket"):
        asyncio.run(websocket_stream(object(), stream))
    with pytest.raises(ValueError, match=r"not an ASGI \(scope, receive, send\) triple"):
        asyncio.run(websocket_stream(({"type": "http"}, None, None), stream))
    asyncio.run(stream.aclose())


# -- WSGI under gunicorn --------------------------------------------------------------------------

WSGI_APP = """
import asyncio
from streamify import emit, streamify, streaming_response_sync

async def quiet():
    ticks = 0
    try:
        await emit("started")
        while True:
            ticks += 1
            print("tick", ticks, flush=True)
            await asyncio.sleep({tick})
    except asyncio.CancelledError:
        print("cancelled", ticks, flush=True)
        raise

ask = streamify(quiet, async_streaming=False)

class Body:  # WSGI wants bytes; close() reaches the response, which stops the program
    def __init__(self, frames):
        self.frames = frames
    def __iter__(self):
        return (frame.encode() for frame in self.frames)
    def close(self):
        self.frames.close()

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/event-stream")])
    return Body(streaming_response_sync(ask(), keepalive={keepalive}))
"""


def gunicorn() -> str:
    found = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    if found is None:
        if REQUIRE_WEB:
            raise RuntimeError("gunicorn is not installed: pip install '.[web]'")
        pytest.skip("gunicorn is not installed: pip install '.[web]'")
    return found


def connect(port: int, server: subprocess.Popen[str]) -> socket.socket:
    deadline = time.monotonic() + WAIT
    while True:  # gunicorn offers no readiness event: poll its port, bounded
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        except OSError:
            assert time.monotonic() < deadline, "gunicorn did not start"
            assert server.poll() is None, "gunicorn exited"
            time.sleep(0.05)


@pytest.mark.timeout(90)
def test_gunicorn_notices_a_client_that_left_during_a_silent_step_by_the_keepalive(
    tmp_path: Path,
) -> None:
    keepalive = 0.1
    (tmp_path / "quiet_app.py").write_text(WSGI_APP.format(keepalive=keepalive, tick=TICK))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        server = subprocess.Popen(
            [
                gunicorn(),
                *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "60"),
                *("--chdir", str(tmp_path), "quiet_app:app"),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(server, lines), name="gunicorn-output")
    reader.start()
    try:
        with connect(port, server) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while b"started" not in received:
                received += client.recv(4096)
            left_at = max(_wait_for(lines, "tick"), _latest_tick(lines))
        # The client is gone and the program is quiet.  The next keepalive write, or the one
        # after, fails; gunicorn closes the response, which cancels the program.
        cancelled_at = _wait_for(lines, "cancelled")
        assert cancelled_at - left_at <= 20 * keepalive / TICK  # generous: ~2 intervals
    finally:
        server.terminate()
        server.wait(WAIT)
        reader.join(WAIT)
        assert server.stdout is not None
        server.stdout.close()
    assert "Traceback" not in errors.read_text(), errors.read_text()


def _read_lines(server: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert server.stdout is not None
    for line in server.stdout:
        lines.put(line)


def _latest_tick(lines: queue.Queue[str]) -> int:
    latest = 0
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            return latest
        if line.startswith("tick"):
            latest = int(line.split()[1])


def _wait_for(lines: queue.Queue[str], word: str) -> int:
    """Wait for the next line that starts with ``word``; its tick count."""
    deadline = time.monotonic() + WAIT
    while True:
        line = lines.get(timeout=max(0.001, deadline - time.monotonic()))
        if line.startswith(word):
            return int(line.split()[1])
