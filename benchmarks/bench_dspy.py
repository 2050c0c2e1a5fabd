"""streamify side by side with DSPy's streaming, measured in the same run (DSPy optional).

    pip install dspy==3.4.1        # in a separate venv: it is never a dependency here
    python benchmarks/bench_dspy.py [--repeats 5]

Each figure is the median over repeats; the two libraries take turns within every repeat so
that they see the same machine state.  What is measured (per item or per message):

* status messages from a sync program: a module calling a tool in a loop, 2 messages per call;
* status messages from an async program: 8 sync tool calls per stream (DSPy 3.4.1 hangs from
  17 sync tool calls without an await in between, so the stream is kept below that);
* the first status message of a sync program, p50 over many short streams on one loop;
* the sync bridge: an async generator of plain items consumed from sync code
  (``apply_sync_streaming`` in both; DSPy's queue is unbounded, streamify's holds at most
  ``buffer_size`` = 16 items, which costs thread switches a fast producer never pays with an
  unbounded queue);
* a sync consumer of a sync program's status messages (``async_streaming=False`` in both).

Without DSPy installed it says so and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamify

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

perf = time.perf_counter


def _lookup(i: int) -> int:
    """Look a number up."""
    return i


# ---------------------------------------------------------------------------- streamify side
_sf_tool = streamify.tool(name="lookup")(_lookup)


def _sf_sync_program(n: int) -> int:
    for i in range(n):
        _sf_tool(i)
    return n


async def _sf_async_program(n: int) -> int:
    for i in range(n):
        _sf_tool(i)
    return n


async def _numbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def _sf_emit_program(n: int) -> int:
    for i in range(n):
        await streamify.emit(i)
    return n


def _per_item_async(make_stream: Callable[[], Any]) -> float:
    async def run() -> float:
        start = perf()
        count = 0
        async for _ in make_stream():
            count += 1
        return (perf() - start) / max(count - 1, 1)

    return asyncio.run(run())


def _first_item_p50(make_stream: Callable[[], Any], rounds: int) -> float:
    async def run() -> float:
        samples = []
        for round_no in range(rounds + 10):
            start = perf()
            stream = make_stream()
            await stream.__anext__()
            if round_no >= 10:
                samples.append(perf() - start)
            async for _ in stream:
                pass
        return statistics.median(samples)

    return asyncio.run(run())


def _per_item_sync(make_iterator: Callable[[], Any], n: int) -> float:
    start = perf()
    for _ in make_iterator():
        pass
    return (perf() - start) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        import dspy
        from dspy.streaming import apply_sync_streaming as dspy_apply_sync_streaming
    except ImportError:
        print("DSPy is not installed: nothing to compare (pip install dspy==3.4.1 to run this)")
        return 0

    dspy_tool = dspy.Tool(_lookup)

    class SyncModule(dspy.Module):  # type: ignore[misc]
        def forward(self, n: int) -> Any:
            for i in range(n):
                dspy_tool(i=i)
            return dspy.Prediction(n=n)

    class AsyncModule(dspy.Module):  # type: ignore[misc]
        async def aforward(self, n: int) -> Any:
            for i in range(n):
                dspy_tool(i=i)
            return dspy.Prediction(n=n)

    dspy_sync = dspy.streamify(SyncModule())
    dspy_async = dspy.streamify(AsyncModule(), is_async_program=True)
    sf_sync = streamify.streamify(_sf_sync_program)
    sf_async = streamify.streamify(_sf_async_program)
    sf_emit_sync = streamify.streamify(_sf_emit_program, async_streaming=False)
    dspy_sync_consumer = dspy.streamify(SyncModule(), async_streaming=False)
    sf_sync_consumer = streamify.streamify(_sf_sync_program, async_streaming=False)

    bridge_n = 20_000
    cases: dict[str, dict[str, Callable[[], float]]] = {
        "status message, sync program (us/message)": {
            "dspy": lambda: _per_item_async(lambda: dspy_sync(n=100)),
            "streamify": lambda: _per_item_async(lambda: sf_sync(100)),
        },
        "status message, async program, 8 sync tool calls (us/message)": {
            "dspy": lambda: _per_item_async(lambda: dspy_async(n=8)),
            "streamify": lambda: _per_item_async(lambda: sf_async(8)),
        },
        "first status message, sync program, p50 (us)": {
            "dspy": lambda: _first_item_p50(lambda: dspy_sync(n=4), 100),
            "streamify": lambda: _first_item_p50(lambda: sf_sync(4), 100),
        },
        "sync bridge, apply_sync_streaming (us/item)": {
            "dspy": lambda: _per_item_sync(
                lambda: dspy_apply_sync_streaming(_numbers(bridge_n)), bridge_n
            ),
            "streamify": lambda: _per_item_sync(
                lambda: streamify.apply_sync_streaming(_numbers(bridge_n)), bridge_n
            ),
        },
        "sync consumer of a sync program's status messages (us/message)": {
            "dspy": lambda: _per_item_sync(lambda: dspy_sync_consumer(n=100), 200),
            "streamify": lambda: _per_item_sync(lambda: sf_sync_consumer(100), 200),
        },
        "sync consumer, streamify(async_streaming=False) of emit() (us/item)": {
            "streamify": lambda: _per_item_sync(lambda: sf_emit_sync(bridge_n), bridge_n),
        },
    }
    print(
        f"streamify {streamify.__version__} vs DSPy {dspy.__version__}, "
        f"CPython {sys.version.split()[0]}, medians of {args.repeats} (libraries alternate)"
    )
    print(f"{'case':62} {'DSPy':>9} {'streamify':>10} {'DSPy/streamify':>15}")
    for name, sides in cases.items():
        for side in sides.values():  # warm-up
            side()
        samples: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(args.repeats):
            for side, measure in sides.items():
                samples[side].append(measure())
        medians = {side: statistics.median(values) * 1e6 for side, values in samples.items()}
        ours = medians["streamify"]
        theirs = medians.get("dspy")
        ratio = f"{theirs / ours:14.1f}x" if theirs is not None else f"{'-':>15}"
        theirs_text = f"{theirs:9.2f}" if theirs is not None else f"{'-':>9}"
        print(f"{name:62} {theirs_text} {ours:10.2f} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
