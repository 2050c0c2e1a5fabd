"""How the cases time things: medians over repeats, percentiles, one long-lived event loop.

Throughput (``throughput``): ``run_once(n)`` streams ``n`` items and returns the elapsed
time.  A calibration run (also the warm-up) picks ``n`` so that one repeat takes about
``target_s``; then ``repeats`` runs give as many per-item times.

Latency (``latency``): the producer stamps ``time.perf_counter()`` into each item right
before it emits it; the consumer notes the delay when the item arrives, then busy-waits
``work_us`` (CPU work holding the GIL, as encoding a chunk for a client would), so the
consumer is slower than the producer and the buffer stays full.  Each repeat gives a p50 and
a p99 over all the items of one stream.

Times are in seconds, memory in bytes.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import math
import statistics
import time
from typing import Any, Callable, TypeVar

perf = time.perf_counter
Result = dict[str, Any]
T = TypeVar("T")


def summarize(samples: list[float]) -> Result:
    """Median and spread of repeated measurements."""
    ordered = sorted(samples)
    median = statistics.median(ordered)
    return {"median": median, "min": ordered[0], "max": ordered[-1], "repeats": len(ordered)}


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def busy_wait(seconds: float) -> None:
    """The slow consumer's work per item: spin on the clock (holds the GIL)."""
    end = perf() + seconds
    while perf() < end:
        pass


def throughput(run_once: Callable[[int], float], settings: Result) -> Result:
    """Seconds per item over ``settings["repeats"]`` calibrated runs (see the docstring)."""
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
    return {**summarize(per_item), "items_per_repeat": n}


def latency(run_once: Callable[[int], list[float]], settings: Result, buffer_size: int) -> Result:
    """p50/p99/max of emit-to-arrival delays with a slow consumer, medians over repeats."""
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
    return {"p50": summarize(p50s), "p99": summarize(p99s), "max": summarize(maxima), "items": n}


def on_loop(make: Callable[[int], Any]) -> tuple[Callable[[int], Any], Callable[[], None]]:
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


def timed(pair: tuple[Callable[[int], Any], Callable[[], None]], measure: Callable[..., T]) -> T:
    """``measure(run_once)`` for a ``(run_once, close)`` pair, closing it afterwards."""
    run_once, close = pair
    try:
        return measure(run_once)
    finally:
        close()


def loop_throughput(make: Callable[[int], Any], settings: Result) -> Result:
    """``throughput`` of an async ``make(n) -> seconds`` on one event loop."""
    return timed(on_loop(make), lambda run_once: throughput(run_once, settings))


def interleaved_samples(
    variants: dict[str, Callable[[], float]], rounds: int
) -> dict[str, list[float]]:
    """Each variant's samples (a call returns seconds per unit), the variants taking turns
    round by round after one warm-up call each, so that a busy spell slows them alike."""
    for call in variants.values():
        call()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, call in variants.items():
            samples[name].append(call())
    return samples


def interleaved(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """The median of each variant's :func:`interleaved_samples`."""
    samples = interleaved_samples(variants, rounds)
    return {name: statistics.median(values) for name, values in samples.items()}


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median of the per-round ratios ``a[i] / b[i]``: when ``a`` runs right after ``b``, a
    change of the machine's speed between rounds (this VM has fast and slow spells of a few
    seconds each) cancels out, where a ratio of the two medians would swing with it."""
    return statistics.median(x / y for x, y in zip(a, b))


def optional(module: str) -> Any:
    """``module`` imported, or ``None`` when it is not installed (an optional peer)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def not_installed(*names: str) -> Result:
    """What a case records when an optional peer is missing: never an error."""
    return {"status": "not installed", "package": ", ".join(names)}
