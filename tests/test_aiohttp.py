"""aiohttp as the serving guide serves it: aiohttp's own server on a loopback port, its client.

The handler under test is the code block of docs/serving.md, run as written.  The disconnect
case is the hard one: aiohttp does not cancel a handler when its client leaves, the handler only
learns it from a failed ``write()``, and an exception that leaves ``async for`` does not close
the generator it iterated.  Every wait is bounded; concurrent steps are ordered by events.

Skipped when aiohttp is missing (``pip install ".[web]"``), unless ``STREAMIFY_REQUIRE_WEB=1``
(CI sets it) makes that an error.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import gc
import json
import logging
import os
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, cast

import pytest

try:
    import aiohttp
    from aiohttp import web
except ImportError as missing:  # pragma: no cover - depends on the environment
    if os.environ.get("STREAMIFY_REQUIRE_WEB", "") not in ("", "0"):
        raise
    pytest.skip(
        f"aiohttp is not installed ({missing.name} is missing): pip install '.[web]'",
        allow_module_level=True,
    )

from streamify import aiohttp_response, emit, encode_item, streamify
from tests.helpers import garbage_collector_off
from tests.test_encoding import LoopProblems, parse_sse

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.web

ROOT = Path(__file__).resolve().parent.parent
WAIT = 20.0  # seconds: the bound on every wait (never reached when all is well)
ITEM_SIZE = 64 * 1024  # big items, so that the program outruns the network at once

GUIDE = "docs/serving.md"  # where the handler is documented
_README_BLOCK = re.compile(r"<!-- tested by tests/test_aiohttp\.py -->\n```python\n(.*?)```", re.S)


def readme_code() -> str:
    (code,) = _README_BLOCK.findall((ROOT / GUIDE).read_text(encoding="utf-8"))
    return str(code)


def _without_aclosing(
    name: str,
    globals: Any = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> Any:
    """``__import__`` for a Python without ``contextlib.aclosing`` (3.9)."""
    module = builtins.__import__(name, globals, locals, fromlist, level)
    if name != "contextlib":
        return module
    return types.SimpleNamespace(
        **{key: value for key, value in vars(module).items() if key != "aclosing"}
    )


def readme_app(ask: Callable[[str], Any], *, python39: bool = False) -> web.Application:
    """The README's aiohttp application, serving ``ask``; ``python39`` takes its 3.9 branch."""
    namespace: dict[str, Any] = {"ask": ask, "__name__": "readme_aiohttp"}
    if python39:
        namespace["__builtins__"] = {**vars(builtins), "__import__": _without_aclosing}
    exec(compile(readme_code(), f"{GUIDE} (aiohttp)", "exec"), namespace)
    if python39:
        assert namespace["aclosing"].__module__ == "readme_aiohttp"  # the fallback ran
    app = namespace["app"]
    assert isinstance(app, web.Application)
    return app


@contextlib.asynccontextmanager
async def served(app: web.Application, **runner_options: Any) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yield its base URL; clean up on exit."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class Producer:
    """A program that produces big items as fast as the stream lets it, forever.

    Its ``middleware`` watches the response's connection: ``network_full`` is set when the
    transport pauses writing (its buffer is over the high-water mark, the kernel's buffers
    being full already), after which the handler's next ``write()`` waits for a drain that
    needs the client to read.  The program then fills the stream's buffer and blocks there.
    """

    def __init__(self) -> None:
        self.network_full = asyncio.Event()
        self.stopped = asyncio.Event()
        self.how: list[str] = []
        self.produced = 0

    async def __call__(self, question: str) -> None:
        try:
            while True:
                await emit({"n": self.produced, "pad": "x" * ITEM_SIZE})
                self.produced += 1
        except asyncio.CancelledError:
            self.how.append("cancelled")
            raise
        except GeneratorExit:  # its task was destroyed while pending
            self.how.append("destroyed")
            raise
        finally:
            self.stopped.set()

    def middleware(self) -> Any:
        @web.middleware
        async def watch_the_connection(request: web.Request, handler: Any) -> Any:
            transport = request.transport
            assert transport is not None
            transport.set_protocol(_PauseWatcher(transport.get_protocol(), self.network_full))
            return await handler(request)

        return watch_the_connection


