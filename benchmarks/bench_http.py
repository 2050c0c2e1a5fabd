"""What a frame costs: the response encoder with and without keepalive, and SSE over uvicorn.

Run ``python benchmarks/bench_http.py`` (``--quick`` for fewer and smaller repeats, ``--json
PATH`` to write the figures).  Two parts:

* ``encoder``: a streamified program emits ``items`` small dicts; the time to drain
  ``streaming_response`` / ``ndjson_response`` over its stream, per frame, without keepalive
  and with ``keepalive=15`` (the README's setting); also with keepalive over a plain async
  generator, which is stepped by a helper task.  The ratio ``keepalive / none`` is the cost of
  keepalive per frame (the goal is at most 1.2).  The runs alternate, medians over repeats.
* ``http``: a uvicorn server in a subprocess serves the same stream as SSE three ways: our
  ``streaming_response`` in Starlette's ``StreamingResponse`` (with and without keepalive),
  and ``sse-starlette``'s ``EventSourceResponse`` fed the same dicts (``{"data": <json>}``
  from ``encode_item``).  An httpx client reads each body; the figures are frames per second
  (median over repeats) and the time to the first byte of a one-item stream (median over
  requests); ``x sse-starlette`` is our throughput over sse-starlette's (the goal is 1.5).

Timing is reported, never asserted.  ``run(quick)`` returns the figures as a dict,
``print_report(result)`` prints them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from streamify import emit, encode_item, ndjson_response, streamify, streaming_response  # noqa: E402

KEEPALIVE = 15.0
GOAL_KEEPALIVE_RATIO = 1.2
GOAL_VS_SSE_STARLETTE = 1.5
MODES = {
    "quick": {"items": 5000, "repeats": 5, "http_items": 5000, "http_repeats": 3, "ttfb": 15},
    "full": {"items": 50_000, "repeats": 9, "http_items": 50_000, "http_repeats": 7, "ttfb": 50},
}


def _program(items: int) -> Callable[[], Any]:
    async def program() -> str:
        for index in range(items):
            await emit({"index": index, "text": "some tokens"})
        return "done"

    return streamify(program)


async def _plain(items: int) -> Any:
    for index in range(items):
        yield {"index": index, "text": "some tokens"}


async def _drain(frames: Any) -> None:
    async for _ in frames:
        pass


def _encoder_variants(items: int) -> dict[str, Callable[[], Any]]:
    ask = _program(items)
    return {
        "sse": lambda: streaming_response(ask()),
        "sse_keepalive": lambda: streaming_response(ask(), keepalive=KEEPALIVE),
        "sse_keepalive_plain_generator": lambda: streaming_response(
            _plain(items), keepalive=KEEPALIVE
        ),
        "sse_plain_generator": lambda: streaming_response(_plain(items)),
        "ndjson": lambda: ndjson_response(ask()),
        "ndjson_keepalive": lambda: ndjson_response(ask(), keepalive=KEEPALIVE),
    }


def encoder(items: int, repeats: int) -> dict[str, Any]:
    """Microseconds per frame for each variant, medians over alternating repeats."""
    variants = _encoder_variants(items)
    samples: dict[str, list[float]] = {name: [] for name in variants}

    async def measure() -> None:
        for make in variants.values():  # warm-up
            await _drain(make())
        for _ in range(repeats):
            for name, make in variants.items():
                start = time.perf_counter()
                await _drain(make())
                samples[name].append((time.perf_counter() - start) / items * 1e6)

    asyncio.run(measure())
    us = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "items": items,
        "repeats": repeats,
        "us_per_frame": us,
        "ratios": {
            "sse_keepalive_vs_none": us["sse_keepalive"] / us["sse"],
            "ndjson_keepalive_vs_none": us["ndjson_keepalive"] / us["ndjson"],
            "plain_generator_keepalive_vs_none": us["sse_keepalive_plain_generator"]
            / us["sse_plain_generator"],
        },
        "goal": f"keepalive / none <= {GOAL_KEEPALIVE_RATIO} (streamify streams)",
    }


# -- over HTTP -------------------------------------------------------------------------------


def make_app() -> Any:
    """The benchmark server: ``/streamify``, ``/streamify-keepalive``, ``/sse-starlette``."""
    from sse_starlette.sse import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    def ask(request: Any) -> Any:
        return _program(int(request.query_params["items"]))()

    async def ours(request: Any) -> Any:
        frames = streaming_response(ask(request))
        return StreamingResponse(frames, media_type="text/event-stream")

    async def ours_keepalive(request: Any) -> Any:
        frames = streaming_response(ask(request), keepalive=KEEPALIVE)
        return StreamingResponse(frames, media_type="text/event-stream")

    async def theirs(request: Any) -> Any:
        async def dicts() -> Any:
            async for item in ask(request):
                yield {"data": json.dumps(encode_item(item), separators=(",", ":"))}

        return EventSourceResponse(dicts(), ping=int(KEEPALIVE))

    return Starlette(
        routes=[
            Route("/streamify", ours),
            Route("/streamify-keepalive", ours_keepalive),
            Route("/sse-starlette", theirs),
        ]
    )


def _serve(port: int) -> None:
    import uvicorn

    uvicorn.run(make_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


class _Server:
    """The benchmark server in a subprocess (so that client and server do not share a GIL)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", str(self.port)], env=env
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the benchmark server did not start") from None
                time.sleep(0.05)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _get(client: Any, url: str) -> tuple[float, float, int]:
    """(seconds to the first byte, seconds in all, frames) of one response."""
    start = time.perf_counter()
    first = 0.0
    frames = 0
    tail = b""
    with client.stream("GET", url) as response:
        for chunk in response.iter_raw():
            if not first:
                first = time.perf_counter() - start
            data = tail + chunk  # sse-starlette ends lines with \r\n: count the data fields
            frames += data.count(b"data:")
            tail = data[-4:]  # too short to hold a whole "data:"
    return first, time.perf_counter() - start, frames


