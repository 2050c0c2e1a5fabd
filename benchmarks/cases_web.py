"""The serving cases: the SSE / NDJSON encoders per frame (with and without keepalive) and
per protocol, SSE over a real uvicorn against sse-starlette, and runs (memory and Redis logs).

``python benchmarks/cases_web.py PORT`` serves the HTTP case's app (run by the case itself, in
a process of its own, so that client and server do not share a GIL).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

from _measure import Result, interleaved_samples, not_installed, optional, paired_ratio, perf

import streamify
from streamify import MemoryRunStore, Runs, emit, encode_item, ndjson_response, streaming_response

KEEPALIVE = 15.0  # the serving guide's setting
PROTOCOLS = ("vercel-ui", "ag-ui", "openai-responses", "dspy")  # each against "streamify"


async def _items(n: int) -> str:
    for index in range(n):
        await emit({"index": index, "text": "some tokens"})
    return "done"


ask = streamify.streamify(_items)


async def _plain(n: int) -> Any:
    for index in range(n):
        yield {"index": index, "text": "some tokens"}


async def _hand_written(n: int) -> Any:
    """The raw baseline: what one would write without the encoder."""
    async for item in ask(n):
        yield f"data: {json.dumps(encode_item(item), separators=(',', ':'))}\n\n"


def _per_frame(loop: asyncio.AbstractEventLoop, make: Callable[[], Any], n: int) -> Any:
    async def drain() -> float:
        start = perf()
        async for _ in make():
            pass
        return (perf() - start) / n

    return lambda: loop.run_until_complete(drain())


def case_encoder(params: Result, settings: Result) -> Result:
    """Seconds per frame of each encoder variant and protocol over a streamified program
    emitting small dicts (``plain``: over a plain async generator, which keepalive steps in a
    helper task), taking turns; the raw baseline is a hand-written SSE loop.  The Responses
    protocol leaves custom items out unless ``extras=True``: it is measured with them."""
    n, rounds = settings["encoder_items"], settings["encoder_rounds"]
    makes: dict[str, Callable[[], Any]] = {
        "hand_written": lambda: _hand_written(n),
        "sse": lambda: streaming_response(ask(n)),
        "sse_keepalive": lambda: streaming_response(ask(n), keepalive=KEEPALIVE),
        "ndjson": lambda: ndjson_response(ask(n)),
        "ndjson_keepalive": lambda: ndjson_response(ask(n), keepalive=KEEPALIVE),
        "plain": lambda: streaming_response(_plain(n)),
        "plain_keepalive": lambda: streaming_response(_plain(n), keepalive=KEEPALIVE),
    }
    for name in PROTOCOLS:
        protocol: Any = streamify.OpenAIResponsesProtocol(extras=True) if "openai" in name else name
        makes[name] = functools.partial(lambda p: streaming_response(ask(n), protocol=p), protocol)
    loop = asyncio.new_event_loop()
    try:
        samples = interleaved_samples({k: _per_frame(loop, m, n) for k, m in makes.items()}, rounds)
    finally:
        loop.close()
    frame = {name: statistics.median(values) for name, values in samples.items()}
    # Each ratio pairs the runs of one round (a variant runs right after the one it is
    # compared with): see paired_ratio.
    pairs = {
        "sse_keepalive_vs_none": ("sse_keepalive", "sse"),
        "ndjson_keepalive_vs_none": ("ndjson_keepalive", "ndjson"),
        "plain_keepalive_vs_none": ("plain_keepalive", "plain"),
        "sse_vs_hand_written": ("sse", "hand_written"),
    }
    ratios = {key: paired_ratio(samples[a], samples[b]) for key, (a, b) in pairs.items()}
    for name in PROTOCOLS:
        ratios[f"{name}_vs_streamify"] = paired_ratio(samples[name], samples["sse"])
    return {"items": n, "seconds_per_frame": frame, "ratios": ratios}


# ---------------------------------------------------------------------------- over HTTP
def make_app() -> Any:
    """``/streamify``, ``/streamify-keepalive`` and ``/sse-starlette``: one stream three ways,
    the last being sse-starlette's ``EventSourceResponse`` fed the same dicts."""
    from sse_starlette.sse import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    def stream(request: Any) -> Any:
        return ask(int(request.query_params["items"]))

    async def ours(request: Any) -> Any:
        keepalive = KEEPALIVE if request.url.path.endswith("keepalive") else None
        frames = streaming_response(stream(request), keepalive=keepalive)
        return StreamingResponse(frames, media_type="text/event-stream")

    async def theirs(request: Any) -> Any:
        async def dicts() -> Any:
            async for item in stream(request):
                yield {"data": json.dumps(encode_item(item), separators=(",", ":"))}

        return EventSourceResponse(dicts(), ping=int(KEEPALIVE))

    routes = [Route("/streamify", ours), Route("/streamify-keepalive", ours)]
    return Starlette(routes=[*routes, Route("/sse-starlette", theirs)])


