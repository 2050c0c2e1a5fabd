"""Shared parts of the web tests: a real uvicorn server, an incremental SSE parser, a gate.

Importing this module skips the importing test module when the web extras (starlette,
uvicorn, httpx: ``pip install ".[web]"``) are missing, unless ``STREAMIFY_REQUIRE_WEB=1``
(CI sets it) makes that an error.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

import pytest

try:
    import httpx
    import starlette  # noqa: F401  (the example app needs it)
    import uvicorn
except ImportError as missing:  # pragma: no cover - depends on the environment
    if os.environ.get("STREAMIFY_REQUIRE_WEB", "") not in ("", "0"):
        raise
    pytest.skip(
        f"the web extras are not installed ({missing.name} is missing): pip install '.[web]'",
        allow_module_level=True,
    )

from examples.web.app import ANSWER, REPLY, create_app, reply_chunks

if TYPE_CHECKING:
    from collections.abc import Iterator

    from starlette.types import ASGIApp

__all__ = (
    "ANSWER",
    "REPLY",
    "REQUIRE_WEB",
    "Gate",
    "SSEEvent",
    "SSEReader",
    "create_app",
    "http_client",
    "reply_chunks",
    "serve",
)

REQUIRE_WEB = os.environ.get("STREAMIFY_REQUIRE_WEB", "") not in ("", "0")
"""Set by CI: a missing web extra or browser fails the web tests instead of skipping them."""

SERVER_START_TIMEOUT = 20.0
SERVER_STOP_TIMEOUT = 20.0


# -- a real server ------------------------------------------------------------------------------


@contextlib.contextmanager
def serve(app: ASGIApp, *, ws: str = "none") -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread, on a free loopback port; yield its base URL.

    ``ws`` is uvicorn's WebSocket implementation (``"wsproto"`` for the WebSocket tests).

    The listening socket is bound (port 0) before the server starts, so there is no window in
    which another process could take the port.  On exit the server is asked to stop and its
    thread is joined: no thread outlives the block.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        log_config=None,  # leave the process's logging alone; records reach caplog
        access_log=False,
        lifespan="off",
        ws=ws,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test-server", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not server.started:  # uvicorn offers no event to wait on
            if not thread.is_alive():
                raise RuntimeError("uvicorn stopped before it started (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start in {SERVER_START_TIMEOUT} s")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(SERVER_STOP_TIMEOUT)
        sock.close()
        assert not thread.is_alive(), f"uvicorn did not stop in {SERVER_STOP_TIMEOUT} s"


def http_client() -> httpx.Client:
    """An httpx client for the test server: no proxy from the environment, bounded waits."""
    return httpx.Client(trust_env=False, timeout=httpx.Timeout(20.0))


# -- Server-Sent Events, parsed as a browser does -----------------------------------------------


class SSEEvent(NamedTuple):
    type: str
    data: str
    last_event_id: str


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class SSEReader:
    """An incremental event-stream parser (WHATWG HTML, "Server-sent events").

    Feed it the body's bytes as they arrive, in any split; it returns each event once its
    blank line has arrived, exactly as an ``EventSource`` dispatches it (``type`` is
    ``"message"`` when the event has no ``event:`` line).  Comments are collected in
    ``comments``.  ``close()`` ends the stream: an event without its blank line is dropped.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._first = True
        self._data = ""
        self._type = ""
        self._last_event_id = ""
        self.comments: list[str] = []

    def feed(self, data: bytes) -> list[SSEEvent]:
        return self.feed_text(self._decoder.decode(data))

    def feed_text(self, text: str) -> list[SSEEvent]:
        self._buffer += text
        if self._first and self._buffer:
            self._first = False
            if self._buffer.startswith("\ufeff"):
                self._buffer = self._buffer[1:]
        events: list[SSEEvent] = []
        position = 0
        buffer = self._buffer
        for match in _LINE_BREAK.finditer(buffer):
            if match.group() == "\r" and match.end() == len(buffer):
                break  # maybe the first half of "\r\n": wait for the next byte
            event = self._line(buffer[position : match.start()])
            position = match.end()
            if event is not None:
                events.append(event)
        self._buffer = buffer[position:]
        return events

    def close(self) -> list[SSEEvent]:
        """The end of the stream: a final ``\\r`` ends its line."""
        events = self.feed_text(self._decoder.decode(b"", final=True))
        if self._buffer.endswith("\r"):
            event = self._line(self._buffer[:-1])
            self._buffer = ""
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> Optional[SSEEvent]:
        if line == "":
            if self._data == "":
                self._type = ""
                return None
            event = SSEEvent(self._type or "message", self._data[:-1], self._last_event_id)
            self._data = ""
            self._type = ""
            return event
        if line.startswith(":"):
            self.comments.append(line[1:])
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._type = value
        elif name == "data":
            self._data += value + "\n"
        elif name == "id" and "\x00" not in value:
            self._last_event_id = value
        return None  # "retry" and unknown fields are ignored


# -- holding the fake LM mid-answer -------------------------------------------------------------


class Gate:
    """Holds the fake LM before one chunk until the test thread opens the gate.

    Pass ``gate.pace`` as the app's ``pace``: the LM stops before chunk ``at`` and sets
    ``reached``; ``open()`` (from any thread) lets it go on.  Used as a context manager, the
    gate is opened on exit, so a failing test never leaves a program waiting.
    """

    def __init__(self, at: int) -> None:
        self.at = at
        self.reached = threading.Event()
        self._lock = threading.Lock()
        self._opened = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    async def pace(self, index: int) -> None:
        if index != self.at:
            return
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._opened:
                self.reached.set()
                return
            opened: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, opened))
        self.reached.set()
        await opened

    def open(self) -> None:
        with self._lock:
            self._opened = True
            waiters, self._waiters = self._waiters, []
        for loop, opened in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nothing waits
                loop.call_soon_threadsafe(_release, opened)

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.open()


def _release(opened: asyncio.Future[None]) -> None:
    if not opened.done():
        opened.set_result(None)