class _PauseWatcher(asyncio.Protocol):
    """Passes every event on to aiohttp's protocol, and sets ``paused`` when writing pauses."""

    def __init__(self, protocol: asyncio.BaseProtocol, paused: asyncio.Event) -> None:
        self._protocol = cast("asyncio.Protocol", protocol)
        self._paused = paused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._protocol.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._protocol.data_received(data)

    def eof_received(self) -> Optional[bool]:
        return self._protocol.eof_received()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self._protocol.pause_writing()
        self._paused.set()

    def resume_writing(self) -> None:
        self._protocol.resume_writing()


async def disconnect_when_the_network_is_full(base: str, producer: Producer) -> bytes:
    """Start a stream, read its first bytes, stop reading until the program has outrun the
    network, then disconnect.  Returns what was read."""
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{base}/stream", params={"question": "q"})
        assert response.status == 200
        first = await asyncio.wait_for(response.content.readany(), WAIT)
        await asyncio.wait_for(producer.network_full.wait(), WAIT)
        response.close()  # drops the connection, unread data and all
    return first


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR
    ]


# -- the README's handler -----------------------------------------------------------------------


async def test_readme_handler_sends_every_frame_then_done_to_a_real_client() -> None:
    async def program(question: str) -> dict[str, str]:
        for step in range(3):
            await emit({"step": step, "question": question})
        return {"answer": "42"}

    async with served(readme_app(streamify(program))) as base, aiohttp.ClientSession() as client:
        response = await client.get(f"{base}/stream", params={"question": "6 * 7?"})
        body = await asyncio.wait_for(response.text(), WAIT)
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    events = parse_sse(body).events
    assert events[-1].data == "[DONE]"
    assert [(event.type, json.loads(event.data)) for event in events[:-1]] == [
        ("item", {"type": "item", "data": {"step": step, "question": "6 * 7?"}})
        for step in range(3)
    ] + [("prediction", {"type": "prediction", "data": {"answer": "42"}})]


@pytest.mark.parametrize("python39", [False, True], ids=["aclosing", "python-3.9-fallback"])
@pytest.mark.parametrize("handler_cancellation", [False, True])
async def test_readme_handler_stops_the_program_promptly_when_the_client_disconnects(
    handler_cancellation: bool,
    python39: bool,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    problems = LoopProblems()
    producer = Producer()
    app = readme_app(streamify(producer), python39=python39)
    app.middlewares.append(producer.middleware())
    with caplog.at_level(logging.DEBUG), garbage_collector_off():
        async with served(app, handler_cancellation=handler_cancellation) as base:
            first = await disconnect_when_the_network_is_full(base, producer)
            await asyncio.wait_for(producer.stopped.wait(), WAIT)
            produced = producer.produced
        # the server has finished its handlers: nothing more was produced meanwhile
        assert producer.produced == produced
    assert first.startswith(b"event: item\n")
    assert producer.how == ["cancelled"]
    assert errors_logged(caplog) == []
    problems.assert_none()
    assert "Traceback" not in capfd.readouterr().err


# -- what the README's handler avoids ----------------------------------------------------------


async def abandoned_stream_scenario() -> dict[str, Any]:
    """A handler that writes a stream's items without ``aclosing``, the stream held in a
    variable; a client that disconnects while the program outruns the network; the garbage
    collector off.  Run in a subprocess by the test below.

    The failed ``write()`` raises out of ``async for``, which does not close the stream; the
    exception's traceback keeps the handler's frame, hence the variable, alive, and aiohttp's
    disconnect error is in a reference cycle with that traceback (its drain waiter holds it),
    so only the garbage collector can free them.  (Iterated without a variable, the stream
    would be released, and closed, as the exception unwinds.)
    """
    producer = Producer()
    ask = streamify(producer)

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        items = ask(request.query["question"])
        async for item in items:
            await response.write(json.dumps(encode_item(item)).encode() + b"\n")
        await response.write_eof()
        return response

    app = web.Application(middlewares=[producer.middleware()])
    app.router.add_get("/stream", handler)
    reports: list[str] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda loop, context: reports.append(str(context.get("message")))
    )
    with garbage_collector_off():
        async with served(app) as base:
            await disconnect_when_the_network_is_full(base, producer)
            # aiohttp lets go of the handler's exception some steps after the disconnect; the
            # first collection after that finds the cycle (bounded: WAIT seconds in all).
            for _ in range(int(WAIT / 0.05)):
                gc.collect()
                if producer.stopped.is_set():
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(producer.stopped.wait(), 0.05)
            assert producer.stopped.is_set(), "the stream was not stopped when collected"
    return {"how after gc": producer.how, "loop reports": reports}


