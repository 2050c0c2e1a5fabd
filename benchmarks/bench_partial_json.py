"""Per-chunk cost of partial JSON values, against jiter and partial-json-parser.

Run ``python benchmarks/bench_partial_json.py`` (``--quick`` for fewer repeats and samples,
``--json PATH`` to write the figures, ``--sizes 1000,10000`` to choose the sizes, ``--clock
cpu`` to time with this process's CPU time on a busy machine).

What is measured.  A JSON value of about 1 kB, 10 kB, 100 kB and 1 MB is cut into chunks of
20 characters, the way an LM streams a structured reply, in two shapes:

* ``records``: ``{"items": [{"id": ..., "title": ..., "tags": [...], ...}, ...]}``, short
  strings (some with escapes), numbers, literals -- a typical structured output;
* ``string``: ``{"title": ..., "text": "<one long string>"}``, where every chunk extends the
  same string.

For each chunk, the figure is what it costs to have the value so far after it:

* ``ours``: ``PartialJSONParser.feed(chunk)``, then ``snapshot()`` when ``feed`` reports a
  change, on one parser for the whole stream.  Timed over all chunks and separately over
  the last 10% of them (where the value is largest); µs per chunk, median over repeats
  (each repeat runs the stream enough times to last a few milliseconds, and the repeats go
  round all the sizes, so that a busy spell of the machine does not fall on one size).
* ``jiter``: ``jiter.from_json(prefix, partial_mode=True)`` on the text received so far,
  which is how the OpenAI SDK, Pydantic AI and instructor get a partial value: each chunk
  re-parses the whole prefix.  ``partial-json-parser``: ``partial_json_parser.loads(prefix)``
  likewise.  Their cost grows with the prefix, so timing every chunk of a 1 MB stream would
  take minutes (jiter) or hours (partial-json-parser); instead each repeat times one call on
  each of a sample of chunks, evenly spaced over the whole stream (their mean estimates the
  mean per chunk, as the cost only grows with the prefix), plus a sample in the last 10% of
  the stream.  Building the prefix (``bytes`` for jiter, ``str`` for partial-json-parser) is
  not timed (a real consumer pays for that too): the prefixes are made ahead, and timed in
  batches of calls.  The sample sizes are printed.
  Both peers are optional (dev extras only): a peer that is not installed is reported as
  skipped.

The flatness figure is the per-chunk cost in the last 10% of the stream at 1 MB divided by
the same at 1 kB: 1 when the cost per chunk does not grow with the value, about 1000 when
each chunk costs the length of the text so far.  ``stream`` columns are the whole stream in
ms (``est.`` for the peers: mean per chunk times the chunks).  ``json.loads`` of the whole
text once is shown for scale.

The peers hand a fresh object per chunk; ours hands the live value, growing (see
``streamify/_partial_json.py``), and rebuilds a fresh one only on ``PartialValue.copy()``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from streamify._partial_json import PartialJSONParser  # noqa: E402

SIZES = (1_000, 10_000, 100_000, 1_000_000)
SHAPES = ("records", "string")
CHUNK = 20
TAIL = 0.1  # the last 10% of the chunks
BATCH_CHARS = 8_000_000  # prefixes prepared ahead of one timed batch of peer calls
RUN_TARGET_S = 0.005  # each repeat of ours runs the stream enough times to last this long

# Peer samples per size: (evenly spaced over the stream, in the last 10%), thorough / quick.
SAMPLES: dict[str, dict[int, tuple[int, int]]] = {
    "jiter": {1_000: (50, 5), 10_000: (200, 50), 100_000: (100, 30), 1_000_000: (40, 12)},
    "partial-json-parser": {1_000: (50, 5), 10_000: (100, 30), 100_000: (20, 8), 1_000_000: (6, 3)},
}
QUICK_SAMPLES: dict[str, dict[int, tuple[int, int]]] = {
    "jiter": {1_000: (50, 5), 10_000: (50, 20), 100_000: (30, 10), 1_000_000: (12, 4)},
    "partial-json-parser": {1_000: (50, 5), 10_000: (30, 10), 100_000: (8, 3), 1_000_000: (3, 2)},
}

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter  # set by run(): wall time, or this process's CPU time

_WORDS = ("alpha", "beta", "gamma", "delta", "stream", "token", "model", "reply", "value")


def build(shape: str, size: int) -> str:
    """A JSON text of about ``size`` characters (ASCII, so bytes and characters agree)."""
    if shape == "string":
        words: list[str] = []
        length = 0
        index = 0
        while length < size - 40:
            word = _WORDS[index % len(_WORDS)]
            word = word + (".\n" if index % 17 == 16 else " ")
            if index % 29 == 28:
                word = 'caf\u00e9 "quoted" ' + word
            words.append(word)
            length += len(json.dumps(word)) - 2
            index += 1
        return json.dumps({"title": "A long text", "text": "".join(words)})
    records: list[dict[str, Any]] = []
    length = len('{"items": []}')
    index = 0
    while length < size:
        record = {
            "id": index,
            "title": f"Item {index}: {_WORDS[index % len(_WORDS)]} caf\u00e9",
            "tags": [_WORDS[index % 3], _WORDS[(index + 4) % len(_WORDS)]],
            "score": round(index / 7, 4),
            "done": index % 2 == 0,
            "note": None if index % 3 else 'see "details"\n',
        }
        records.append(record)
        length += len(json.dumps(record)) + 2
        index += 1
    return json.dumps({"items": records})


def chunked(text: str) -> list[str]:
    return [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]


def _tail_start(chunks: int) -> int:
    return chunks - max(1, int(chunks * TAIL))


def _run_ours(chunks: list[str]) -> tuple[float, float, Any]:
    """One stream: (seconds for all chunks, seconds for the last 10%, final value)."""
    parser = PartialJSONParser()
    feed = parser.feed
    snapshot = parser.snapshot
    split = _tail_start(len(chunks))
    head, tail = chunks[:split], chunks[split:]
    start = _clock()
    for chunk in head:
        if feed(chunk):
            snapshot()
    middle = _clock()
    for chunk in tail:
        if feed(chunk):
            snapshot()
    end = _clock()
    return end - start, end - middle, parser.finish()


def measure_ours(texts: list[str], repeats: int) -> list[dict[str, Any]]:
    """Ours on each text; the repeats go round the texts, so that a busy spell of the
    machine falls on every size alike rather than on one."""
    streams = [chunked(text) for text in texts]
    runs = []
    for text, chunks in zip(texts, streams):
        _, _, value = _run_ours(chunks)  # warm up, and check
        if value != json.loads(text):
            raise AssertionError("PartialJSONParser: final value differs from json.loads")
        first, _, _ = _run_ours(chunks)
        runs.append(max(1, min(1000, int(RUN_TARGET_S / max(first, 1e-9)))))
    figures: list[dict[str, list[float]]] = [
        {"means": [], "tails": [], "streams": []} for _ in texts
    ]
    for _ in range(repeats):
        for chunks, count, out in zip(streams, runs, figures):
            total = tail_total = 0.0
            for _ in range(count):
                whole, tail, _ = _run_ours(chunks)
                total += whole
                tail_total += tail
            out["streams"].append(total / count)
            out["means"].append(total / count / len(chunks))
            out["tails"].append(tail_total / count / (len(chunks) - _tail_start(len(chunks))))
    return [
        {
            "us_per_chunk": statistics.median(out["means"]) * 1e6,
            "us_per_chunk_last_10pct": statistics.median(out["tails"]) * 1e6,
            "stream_ms": statistics.median(out["streams"]) * 1e3,
            "runs_per_repeat": count,
        }
        for out, count in zip(figures, runs)
    ]


def _load_peer(name: str) -> Optional[Callable[[Any], Any]]:
    """The peer's parse-a-prefix function, or ``None`` when it is not installed.

    It takes the prefix as :func:`_prepare` makes it (``bytes`` for jiter, ``str`` else).
    """
    try:
        if name == "jiter":
            module: Any = importlib.import_module("jiter")

            def parse_jiter(prefix: Any) -> Any:
                return module.from_json(prefix, partial_mode=True)

            return parse_jiter
        module = importlib.import_module("partial_json_parser")
        loads: Callable[[str], Any] = module.loads
        return loads
    except ImportError:
        return None


def _prepare(name: str, prefix: str) -> Any:
    return prefix.encode() if name == "jiter" else prefix


def _sample_ends(text_length: int, chunks: int, spread: int, tail: int) -> tuple[list[int], ...]:
    """End offsets of the sampled prefixes: evenly over the stream, and in its last 10%."""
    spread = min(spread, chunks)
    split = _tail_start(chunks)
    tail = min(tail, chunks - split)

    def end(index: int) -> int:
        return min(text_length, (index + 1) * CHUNK)

    over = [end(int((k + 0.5) * chunks / spread)) for k in range(spread)]
    last = [end(split + int((k + 0.5) * (chunks - split) / tail)) for k in range(tail)]
    return over, last


def _time_calls(name: str, parse: Callable[[Any], Any], text: str, ends: list[int]) -> float:
    """The mean time of one call on each prefix ``text[:end]``.

    The prefixes are prepared ahead, in batches of up to ``BATCH_CHARS`` characters, and
    each batch is timed as a whole, so that reading the clock costs nothing per call.
    """
    total = 0.0
    index = 0
    while index < len(ends):
        batch: list[Any] = []
        held = 0
        while index < len(ends) and (not batch or held + ends[index] <= BATCH_CHARS):
            batch.append(_prepare(name, text[: ends[index]]))
            held += ends[index]
            index += 1
        start = _clock()
        for prefix in batch:
            parse(prefix)
        total += _clock() - start
    return total / len(ends)


def measure_peer(
    name: str, parse: Callable[[Any], Any], text: str, repeats: int, samples: tuple[int, int]
) -> dict[str, Any]:
    chunks = len(chunked(text))
    if parse(_prepare(name, text)) != json.loads(text):
        raise AssertionError(f"{name}: the whole text does not parse to json.loads's value")
    over, last = _sample_ends(len(text), chunks, *samples)
    for stop in over[:3]:  # warm up
        parse(_prepare(name, text[:stop]))
    means: list[float] = []
    tails: list[float] = []
    for _ in range(repeats):
        means.append(_time_calls(name, parse, text, over))
        tails.append(_time_calls(name, parse, text, last))
    mean = statistics.median(means)
    return {
        "us_per_chunk": mean * 1e6,
        "us_per_chunk_last_10pct": statistics.median(tails) * 1e6,
        "stream_ms_estimated": mean * chunks * 1e3,
        "samples": len(over),
        "samples_last_10pct": len(last),
    }


def measure_json_loads(text: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = _clock()
        json.loads(text)
        times.append(_clock() - start)
    return statistics.median(times) * 1e3


def run(quick: bool = False, sizes: tuple[int, ...] = SIZES, clock: str = "wall") -> dict[str, Any]:
    global _clock
    _clock = CLOCKS[clock]
    repeats = 3 if quick else 7
    samples = QUICK_SAMPLES if quick else SAMPLES
    peers = {name: _load_peer(name) for name in ("jiter", "partial-json-parser")}
    cases = [(shape, size, build(shape, size)) for shape in SHAPES for size in sizes]
    ours = measure_ours([text for _, _, text in cases], repeats)
    results: list[dict[str, Any]] = []
    for (shape, size, text), figures in zip(cases, ours):
        row: dict[str, Any] = {
            "shape": shape,
            "size": size,
            "chars": len(text),
            "chunks": len(chunked(text)),
            "ours": figures,
            "json_loads_ms": measure_json_loads(text, repeats),
        }
        for name, parse in peers.items():
            if parse is None:
                row[name] = None
                continue
            table = samples[name]
            peer_samples = table[max([key for key in table if key <= size] or [min(table)])]
            slow = name == "partial-json-parser" and size >= 1_000_000
            peer_repeats = (1 if quick else 3) if slow else repeats
            row[name] = measure_peer(name, parse, text, peer_repeats, peer_samples)
        results.append(row)
    flatness: dict[str, dict[str, Optional[float]]] = {}
    small, large = min(sizes), max(sizes)
    for shape in SHAPES:
        rows = {row["size"]: row for row in results if row["shape"] == shape}
        flatness[shape] = {}
        for name in ("ours", *peers):
            low, high = rows[small].get(name), rows[large].get(name)
            flatness[shape][name] = (
                high["us_per_chunk_last_10pct"] / low["us_per_chunk_last_10pct"]
                if low and high
                else None
            )
    return {
        "benchmark": "partial_json",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "chunk_chars": CHUNK,
        "clock": clock,
        "repeats": repeats,
        "quick": quick,
        "peers": {name: parse is not None for name, parse in peers.items()},
        "flatness_sizes": [small, large],
        "results": results,
        "flatness": flatness,
    }


def _cell(figures: Optional[dict[str, Any]], key: str) -> str:
    if figures is None:
        return "skipped"
    value = float(figures[key])
    return f"{value:,.1f}" if value < 1e4 else f"{value:,.0f}"


def print_table(report: dict[str, Any]) -> None:
    print(
        f"Partial JSON values, chunks of {report['chunk_chars']} characters "
        f"(Python {report['python']}, median of {report['repeats']} repeats, "
        f"{report['clock']} clock)"
    )
    print("µs per chunk: mean over the stream / in its last 10%; stream: whole stream, ms")
    header = (
        f"{'shape':<8}{'size':>10}{'chunks':>8} | {'ours':>17} | {'jiter':>21}"
        f" | {'partial-json-parser':>23} | {'stream ours':>12}{'jiter est.':>12}"
        f"{'pjp est.':>12}{'json.loads':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in report["results"]:
        ours, jit, pjp = row["ours"], row["jiter"], row["partial-json-parser"]

        def pair(figures: Optional[dict[str, Any]], width: int) -> str:
            if figures is None:
                return f"{'skipped':>{width}}"
            text = f"{_cell(figures, 'us_per_chunk')} / {_cell(figures, 'us_per_chunk_last_10pct')}"
            return f"{text:>{width}}"

        print(
            f"{row['shape']:<8}{row['size']:>10,}{row['chunks']:>8,} | {pair(ours, 17)} | "
            f"{pair(jit, 21)} | {pair(pjp, 23)} | {ours['stream_ms']:>12,.1f}"
            f"{_cell(jit, 'stream_ms_estimated'):>12}{_cell(pjp, 'stream_ms_estimated'):>12}"
            f"{row['json_loads_ms']:>11.2f}"
        )
    print()
    small, large = report["flatness_sizes"]
    print(
        f"Flatness: per-chunk cost in the last 10% of the stream, {large:,} / {small:,} "
        "characters (1 = flat; about the size ratio when each chunk re-parses the prefix)"
    )
    for shape, ratios in report["flatness"].items():
        cells = ", ".join(
            f"{name} {'skipped' if ratio is None else f'{ratio:.2f}'}"
            for name, ratio in ratios.items()
        )
        print(f"  {shape:<8} {cells}")
    if not any(report["peers"].values()):
        print("No peer installed (pip install jiter partial-json-parser): peers skipped.")
        return
    print()
    print("Peer samples per repeat (evenly spaced / in the last 10%):")
    for row in report["results"]:
        parts = []
        for name in ("jiter", "partial-json-parser"):
            figures = row[name]
            if figures is not None:
                parts.append(f"{name} {figures['samples']}/{figures['samples_last_10pct']}")
        if parts and row["shape"] == SHAPES[0]:
            print(f"  {row['size']:>10,}: " + ", ".join(parts))


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and samples")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in SIZES),
        help="comma-separated value sizes in characters (default: %(default)s)",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: time.perf_counter (default); cpu: time.process_time, this process's CPU "
        "time only, steadier on a busy machine",
    )
    args = parser.parse_args(argv)
    sizes = tuple(int(size) for size in args.sizes.split(","))
    report = run(args.quick, sizes, args.clock)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)
            file.write("\n")
    print_table(report)


if __name__ == "__main__":
    main()
