"""What a run costs over a plain stream: per item, fan-out to 100 readers, memory per kept run.

Run ``python benchmarks/bench_runs.py`` (``--quick`` for fewer items and repeats, ``--json
FILE`` to write the figures).  Every figure is a median over the repeats, and every ratio is
against a baseline timed in the same process:

* ``memory``: a program of N ``emit`` calls started as a run on the in-memory log and read to
  its end by one reader, against the same program served by ``streaming_response`` (the plain
  stream, encoded as SSE): µs per item and the ratio;
* ``redis``: the same run on a Redis store (a ``redis-server`` started here, on loopback),
  against a pipelined ``XADD`` of the same frames alone in batches of 512 (the least a Redis
  log can cost): the goal is at most 3x;
* ``fanout``: the run read by 100 readers at once, µs per item per reader, on each store;
* ``kept``: bytes held per finished run of 100 items (``tracemalloc`` for the memory store,
  Redis ``used_memory`` for Redis).

``run(quick)`` returns the figures as a dict; ``print_report(result)`` prints them.  Without
``redis-server`` or the redis package the Redis figures are None.
"""

from __future__ import annotations

import argparse
import asyncio
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
import tracemalloc
from typing import Any, Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamify  # noqa: E402
from streamify import MemoryRunStore, Runs, RunStore, emit, streaming_response  # noqa: E402

GOAL_REDIS_RATIO = 3.0


async def _count(n: int) -> str:
    for i in range(n):
        await emit({"i": i, "text": "some token text"})
    return "ok"


counting = streamify.streamify(_count)


async def _plain(n: int) -> None:
    async for _ in streaming_response(counting(n)):
        pass


async def _run(store: RunStore, n: int, readers: int = 1) -> None:
    runs = Runs(store, max_events=max(10_000, n + 10))
    run_id = await runs.start(counting(n))

    async def read() -> None:
        async for _ in runs.events(run_id):
            pass

    await asyncio.gather(*(read() for _ in range(readers)))
    await runs.aclose()


async def _xadd_alone(url: str, n: int) -> None:
    import redis.asyncio as aioredis

    frames = [("item", streamify.encode_json({"type": "item", "data": {"i": i}})) for i in range(n)]
    client = aioredis.from_url(url)
    key = f"bench:{time.monotonic_ns()}"
    for start in range(0, n, 512):
        async with client.pipeline(transaction=False) as pipe:
            for kind, data in frames[start : start + 512]:
                pipe.xadd(key, {"t": kind, "d": data}, maxlen=n + 10, approximate=True)
            await pipe.execute()
    await client.delete(key)
    await client.aclose()


def _median_seconds(make: Callable[[], Any], repeats: int) -> float:
    asyncio.run(make())  # warm-up
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        asyncio.run(make())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _start_redis() -> Optional[tuple[subprocess.Popen[bytes], str, str]]:
    executable = shutil.which("redis-server")
    try:
        import redis  # noqa: F401
    except ImportError:
        return None
    if executable is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    directory = tempfile.mkdtemp(prefix="streamify-bench-redis-")
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", directory],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                return None
            time.sleep(0.02)
    return process, f"redis://127.0.0.1:{port}/0", directory


def _kept_memory(runs_kept: int) -> float:
    async def keep() -> MemoryRunStore:
        store = MemoryRunStore()
        runs = Runs(store)
        for _ in range(runs_kept):
            run_id = await runs.start(counting(100))
            async for _ in runs.events(run_id):
                pass
        await runs.aclose()
        return store

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = asyncio.run(keep())
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del store
    return (after - before) / runs_kept


def _kept_redis(url: str, runs_kept: int) -> float:
    import redis.asyncio as aioredis

    async def used() -> int:
        client = aioredis.from_url(url)
        info = await client.info("memory")
        await client.aclose()
        return int(info["used_memory"])

    async def keep() -> None:
        runs = Runs(streamify.RedisRunStore(url, prefix="bench-kept:"))
        for _ in range(runs_kept):
            run_id = await runs.start(counting(100))
            async for _ in runs.events(run_id):
                pass
        await runs.aclose()

    before = asyncio.run(used())
    asyncio.run(keep())
    return (asyncio.run(used()) - before) / runs_kept


def run(quick: bool = False) -> dict[str, Any]:
    """Every figure of the module docstring, as a dict (Redis figures None without Redis)."""
    n, repeats, kept = (2_000, 3, 50) if quick else (10_000, 7, 200)
    fan_n = n // 10
    result: dict[str, Any] = {"items": n, "repeats": repeats}
    plain = _median_seconds(lambda: _plain(n), repeats)
    memory = _median_seconds(lambda: _run(MemoryRunStore(), n), repeats)
    fan = _median_seconds(lambda: _run(MemoryRunStore(), fan_n, readers=100), repeats)
    result["memory"] = {
        "plain_us": plain / n * 1e6,
        "run_us": memory / n * 1e6,
        "ratio": memory / plain,
    }
    result["fanout"] = {"readers": 100, "items": fan_n, "memory_us": fan / fan_n / 100 * 1e6}
    result["kept"] = {"runs": kept, "memory_bytes": _kept_memory(kept)}
    result["redis"] = None
    started = _start_redis()
    if started is not None:
        process, url, directory = started
        try:
            alone = _median_seconds(lambda: _xadd_alone(url, n), repeats)
            redis_run = _median_seconds(
                lambda: _run(streamify.RedisRunStore(url, prefix="bench:"), n), repeats
            )
            redis_fan = _median_seconds(
                lambda: _run(streamify.RedisRunStore(url, prefix="bench-fan:"), fan_n, 100),
                repeats,
            )
            result["redis"] = {
                "xadd_us": alone / n * 1e6,
                "run_us": redis_run / n * 1e6,
                "ratio": redis_run / alone,
                "goal": GOAL_REDIS_RATIO,
            }
            result["fanout"]["redis_us"] = redis_fan / fan_n / 100 * 1e6
            result["kept"]["redis_bytes"] = _kept_redis(url, kept)
        finally:
            process.terminate()
            process.wait(timeout=10)
            shutil.rmtree(directory, ignore_errors=True)
    return result


def print_report(result: dict[str, Any]) -> None:
    """Print the figures of :func:`run`."""
    memory = result["memory"]
    print(f"runs, {result['items']} items, median of {result['repeats']}")
    print(
        f"  memory log: {memory['run_us']:.1f} µs/item vs plain stream "
        f"{memory['plain_us']:.1f} µs/item: {memory['ratio']:.2f}x"
    )
    redis = result["redis"]
    if redis is None:
        print("  redis: not measured (no redis-server or redis package)")
    else:
        print(
            f"  redis log: {redis['run_us']:.1f} µs/item vs pipelined XADD alone "
            f"{redis['xadd_us']:.1f} µs/item: {redis['ratio']:.2f}x (goal <= {redis['goal']}x)"
        )
    fan = result["fanout"]
    line = f"  fan-out to {fan['readers']} readers: memory {fan['memory_us']:.2f} µs/item/reader"
    if "redis_us" in fan:
        line += f", redis {fan['redis_us']:.2f} µs/item/reader"
    print(line)
    kept = result["kept"]
    line = f"  kept per finished run of 100 items: memory {kept['memory_bytes'] / 1024:.1f} KiB"
    if "redis_bytes" in kept:
        line += f", redis {kept['redis_bytes'] / 1024:.1f} KiB"
    print(line)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer items and repeats")
    parser.add_argument("--json", metavar="FILE", help="write the figures to FILE")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    print_report(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