def test_a_stream_abandoned_by_a_failed_handler_stops_cleanly_when_its_cycle_is_collected() -> None:
    # Without aclosing, the traceback keeps the stream alive: only the garbage collector can
    # stop its program (the README's handler closes it at once).  Then it must stop cleanly:
    # cancelled, with no "Task was destroyed but it is pending" from a collected producer.
    script = (
        "import asyncio, json\n"
        "from tests.test_aiohttp import abandoned_stream_scenario\n"
        "print(json.dumps(asyncio.run(abandoned_stream_scenario(), debug=True)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {"how after gc": ["cancelled"], "loop reports": []}, done.stderr


# -- streamify.aiohttp_response ----------------------------------------------------------------


def helper_app(ask: Callable[[str], Any], **options: Any) -> web.Application:
    async def stream(request: web.Request) -> web.StreamResponse:
        return await aiohttp_response(request, ask(request.query["question"]), **options)  # type: ignore[no-any-return]

    app = web.Application()
    app.router.add_get("/stream", stream)
    return app


async def test_aiohttp_response_sends_the_protocols_headers_and_every_frame() -> None:
    async def program(question: str) -> dict[str, str]:
        await emit({"step": question})
        return {"answer": "42"}

    app = helper_app(streamify(program), event_names=True, retry=2000)
    async with served(app) as base, aiohttp.ClientSession() as client:
        response = await client.get(f"{base}/stream", params={"question": "q"})
        body = await asyncio.wait_for(response.text(), WAIT)
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert body.startswith("retry: 2000\n\n")
    events = parse_sse(body).events
    assert [(event.type, event.data) for event in events] == [
        ("item", '{"type":"item","data":{"step":"q"}}'),
        ("prediction", '{"type":"prediction","data":{"answer":"42"}}'),
        ("message", "[DONE]"),
    ]


async def test_aiohttp_response_as_ndjson() -> None:
    async def program(question: str) -> str:
        return question

    app = helper_app(streamify(program), ndjson=True)
    async with served(app) as base, aiohttp.ClientSession() as client:
        response = await client.get(f"{base}/stream", params={"question": "q"})
        body = await asyncio.wait_for(response.text(), WAIT)
    assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert [json.loads(line)["type"] for line in body.splitlines()] == ["prediction", "done"]


@pytest.mark.parametrize("handler_cancellation", [False, True])
async def test_aiohttp_response_stops_the_program_promptly_when_the_client_disconnects(
    handler_cancellation: bool,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    problems = LoopProblems()
    producer = Producer()
    app = helper_app(streamify(producer))
    app.middlewares.append(producer.middleware())
    with caplog.at_level(logging.DEBUG), garbage_collector_off():
        async with served(app, handler_cancellation=handler_cancellation) as base:
            await disconnect_when_the_network_is_full(base, producer)
            await asyncio.wait_for(producer.stopped.wait(), WAIT)
    assert producer.how == ["cancelled"]
    assert errors_logged(caplog) == []
    problems.assert_none()
    assert "Traceback" not in capfd.readouterr().err


async def test_aiohttp_response_notices_a_client_that_left_during_a_silent_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, stopped = asyncio.Event(), asyncio.Event()

    async def quiet(question: str) -> None:
        try:
            await emit({"started": question})
            started.set()
            await asyncio.Event().wait()  # silent forever: only a keepalive write can tell
        finally:
            stopped.set()

    with caplog.at_level(logging.DEBUG):
        async with served(helper_app(streamify(quiet), keepalive=0.05)) as base:
            async with aiohttp.ClientSession() as client:
                response = await client.get(f"{base}/stream", params={"question": "q"})
                first = await asyncio.wait_for(response.content.readany(), WAIT)
                await asyncio.wait_for(started.wait(), WAIT)
                response.close()
            await asyncio.wait_for(stopped.wait(), WAIT)
    assert b'"started"' in first
    assert errors_logged(caplog) == []