def _start(command: list[str], port: int) -> subprocess.Popen[bytes]:
    """``command`` started, once it accepts connections on ``port``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"{command[0]} did not start") from None
            time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get(client: Any, url: str) -> tuple[float, float, int]:
    """(seconds to the first byte, seconds in all, data frames) of one response."""
    start, first, frames, tail = perf(), 0.0, 0, b""
    with client.stream("GET", url) as response:
        for chunk in response.iter_raw():
            first = first or perf() - start
            data = tail + chunk  # sse-starlette ends lines with \r\n: count the data fields
            frames += data.count(b"data:")
            tail = data[-4:]  # too short to hold a whole "data:"
    return first, perf() - start, frames


def case_http(params: Result, settings: Result) -> Result:
    """Frames per second (median over repeats) and time to the first byte of a one-item
    stream (median over requests) per route, over uvicorn, read by an httpx client."""
    missing = [m for m in ("uvicorn", "httpx", "sse_starlette") if optional(m) is None]
    if missing:
        return not_installed(*missing)
    import httpx

    port = _free_port()
    server = _start([sys.executable, os.path.abspath(__file__), str(port)], port)
    routes = ("streamify", "streamify-keepalive", "sse-starlette")
    fps: dict[str, list[float]] = {route: [] for route in routes}
    ttfb: dict[str, list[float]] = {route: [] for route in routes}
    n = settings["http_items"]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=60) as c:
            for route in routes:  # warm-up
                _get(c, f"/{route}?items=100")
            for _ in range(settings["http_repeats"]):
                for route in routes:
                    _, seconds, frames = _get(c, f"/{route}?items={n}")
                    fps[route].append(frames / seconds)
            for _ in range(settings["ttfb_requests"]):
                for route in routes:
                    ttfb[route].append(_get(c, f"/{route}?items=1")[0])
    finally:
        server.terminate()
        server.wait(30)
    median = {route: statistics.median(values) for route, values in fps.items()}
    ratios = {f"{r}_vs_sse_starlette": median[r] / median["sse-starlette"] for r in routes[:2]}
    return {
        "items": n,
        "frames_per_second": median,
        "ttfb_s": {route: statistics.median(values) for route, values in ttfb.items()},
        "sse_starlette_version": optional("sse_starlette").__version__,
        "ratios": ratios,
    }


# ---------------------------------------------------------------------------- runs
async def _encoded(n: int) -> None:
    async for _ in streaming_response(ask(n)):
        pass


async def _run(store: Any, n: int, readers: int = 1) -> None:
    runs = Runs(store, max_events=max(10_000, n + 10))
    run_id = await runs.start(ask(n))

    async def read() -> None:
        async for _ in runs.events(run_id):
            pass

    await asyncio.gather(*(read() for _ in range(readers)))
    await runs.aclose()


async def _xadd_alone(url: str, n: int) -> None:
    """The least a Redis log can cost: the same frames, pipelined ``XADD`` in batches of 512."""
    import redis.asyncio as aioredis

    frames = [streamify.encode_json({"type": "item", "data": {"i": i}}) for i in range(n)]
    client = aioredis.from_url(url)
    key = f"bench:{time.monotonic_ns()}"
    for start in range(0, n, 512):
        async with client.pipeline(transaction=False) as pipe:
            for data in frames[start : start + 512]:
                pipe.xadd(key, {"t": "item", "d": data}, maxlen=n + 10, approximate=True)
            await pipe.execute()
    await client.delete(key)
    await client.aclose()


def _per_item(make: Callable[[], Any], repeats: int, n: int) -> float:
    """Median seconds per item of ``asyncio.run(make())``, after one warm-up run."""
    asyncio.run(make())
    times = []
    for _ in range(repeats):
        gc.collect()
        start = perf()
        asyncio.run(make())
        times.append((perf() - start) / n)
    return statistics.median(times)


def _redis(n: int, repeats: int, fan_n: int, readers: int) -> Result:
    executable = shutil.which("redis-server")
    if executable is None or optional("redis") is None:
        return not_installed("redis-server" if executable is None else "redis")
    port, directory = _free_port(), tempfile.mkdtemp(prefix="streamify-bench-redis-")
    options = f"--port {port} --bind 127.0.0.1 --appendonly no --dir {directory}".split()
    command = [executable, *options, "--save", ""]
    server, url = _start(command, port), f"redis://127.0.0.1:{port}/0"
    try:
        xadd = _per_item(lambda: _xadd_alone(url, n), repeats, n)
        log = _per_item(lambda: _run(streamify.RedisRunStore(url, prefix="b:"), n), repeats, n)
        fan = _per_item(
            lambda: _run(streamify.RedisRunStore(url, prefix="f:"), fan_n, readers), repeats, fan_n
        )
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(directory, ignore_errors=True)
    figures = {"xadd_s": xadd, "run_s": log, "ratio": log / xadd}
    return {"status": "measured", **figures, "fanout_s_per_reader": fan / readers}


def case_runs(params: Result, settings: Result) -> Result:
    """A run on the memory log read by one reader against the same stream encoded as SSE
    (the plain stream), fan-out to ``readers`` readers, and the same on Redis against a
    pipelined ``XADD`` of the same frames; seconds per item, medians over repeats."""
    n, repeats, readers = settings["runs_items"], settings["runs_repeats"], 100
    fan_n = n // 10
    plain = _per_item(lambda: _encoded(n), repeats, n)
    memory = _per_item(lambda: _run(MemoryRunStore(), n), repeats, n)
    fan = _per_item(lambda: _run(MemoryRunStore(), fan_n, readers), repeats, fan_n)
    figures = {"plain_s": plain, "run_s": memory, "ratio": memory / plain}
    memory_log = {**figures, "fanout_s_per_reader": fan / readers}
    return {"items": n, "memory": memory_log, "redis": _redis(n, repeats, fan_n, readers)}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
