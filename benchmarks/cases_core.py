"""The core cases: raw baselines, the channel paths by ``buffer_size``, status messages,
time to the first status message, and memory.  See ``_measure.py`` for how they time.

These measure what the suite has measured since its first version, the same way (program
shape, timing method, warm-up), so that a figure can be compared with an earlier run's.
"""

from __future__ import annotations

import asyncio
import gc
import queue
import threading
import tracemalloc
from typing import Any, Callable

from _measure import (
    Result,
    busy_wait,
    latency,
    loop_throughput,
    on_loop,
    percentile,
    perf,
    throughput,
    timed,
)

from streamify import apply_sync_streaming, emit, emit_sync, tool
from streamify import streamify as wrap

SYNC_CONSUMERS = ("async_to_sync", "async_to_sync_apply")


# ---------------------------------------------------------------------------- programs
async def _async_counter(n: int) -> int:
    for i in range(n):
        await emit(i)
    return n


def _sync_counter(n: int) -> int:
    for i in range(n):
        emit_sync(i)
    return n


async def _async_stamper(n: int) -> int:
    for _ in range(n):
        await emit(perf())
    return n


def _sync_stamper(n: int) -> int:
    for _ in range(n):
        emit_sync(perf())
    return n


@tool
def lookup(i: int) -> int:
    """A sync tool: each call yields two status messages (start and end)."""
    return i


@tool
async def alookup(i: int) -> int:
    """The same tool, async."""
    return i


async def _async_status_program(calls: int) -> int:
    for i in range(calls):
        lookup(i)
    return calls


async def _async_status_program_async_tool(calls: int) -> int:
    for i in range(calls):
        await alookup(i)
    return calls


def _sync_status_program(calls: int) -> int:
    for i in range(calls):
        lookup(i)
    return calls


# ---------------------------------------------------------------------------- channel paths
def _stream_of(path: str, stamping: bool, buffer_size: int) -> Callable[[int], Any]:
    """The streamified program of ``path``, counting items or stamping them (latency):
    ``async_to_async``: ``await emit(i)`` -> ``async for``; ``thread_to_async``: a sync program
    in a worker thread, ``emit_sync(i)`` -> ``async for``; ``async_to_sync``: ``await emit(i)``
    -> ``async_streaming=False``; ``async_to_sync_apply``: -> ``apply_sync_streaming``."""
    if path == "thread_to_async":
        return wrap(_sync_stamper if stamping else _sync_counter, buffer_size=buffer_size)
    program = _async_stamper if stamping else _async_counter
    if path == "async_to_sync":
        return wrap(program, async_streaming=False, buffer_size=buffer_size)
    if path == "async_to_sync_apply":
        inner = wrap(program, buffer_size=buffer_size)
        return lambda n: apply_sync_streaming(inner(n), buffer_size=buffer_size)
    return wrap(program, buffer_size=buffer_size)


def _count_run(path: str, buffer_size: int) -> Any:
    """``(run_once, close)``: drain ``n`` items with a fast consumer, return the seconds."""
    stream = _stream_of(path, False, buffer_size)
    if path in SYNC_CONSUMERS:

        def run_sync(n: int) -> float:
            start = perf()
            for _ in stream(n):
                pass
            return perf() - start

        return run_sync, lambda: None

    async def run_async(n: int) -> float:
        start = perf()
        async for _ in stream(n):
            pass
        return perf() - start

    return on_loop(run_async)


def _stamp_run(path: str, buffer_size: int, work: float) -> Any:
    """``(run_once, close)``: the emit-to-arrival delays with a consumer busy-waiting ``work``."""
    stream = _stream_of(path, True, buffer_size)
    if path in SYNC_CONSUMERS:

        def run_sync(n: int) -> list[float]:
            delays = []
            for item in stream(n):
                if type(item) is float:
                    delays.append(perf() - item)
                    busy_wait(work)
            return delays

        return run_sync, lambda: None

    async def run_async(n: int) -> list[float]:
        delays = []
        async for item in stream(n):
            if type(item) is float:
                delays.append(perf() - item)
                busy_wait(work)
        return delays

    return on_loop(run_async)


