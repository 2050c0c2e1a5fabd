"""The benchmark cases.  Each one runs in a process of its own, started by ``run.py``.

``python benchmarks/run.py --case NAME --params JSON`` imports this module, calls
``run_case(NAME, params)`` and prints the returned dict as one JSON line.  A case measures
one thing (a baseline, or one streamify path at one ``buffer_size``) with warm-up and
repeats, and returns the raw figures plus their median and spread; every time is in seconds,
every memory figure in bytes.

How a throughput figure is made (``_throughput``): the case's ``run_once(n)`` streams ``n``
items and returns the elapsed time.  A calibration run (also the warm-up) picks ``n`` so that
one repeat takes about ``target_s``; then ``repeats`` runs give as many per-item times.
Async cases run every repeat in one event loop, as a server would.

How a latency figure is made (``_latency``): the producer stamps ``time.perf_counter()`` into
each item right before it emits it; the consumer notes the delay when the item arrives and
then busy-waits ``work_us`` microseconds (CPU work that holds the GIL, as encoding a chunk for
a client would), so the consumer is slower than the producer and the buffer stays full.  Each
repeat gives a p50 and a p99 over all the items of one stream.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import math
import queue
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streamify import apply_sync_streaming, emit, emit_sync, tool  # noqa: E402
from streamify import streamify as wrap  # noqa: E402

perf = time.perf_counter

Params = dict[str, Any]
Result = dict[str, Any]

# The channel paths of the buffer-size matrix: name -> (producer kind, consumer kind).
PATHS = {
    "async_to_async": "async program `await emit(i)` -> `async for` consumer",
    "thread_to_async": "sync program in a worker thread `emit_sync(i)` -> `async for` consumer",
    "async_to_sync": "async program `await emit(i)` -> `streamify(..., async_streaming=False)`",
    "async_to_sync_apply": "async program `await emit(i)` -> `apply_sync_streaming(stream)`",
}


# ---------------------------------------------------------------------------- statistics
def summarize(samples: list[float]) -> Result:
    """Median and spread (min, max, quartiles) of repeated measurements."""
    ordered = sorted(samples)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": q1,
        "q3": q3,
        "repeats": len(ordered),
    }


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def busy_wait(seconds: float) -> None:
    """The slow consumer's work per item: spin on the clock (holds the GIL)."""
    end = perf() + seconds
    while perf() < end:
        pass


def _throughput(run_once: Callable[[int], float], settings: Params) -> Result:
    target = settings["target_s"]
    n_max = settings["n_max"]
    n = 1000
    elapsed = run_once(n)  # warm-up: pools, caches, first-call costs
    while elapsed < target / 8 and n < n_max:
        n *= 4
        elapsed = run_once(n)
    n = max(settings["n_min"], min(n_max, int(n * target / max(elapsed, 1e-9))))
    gc.collect()
    per_item = [run_once(n) / n for _ in range(settings["repeats"])]
    out = summarize(per_item)
    out["items_per_repeat"] = n
    out["unit"] = "seconds per item"
    return out


def _latency(run_once: Callable[[int], list[float]], settings: Params, buffer_size: int) -> Result:
    n = max(settings["latency_items"], 4 * buffer_size)
    run_once(min(n, 1000))  # warm-up
    p50s: list[float] = []
    p99s: list[float] = []
    maxima: list[float] = []
    for _ in range(settings["latency_repeats"]):
        gc.collect()
        delays = sorted(run_once(n))
        p50s.append(percentile(delays, 50))
        p99s.append(percentile(delays, 99))
        maxima.append(delays[-1])
    return {
        "p50": summarize(p50s),
        "p99": summarize(p99s),
        "max": summarize(maxima),
        "items_per_repeat": n,
        "consumer_work_us": settings["work_us"],
        "consumer_work": "busy-wait on time.perf_counter() (holds the GIL)",
        "unit": "seconds from emit to arrival",
    }


def _on_loop(make: Callable[[int], Any]) -> tuple[Callable[[int], Any], Callable[[], None]]:
    """``run_once`` for an async case: every call runs on one long-lived event loop."""
    loop = asyncio.new_event_loop()

    def run_once(n: int) -> Any:
        return loop.run_until_complete(make(n))

    def close() -> None:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    return run_once, close


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


# ---------------------------------------------------------------------------- streamify paths
def _stream_of(path: str, program_kind: str, buffer_size: int) -> Callable[[int], Any]:
    """The streamified program of ``path``: counting items, or stamping them (latency)."""
    stamping = program_kind == "stamp"
    if path == "thread_to_async":
        return wrap(_sync_stamper if stamping else _sync_counter, buffer_size=buffer_size)
    program = _async_stamper if stamping else _async_counter
    if path == "async_to_sync":
        return wrap(program, async_streaming=False, buffer_size=buffer_size)
    if path == "async_to_sync_apply":
        inner = wrap(program, buffer_size=buffer_size)
        return lambda n: apply_sync_streaming(inner(n), buffer_size=buffer_size)
    if path == "async_to_async":
        return wrap(program, buffer_size=buffer_size)
    raise ValueError(f"unknown path {path!r}; choose one of {sorted(PATHS)}")


