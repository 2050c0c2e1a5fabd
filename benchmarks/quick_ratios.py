"""Quick check of the core's per-item costs against raw baselines measured in the same run.

    python benchmarks/quick_ratios.py [--n 20000] [--repeats 7]

Prints one line per goal of the core: the streamify figure, the baseline, their ratio and
whether the goal is met.  Medians over repeats; every case is run in this one process, one
after the other, so they share the machine's state.  The full suite is ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamify
from streamify import emit, emit_sync, tool
from streamify import streamify as wrap

if TYPE_CHECKING:
    from collections.abc import Awaitable


# ---------------------------------------------------------------------------- baselines
async def raw_queue(n: int) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue(16)

    async def producer() -> None:
        for i in range(n):
            await queue.put(i)

    start = time.perf_counter()
    task = asyncio.ensure_future(producer())
    for _ in range(n):
        await queue.get()
    await task
    return (time.perf_counter() - start) / n


async def raw_threadsafe(n: int) -> float:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[int] = asyncio.Queue()

    def producer() -> None:
        put = queue.put_nowait
        call = loop.call_soon_threadsafe
        for i in range(n):
            call(put, i)

    start = time.perf_counter()
    thread = threading.Thread(target=producer)
    thread.start()
    for _ in range(n):
        await queue.get()
    thread.join()
    return (time.perf_counter() - start) / n


# ---------------------------------------------------------------------------- streamify paths
async def async_emit(n: int) -> float:
    async def program() -> int:
        for i in range(n):
            await emit(i)
        return n

    start = time.perf_counter()
    async for _ in wrap(program)():
        pass
    return (time.perf_counter() - start) / n


async def thread_emit(n: int) -> float:
    def program() -> int:
        for i in range(n):
            emit_sync(i)
        return n

    start = time.perf_counter()
    async for _ in wrap(program)():
        pass
    return (time.perf_counter() - start) / n


@tool
def lookup(i: int) -> int:
    return i


async def async_status(n: int) -> float:
    async def program() -> int:
        for i in range(n // 2):
            lookup(i)
        return n

    start = time.perf_counter()
    count = 0
    async for _ in wrap(program)():
        count += 1
    return (time.perf_counter() - start) / (count - 1)


async def sync_status(n: int) -> float:
    def program() -> int:
        for i in range(n // 2):
            lookup(i)
        return n

    start = time.perf_counter()
    count = 0
    async for _ in wrap(program)():
        count += 1
    return (time.perf_counter() - start) / (count - 1)


async def first_status(n: int) -> float:
    """Median time from the call to the first status message of a sync program."""

    def program() -> int:
        lookup(0)
        return 0

    stream = wrap(program)
    samples = []
    for _ in range(max(50, n // 200)):
        start = time.perf_counter()
        agen = stream()
        await agen.__anext__()
        samples.append(time.perf_counter() - start)
        await agen.aclose()
    return statistics.median(samples)


def measure(case: Callable[[int], Awaitable[float]], n: int, repeats: int) -> float:
    async def runner() -> list[float]:
        await case(max(100, n // 10))  # warm-up
        return [await case(n) for _ in range(repeats)]

    return statistics.median(asyncio.run(runner()))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    n, repeats = args.n, args.repeats
    queue = measure(raw_queue, n, repeats)
    threadsafe = measure(raw_threadsafe, n, repeats)
    figures = {
        "raw asyncio.Queue(16) per item": queue,
        "raw call_soon_threadsafe per item": threadsafe,
        "async emit -> async consumer": measure(async_emit, n, repeats),
        "emit_sync from worker thread": measure(thread_emit, n, repeats),
        "status message, async program": measure(async_status, n, repeats),
        "status message, sync program": measure(sync_status, n, repeats),
        "first status message, sync program": measure(first_status, n, repeats),
    }
    goals = [
        ("async emit -> async consumer", queue, "raw Queue", 1.0),
        ("emit_sync from worker thread", threadsafe, "raw threadsafe", 0.8),
        ("status message, async program", queue, "raw Queue", 3.0),
        ("status message, sync program", 540e-6 / 50, "DSPy 540 us / 50", 1.0),
        ("first status message, sync program", 500e-6 / 5, "DSPy 500 us / 5", 1.0),
    ]
    print(f"streamify {streamify.__version__}, Python {sys.version.split()[0]}, n={n}")
    print(f"{'case':40} {'us/item':>9} {'vs':>18} {'ratio':>7} {'goal':>6}  verdict")
    for name, value in figures.items():
        if name.startswith("raw"):
            print(f"{name:40} {value * 1e6:9.3f}")
    for name, base, base_name, goal in goals:
        ratio = figures[name] / base
        verdict = "met" if ratio <= goal else "SHORT"
        print(
            f"{name:40} {figures[name] * 1e6:9.3f} {base_name:>18} {ratio:7.2f} "
            f"{'<=' + str(goal):>6}  {verdict}"
        )
    return figures


if __name__ == "__main__":
    main()