def case_channel(params: Result, settings: Result) -> Result:
    """One channel path at one buffer size: throughput (fast consumer) and latency (slow)."""
    path, size = params["path"], params["buffer_size"]
    return {
        "path": path,
        "buffer_size": size,
        "throughput": timed(_count_run(path, size), lambda run: throughput(run, settings)),
        "latency": timed(
            _stamp_run(path, size, settings["work_us"] * 1e-6),
            lambda run: latency(run, settings, size),
        ),
    }


# ---------------------------------------------------------------------------- raw baselines
def case_raw_async_generator(params: Result, settings: Result) -> Result:
    """The CPython limit: an async generator consumed by ``async for``."""

    async def numbers(n: int) -> Any:
        for i in range(n):
            yield i

    async def run(n: int) -> float:
        start = perf()
        async for _ in numbers(n):
            pass
        return perf() - start

    return {"throughput": loop_throughput(run, settings)}


def case_raw_asyncio_queue(params: Result, settings: Result) -> Result:
    """A producer task and a consumer on one ``asyncio.Queue(buffer_size)``."""
    buffer_size = params["buffer_size"]

    async def run(n: int) -> float:
        q: asyncio.Queue[int] = asyncio.Queue(buffer_size)

        async def producer() -> None:
            put = q.put
            for i in range(n):
                await put(i)

        start = perf()
        task = asyncio.ensure_future(producer())
        get = q.get
        for _ in range(n):
            await get()
        await task
        return perf() - start

    return {"buffer_size": buffer_size, "throughput": loop_throughput(run, settings)}


def case_raw_call_soon_threadsafe(params: Result, settings: Result) -> Result:
    """A thread hands each item to the loop with its own ``loop.call_soon_threadsafe``."""

    async def run(n: int) -> float:
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[int] = asyncio.Queue()

        def producer() -> None:
            put = q.put_nowait
            call = loop.call_soon_threadsafe
            for i in range(n):
                call(put, i)

        start = perf()
        thread = threading.Thread(target=producer)
        thread.start()
        get = q.get
        for _ in range(n):
            await get()
        thread.join()
        return perf() - start

    return {"throughput": loop_throughput(run, settings), "bounded": False}


def case_raw_thread_queue(params: Result, settings: Result) -> Result:
    """``queue.Queue(buffer_size)`` from a producer thread to the main thread."""
    buffer_size = params["buffer_size"]

    def run(n: int) -> float:
        q: queue.Queue[int] = queue.Queue(buffer_size)

        def producer() -> None:
            put = q.put
            for i in range(n):
                put(i)

        start = perf()
        thread = threading.Thread(target=producer)
        thread.start()
        get = q.get
        for _ in range(n):
            get()
        thread.join()
        return perf() - start

    return {"buffer_size": buffer_size, "throughput": throughput(run, settings)}


# ---------------------------------------------------------------------------- status messages
_STATUS_PROGRAMS: dict[str, Callable[[int], Any]] = {
    "sync": _sync_status_program,
    "async": _async_status_program,
    "async_tool": _async_status_program_async_tool,
}