def _is_sync_consumer(path: str) -> bool:
    return path in ("async_to_sync", "async_to_sync_apply")


def _count_run(path: str, buffer_size: int) -> tuple[Callable[[int], float], Callable[[], None]]:
    stream = _stream_of(path, "count", buffer_size)
    if _is_sync_consumer(path):

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

    return _on_loop(run_async)


def _stamp_run(
    path: str, buffer_size: int, work: float
) -> tuple[Callable[[int], list[float]], Callable[[], None]]:
    stream = _stream_of(path, "stamp", buffer_size)
    if _is_sync_consumer(path):

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

    return _on_loop(run_async)


def case_channel(params: Params, settings: Params) -> Result:
    """One channel path at one buffer size: throughput (fast consumer) and latency (slow)."""
    path, buffer_size = params["path"], params["buffer_size"]
    run_once, close = _count_run(path, buffer_size)
    try:
        throughput = _throughput(run_once, settings)
    finally:
        close()
    stamp_once, close = _stamp_run(path, buffer_size, settings["work_us"] * 1e-6)
    try:
        latency = _latency(stamp_once, settings, buffer_size)
    finally:
        close()
    return {
        "path": path,
        "description": PATHS[path],
        "buffer_size": buffer_size,
        "throughput": throughput,
        "latency": latency,
    }


# ---------------------------------------------------------------------------- raw baselines
def case_raw_async_generator(params: Params, settings: Params) -> Result:
    """The CPython limit: an async generator consumed by ``async for``."""

    async def numbers(n: int) -> Any:
        for i in range(n):
            yield i

    async def run(n: int) -> float:
        start = perf()
        async for _ in numbers(n):
            pass
        return perf() - start

    run_once, close = _on_loop(run)
    try:
        return {"throughput": _throughput(run_once, settings)}
    finally:
        close()


def case_raw_asyncio_queue(params: Params, settings: Params) -> Result:
    """A producer task and a consumer on one ``asyncio.Queue(buffer_size)``."""
    buffer_size = params["buffer_size"]
    work = settings["work_us"] * 1e-6

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

    async def stamped(n: int) -> list[float]:
        q: asyncio.Queue[float] = asyncio.Queue(buffer_size)

        async def producer() -> None:
            for _ in range(n):
                await q.put(perf())

        task = asyncio.ensure_future(producer())
        delays = []
        for _ in range(n):
            item = await q.get()
            delays.append(perf() - item)
            busy_wait(work)
        await task
        return delays

    run_once, close = _on_loop(run)
    try:
        throughput = _throughput(run_once, settings)
    finally:
        close()
    stamp_once, close = _on_loop(stamped)
    try:
        latency = _latency(stamp_once, settings, buffer_size)
    finally:
        close()
    return {"buffer_size": buffer_size, "throughput": throughput, "latency": latency}


def case_raw_call_soon_threadsafe(params: Params, settings: Params) -> Result:
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

    run_once, close = _on_loop(run)
    try:
        return {"throughput": _throughput(run_once, settings), "bounded": False}
    finally:
        close()


def case_raw_thread_queue(params: Params, settings: Params) -> Result:
    """``queue.Queue(buffer_size)`` from a producer thread to the main thread."""
    buffer_size = params["buffer_size"]
    work = settings["work_us"] * 1e-6

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

    def stamped(n: int) -> list[float]:
        q: queue.Queue[float] = queue.Queue(buffer_size)

        def producer() -> None:
            for _ in range(n):
                q.put(perf())

        thread = threading.Thread(target=producer)
        thread.start()
        delays = []
        for _ in range(n):
            item = q.get()
            delays.append(perf() - item)
            busy_wait(work)
        thread.join()
        return delays

    return {
        "buffer_size": buffer_size,
        "throughput": _throughput(run, settings),
        "latency": _latency(stamped, settings, buffer_size),
    }


def _not_installed(name: str) -> Result:
    return {"status": "not installed", "package": name}


def case_anyio_memory_stream(params: Params, settings: Params) -> Result:
    """anyio memory object stream (async -> async), when anyio is installed."""
    try:
        import anyio
    except ImportError:
        return _not_installed("anyio")
    buffer_size = params["buffer_size"]

    async def run(n: int) -> float:
        streams: Any = anyio.create_memory_object_stream(buffer_size)
        send, receive = streams

        async def producer() -> None:
            async with send:
                for i in range(n):
                    await send.send(i)

        start = perf()
        task = asyncio.ensure_future(producer())
        async with receive:
            async for _ in receive:
                pass
        await task
        return perf() - start

    run_once, close = _on_loop(run)
    try:
        throughput = _throughput(run_once, settings)
    finally:
        close()
    return {
        "status": "measured",
        "version": _version("anyio"),
        "path": "async -> async",
        "buffer_size": buffer_size,
        "throughput": throughput,
    }