def http(items: int, repeats: int, ttfb_requests: int) -> dict[str, Any]:
    """Frames per second and time to first byte for each route, over uvicorn."""
    import httpx

    routes = ("streamify", "streamify-keepalive", "sse-starlette")
    server = _Server()
    throughput: dict[str, list[float]] = {route: [] for route in routes}
    ttfb: dict[str, list[float]] = {route: [] for route in routes}
    try:
        base = f"http://127.0.0.1:{server.port}"
        with httpx.Client(trust_env=False, timeout=60) as client:
            for route in routes:  # warm-up
                _get(client, f"{base}/{route}?items=100")
            for _ in range(repeats):
                for route in routes:
                    _, seconds, frames = _get(client, f"{base}/{route}?items={items}")
                    throughput[route].append(frames / seconds)
            for _ in range(ttfb_requests):
                for route in routes:
                    ttfb[route].append(_get(client, f"{base}/{route}?items=1")[0] * 1e3)
    finally:
        server.close()
    fps = {route: statistics.median(values) for route, values in throughput.items()}
    return {
        "items": items,
        "repeats": repeats,
        "frames_per_second": fps,
        "ttfb_ms": {route: statistics.median(values) for route, values in ttfb.items()},
        "ratios": {
            "streamify_vs_sse_starlette": fps["streamify"] / fps["sse-starlette"],
            "streamify_keepalive_vs_sse_starlette": fps["streamify-keepalive"]
            / fps["sse-starlette"],
        },
        "goal": f"streamify / sse-starlette >= {GOAL_VS_SSE_STARLETTE} frames per second",
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Both parts; see the module docstring.  Timing is never asserted."""
    settings = MODES["quick" if quick else "full"]
    result: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "encoder": encoder(settings["items"], settings["repeats"]),
    }
    try:
        result["http"] = http(settings["http_items"], settings["http_repeats"], settings["ttfb"])
    except ImportError as missing:  # uvicorn, starlette, httpx or sse-starlette
        result["http"] = {"error": f"{missing.name} is missing: pip install '.[web,dev]'"}
    return result


def print_report(result: dict[str, Any]) -> None:
    """Print the figures of :func:`run`."""
    enc = result["encoder"]
    print(f"encoder, {enc['items']} frames, median of {enc['repeats']} (us per frame)")
    for name, us in enc["us_per_frame"].items():
        print(f"  {name:32} {us:8.2f}")
    for name, ratio in enc["ratios"].items():
        print(f"  {name:32} {ratio:8.2f}x")
    print(f"  goal: {enc['goal']}")
    web = result["http"]
    if "error" in web:
        print(f"http: not run ({web['error']})")
        return
    print(f"SSE over uvicorn, {web['items']} frames, median of {web['repeats']}")
    for route, fps in web["frames_per_second"].items():
        ttfb = web["ttfb_ms"][route]
        print(f"  {route:22} {fps:10.0f} frames/s   first byte {ttfb:6.2f} ms")
    for name, ratio in web["ratios"].items():
        print(f"  {name:38} {ratio:6.2f}x")
    print(f"  goal: {web['goal']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer, smaller repeats")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve)
        return
    result = run(quick=args.quick)
    print_report(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