def case_status(params: Result, settings: Result) -> Result:
    """Cost per status message: a ``@tool`` called in a loop (2 messages per call)."""
    program_kind, buffer_size = params["program"], 16
    stream = wrap(_STATUS_PROGRAMS[program_kind], buffer_size=buffer_size)

    async def run(messages: int) -> float:
        start = perf()
        async for _ in stream(messages // 2):
            pass
        return perf() - start

    figures = loop_throughput(run, settings)  # seconds per status message
    return {"program": program_kind, "buffer_size": buffer_size, "throughput": figures}


class _RoundTrip:
    """The floor under any first item of a sync program: a raw loop -> thread -> loop round
    trip (a job handed to a waiting thread, answered with ``call_soon_threadsafe``)."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._answer, daemon=True)
        self.thread.start()

    def _answer(self) -> None:
        while (job := self.jobs.get()) is not None:
            job[0].call_soon_threadsafe(job[1].set_result, None)

    async def __call__(self) -> float:
        loop = asyncio.get_running_loop()
        start = perf()
        future = loop.create_future()
        self.jobs.put((loop, future))
        await future
        return perf() - start

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()


def _spread(samples: list[float]) -> Result:
    ordered = sorted(samples)
    return {"p50": percentile(ordered, 50), "p99": percentile(ordered, 99), "min": ordered[0]}


def case_first_item(params: Result, settings: Result) -> Result:
    """Short streams in a row on one loop (a server): time to the first status message.

    The program is sync (it runs in a worker thread) and calls a ``@tool`` ``calls`` times,
    so each stream carries ``2 * calls`` status messages and the ``Prediction``.  Buffer sizes
    take turns, stream after stream, so that they share the machine's state, and a raw
    round trip (``_RoundTrip``) is timed between the streams.
    """
    sizes, calls = settings["buffer_sizes"], 4
    streams = {size: wrap(_sync_status_program, buffer_size=size) for size in sizes}
    first: dict[int, list[float]] = {size: [] for size in sizes}
    whole: dict[int, list[float]] = {size: [] for size in sizes}
    raw: list[float] = []
    round_trip = _RoundTrip()

    async def one(size: int) -> tuple[float, float]:
        start = perf()
        agen = streams[size](calls)
        await agen.__anext__()
        got_first = perf()
        async for _ in agen:
            pass
        return got_first - start, perf() - start

    async def main() -> None:
        for _ in range(settings["first_item_warmup"]):
            for size in sizes:
                await one(size)
            await round_trip()
        for _ in range(settings["first_item_rounds"]):
            for size in sizes:
                a, b = await one(size)
                first[size].append(a)
                whole[size].append(b)
            raw.append(await round_trip())

    try:
        asyncio.run(main())
    finally:
        round_trip.close()
    per_size = [{"buffer_size": size, "first_item": _spread(first[size]),
                 "whole_stream": _spread(whole[size]), "streams": len(first[size])}
                for size in sizes]  # fmt: skip
    return {"calls": calls, "per_buffer_size": per_size, "raw_thread_round_trip": _spread(raw)}


# ---------------------------------------------------------------------------- memory
def _memory_run(path: str, buffer_size: int, work: float) -> Any:
    stream = _stream_of(path, False, buffer_size)
    if path in SYNC_CONSUMERS:

        def run_sync(n: int) -> None:
            for _ in stream(n):
                busy_wait(work)

        return run_sync, lambda: None

    async def run_async(n: int) -> None:
        async for _ in stream(n):
            busy_wait(work)

    return on_loop(run_async)


def _peaks(run_once: Callable[[int], Any], lengths: list[int], buffer_size: int) -> list[Result]:
    """tracemalloc's peak above the memory before each stream, one stream per length."""
    run_once(1000)  # warm-up: worker threads, first-call allocations
    runs = []
    for n in lengths:
        gc.collect()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        start = perf()
        run_once(n)
        elapsed = perf() - start
        current, peak = tracemalloc.get_traced_memory()
        runs.append(
            {
                "items": n,
                "buffer_size": buffer_size,
                "peak_bytes": peak - before,
                "retained_bytes": current - before,
                "seconds": elapsed,
            }
        )
    return runs


def case_memory(params: Result, settings: Result) -> Result:
    """tracemalloc peak (all threads) while streaming to a slow consumer: flat in the
    stream's length, growing with ``buffer_size`` only."""
    path, work = params["path"], settings["memory_work_us"] * 1e-6

    def peaks(size: int, lengths: list[int]) -> list[Result]:
        return timed(_memory_run(path, size, work), lambda run: _peaks(run, lengths, size))

    tracemalloc.start()
    try:
        flat = peaks(16, settings["memory_flat_items"])
        lengths = [settings["memory_per_size_items"]]
        per_size = [peaks(size, lengths)[0] for size in settings["buffer_sizes"]]
    finally:
        tracemalloc.stop()
    return {"path": path, "flat": {"buffer_size": 16, "runs": flat}, "per_buffer_size": per_size}