def _two_faced_queue(name: str, params: Params, settings: Params) -> Result:
    """janus / culsans (same API): ``sync_q.put`` in a thread -> ``await async_q.get()``."""
    try:
        library = importlib.import_module(name)
    except ImportError:
        return _not_installed(name)
    buffer_size = params["buffer_size"]

    async def run(n: int) -> float:
        q: Any = library.Queue(buffer_size)

        def producer() -> None:
            put = q.sync_q.put
            for i in range(n):
                put(i)

        start = perf()
        thread = threading.Thread(target=producer)
        thread.start()
        get = q.async_q.get
        for _ in range(n):
            await get()
        thread.join()
        elapsed = perf() - start
        q.close()
        wait_closed = getattr(q, "wait_closed", None)
        if wait_closed is not None:
            await wait_closed()
        return elapsed

    run_once, close = _on_loop(run)
    try:
        throughput = _throughput(run_once, settings)
    finally:
        close()
    return {
        "status": "measured",
        "version": _version(name),
        "path": "thread -> async",
        "buffer_size": buffer_size,
        "throughput": throughput,
    }


def case_janus(params: Params, settings: Params) -> Result:
    """janus.Queue, when installed."""
    return _two_faced_queue("janus", params, settings)


def case_culsans(params: Params, settings: Params) -> Result:
    """culsans.Queue, when installed."""
    return _two_faced_queue("culsans", params, settings)


def _version(distribution: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(distribution)
    except Exception:
        return None


# ---------------------------------------------------------------------------- status messages
_STATUS_PROGRAMS: dict[str, Callable[[int], Any]] = {
    "sync": _sync_status_program,
    "async": _async_status_program,
    "async_tool": _async_status_program_async_tool,
}


def case_status(params: Params, settings: Params) -> Result:
    """Cost per status message: a ``@tool`` called in a loop (2 messages per call)."""
    program_kind, buffer_size = params["program"], params["buffer_size"]
    stream = wrap(_STATUS_PROGRAMS[program_kind], buffer_size=buffer_size)

    async def run(messages: int) -> float:
        start = perf()
        async for _ in stream(messages // 2):
            pass
        return perf() - start

    run_once, close = _on_loop(run)
    try:
        throughput = _throughput(run_once, settings)
    finally:
        close()
    throughput["unit"] = "seconds per status message"
    return {
        "program": program_kind,
        "buffer_size": buffer_size,
        "messages_per_call": 2,
        "throughput": throughput,
    }


def case_first_item(params: Params, settings: Params) -> Result:
    """Short streams in a row on one loop (a server): time to the first status message.

    The program is sync (it runs in a worker thread) and calls a ``@tool`` ``calls`` times,
    so each stream carries ``2 * calls`` status messages and the ``Prediction``.  Buffer sizes
    take turns, stream after stream, so that they share the machine's state.
    """
    sizes: list[int] = params["buffer_sizes"]
    calls: int = params["calls"]
    rounds: int = settings["first_item_rounds"]
    streams = {size: wrap(_sync_status_program, buffer_size=size) for size in sizes}
    first: dict[int, list[float]] = {size: [] for size in sizes}
    whole: dict[int, list[float]] = {size: [] for size in sizes}

    async def one(size: int) -> tuple[float, float]:
        start = perf()
        agen = streams[size](calls)
        await agen.__anext__()
        got_first = perf()
        async for _ in agen:
            pass
        return got_first - start, perf() - start

    # The floor under any first item of a sync program: a raw loop -> thread -> loop round
    # trip (a job handed to a waiting thread, answered with call_soon_threadsafe), measured
    # between the streams so that both see the same machine state.
    jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def answer() -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            job[0].call_soon_threadsafe(job[1].set_result, None)

    raw_round_trip: list[float] = []

    async def round_trip() -> float:
        loop = asyncio.get_running_loop()
        start = perf()
        future = loop.create_future()
        jobs.put((loop, future))
        await future
        return perf() - start

    async def main() -> None:
        for _ in range(settings["first_item_warmup"]):
            for size in sizes:
                await one(size)
            await round_trip()
        for _ in range(rounds):
            for size in sizes:
                a, b = await one(size)
                first[size].append(a)
                whole[size].append(b)
            raw_round_trip.append(await round_trip())

    responder = threading.Thread(target=answer, daemon=True)
    responder.start()
    try:
        asyncio.run(main())
    finally:
        jobs.put(None)
        responder.join()
    raw = sorted(raw_round_trip)
    per_size = []
    for size in sizes:
        f, w = sorted(first[size]), sorted(whole[size])
        per_size.append(
            {
                "buffer_size": size,
                "first_item": {"p50": percentile(f, 50), "p99": percentile(f, 99), "min": f[0]},
                "whole_stream": {"p50": percentile(w, 50), "p99": percentile(w, 99), "min": w[0]},
                "streams": len(f),
            }
        )
    return {
        "program": "sync",
        "calls": calls,
        "status_messages_per_stream": 2 * calls,
        "per_buffer_size": per_size,
        "raw_thread_round_trip": {"p50": percentile(raw, 50), "p99": percentile(raw, 99)},
        "unit": "seconds from calling the stream",
    }


# ---------------------------------------------------------------------------- memory
def _memory_run(path: str, buffer_size: int, work: float) -> tuple[Callable[[int], Any], Any]:
    stream = _stream_of(path, "count", buffer_size)
    if _is_sync_consumer(path):

        def run_sync(n: int) -> None:
            for _ in stream(n):
                busy_wait(work)

        return run_sync, lambda: None

    async def run_async(n: int) -> None:
        async for _ in stream(n):
            busy_wait(work)

    return _on_loop(run_async)


def _traced_peak(run_once: Callable[[int], Any], n: int) -> Result:
    gc.collect()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    start = perf()
    run_once(n)
    elapsed = perf() - start
    current, peak = tracemalloc.get_traced_memory()
    return {
        "items": n,
        "peak_bytes": peak - before,
        "retained_bytes": current - before,
        "seconds": elapsed,
    }


def case_memory(params: Params, settings: Params) -> Result:
    """tracemalloc peak while streaming to a slow consumer: flat in the stream's length,
    growing with ``buffer_size`` only."""
    path = params["path"]
    work = settings["memory_work_us"] * 1e-6
    tracemalloc.start()
    try:
        flat = []
        run_once, close = _memory_run(path, params["flat_buffer_size"], work)
        try:
            run_once(1000)  # warm-up: worker threads, first-call allocations
            for n in params["flat_items"]:
                flat.append(_traced_peak(run_once, n))
        finally:
            close()
        per_size = []
        for size in params["buffer_sizes"]:
            run_once, close = _memory_run(path, size, work)
            try:
                run_once(1000)
                figure = _traced_peak(run_once, params["per_size_items"])
            finally:
                close()
            figure["buffer_size"] = size
            per_size.append(figure)
    finally:
        tracemalloc.stop()
    return {
        "path": path,
        "description": PATHS[path],
        "consumer_work_us": settings["memory_work_us"],
        "method": "tracemalloc peak above the traced memory before the stream, all threads",
        "flat": {"buffer_size": params["flat_buffer_size"], "runs": flat},
        "per_buffer_size": per_size,
    }


# ---------------------------------------------------------------------------- listener
LISTENER_BENCH = Path(__file__).resolve().parent / "bench_listener.py"


def case_listener(params: Params, settings: Params) -> Result:
    """HOOK: the token listener's own benchmark, ``benchmarks/bench_listener.py``.

    That file belongs to the listener's work; when it exists and exposes
    ``run(quick: bool) -> dict``, its dict is stored verbatim under ``results`` and
    ``run.py`` reads the per-chunk cost of each format from it.  Until then the case reports
    ``"not available"`` and the listener goal is shown as not measured.
    """
    if not LISTENER_BENCH.exists():
        return {"status": "not available", "reason": f"{LISTENER_BENCH.name} not found"}
    spec = importlib.util.spec_from_file_location("bench_listener", LISTENER_BENCH)
    if spec is None or spec.loader is None:
        return {"status": "not available", "reason": "bench_listener.py cannot be loaded"}
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_listener"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        return {"status": "not available", "reason": f"import failed: {exc!r}"}
    run = getattr(module, "run", None)
    if not callable(run):
        return {"status": "not available", "reason": "bench_listener.py has no run(quick)"}
    results = run(quick=bool(params["quick"]))
    return {"status": "measured", "results": results}


CASES: dict[str, Callable[[Params, Params], Result]] = {
    "channel": case_channel,
    "raw_async_generator": case_raw_async_generator,
    "raw_asyncio_queue": case_raw_asyncio_queue,
    "raw_call_soon_threadsafe": case_raw_call_soon_threadsafe,
    "raw_thread_queue": case_raw_thread_queue,
    "anyio_memory_stream": case_anyio_memory_stream,
    "janus": case_janus,
    "culsans": case_culsans,
    "status": case_status,
    "first_item": case_first_item,
    "memory": case_memory,
    "listener": case_listener,
}


def run_case(name: str, params: Params) -> Result:
    settings = params.pop("settings")
    return CASES[name](params, settings)
