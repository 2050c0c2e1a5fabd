"""Per-chunk cost of ``StreamListener`` on long fields, for the chat, JSON and XML formats.

Run ``python benchmarks/bench_listener.py`` (``--quick`` for fewer repeats).  Each case (a
format and a field length) runs in its own Python process.  A case builds a reply whose
listened field holds 10,000 or 40,000 word tokens (about 4 characters each, with newlines,
punctuation and, once every 50 tokens, a character that may begin a marker: ``[`` for chat,
``<`` for XML, a quote for JSON), cuts the whole reply into 4-character chunks and times
``receive()`` over all of them plus ``finalize()``, on a fresh listener per repeat, after a
warm-up.  The figure is the median over the repeats, in microseconds per chunk.

Two comparisons are printed:

* ``vs DSPy``: DSPy's reference figure of 17.9 µs per chunk for a 10,000-token field divided
  by ours (the goal is at least 12x);
* ``x baseline``: ours divided by a raw baseline timed in the same process on the same
  chunks: a loop doing ``chunk.find("[")`` and ``list.append(chunk)`` per chunk, about the
  least any listener must do.

The cost per chunk must not grow with the field: compare the two lengths of one format.

A second, hostile case per format (``whitespace_run``): the field is opened with some text,
then fed 10,000, 20,000, 40,000 and 80,000 chunks of one space each, then closed.  Chat and
XML trim the field, so that whitespace is held back until the end marker shows it to be
trailing; JSON streams it.  The figure is the median time of the whole stream in ms, and
``x`` beside it is its growth over the previous length: about 2 when the cost is linear, 4
when it is quadratic.  ``--whitespace`` measures this case only.

``run(quick)`` returns the figures as a dict for the benchmark runner (``per_chunk_us`` maps
format and field length to the median µs per chunk through ``receive()``; the hostile case
is under ``whitespace_run``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from streamify._listener import StreamListener  # noqa: E402

DSPY_US_PER_CHUNK = 17.9
FORMATS = ("chat", "json", "xml")
FIELD_TOKENS = (10_000, 40_000)
CHUNK_CHARS = 4
SPACE_CHUNKS = (10_000, 20_000, 40_000, 80_000)

_WORDS = (
    " the", " of", " and", " to", " in", " is", " it", " for", " on", " we", " data", " ing",
    " str", " eam", " list", " en", " er", ",", ".\n", " a", " from", " with", " that", " this",
    " model", " token", " answer", " stream",
)  # fmt: skip
_TRIGGER = {"chat": " [x]", "json": ' "q"', "xml": " a<b"}


def build_field(fmt: str, tokens: int) -> str:
    """A deterministic field text of ``tokens`` word tokens."""
    parts = []
    for index in range(tokens):
        if index % 50 == 49:
            parts.append(_TRIGGER[fmt])
        else:
            parts.append(_WORDS[(index * 7 + index // 13) % len(_WORDS)])
    return "".join(parts)


def build_reply(fmt: str, tokens: int) -> str:
    field = build_field(fmt, tokens)
    reasoning = "Let me think about it step by step."
    if fmt == "chat":
        return (
            f"[[ ## reasoning ## ]]\n{reasoning}\n\n[[ ## answer ## ]]\n{field}\n\n"
            "[[ ## completed ## ]]"
        )
    if fmt == "json":
        return json.dumps({"reasoning": reasoning, "answer": field})
    return f"<reasoning>{reasoning}</reasoning>\n<answer>{field}</answer>"


def chunked(text: str) -> list[str]:
    return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]


def _time_listener(fmt: str, chunks: list[str], use_feed: bool) -> float:
    listener = StreamListener("answer", field_format=fmt)
    call = listener.feed if use_feed else listener.receive
    start = time.perf_counter_ns()
    for chunk in chunks:
        call(chunk)
    listener.finalize()
    return (time.perf_counter_ns() - start) / 1000 / len(chunks)


def _time_baseline(chunks: list[str]) -> float:
    sink: list[str] = []
    append = sink.append
    start = time.perf_counter_ns()
    for chunk in chunks:
        chunk.find("[")
        append(chunk)
    return (time.perf_counter_ns() - start) / 1000 / len(chunks)


def measure_case(fmt: str, tokens: int, repeats: int) -> dict[str, Any]:
    """Time one case in this process; every figure is a median over ``repeats``."""
    reply = build_reply(fmt, tokens)
    chunks = chunked(reply)
    field = build_field(fmt, tokens)
    expected = field if fmt == "json" else field.strip()  # JSON strings are not trimmed
    listener = StreamListener("answer", field_format=fmt)
    got = [r.chunk for c in chunks for r in listener.feed(c)] + [r.chunk for r in listener.flush()]
    assert "".join(got) == expected, f"{fmt}: the listener produced the wrong text"
    for _ in range(2):  # warm-up
        _time_listener(fmt, chunks, False)
        _time_baseline(chunks)
    receive = statistics.median(_time_listener(fmt, chunks, False) for _ in range(repeats))
    feed = statistics.median(_time_listener(fmt, chunks, True) for _ in range(repeats))
    baseline = statistics.median(_time_baseline(chunks) for _ in range(repeats))
    return {
        "format": fmt,
        "field_tokens": tokens,
        "chunks": len(chunks),
        "us_per_chunk": receive,
        "feed_us_per_chunk": feed,
        "baseline_us_per_chunk": baseline,
        "speedup_vs_dspy": DSPY_US_PER_CHUNK / receive,
        "ratio_vs_baseline": receive / baseline,
    }


_OPEN = {"chat": "[[ ## answer ## ]]\nHi", "json": '{"answer": "Hi', "xml": "<answer>Hi"}
_CLOSE = {"chat": "\n\n[[ ## completed ## ]]", "json": '"}', "xml": "\n</answer>"}


def _time_stream(fmt: str, chunks: list[str]) -> float:
    """Milliseconds to feed every chunk to a fresh listener and flush it."""
    listener = StreamListener("answer", field_format=fmt)
    feed = listener.feed
    start = time.perf_counter_ns()
    for chunk in chunks:
        feed(chunk)
    listener.flush()
    return (time.perf_counter_ns() - start) / 1e6


def measure_whitespace_run(fmt: str, repeats: int) -> list[dict[str, Any]]:
    """The hostile case in this process: the field opened, one-space chunks, the end marker."""
    rows: list[dict[str, Any]] = []
    previous = 0.0
    for count in SPACE_CHUNKS:
        chunks = [_OPEN[fmt], *[" "] * count, _CLOSE[fmt]]
        listener = StreamListener("answer", field_format=fmt)
        got = "".join(r.chunk for c in chunks for r in listener.feed(c))
        got += "".join(r.chunk for r in listener.flush())
        expected = "Hi" + " " * count if fmt == "json" else "Hi"
        assert got == expected, f"{fmt}: the listener produced the wrong text"
        _time_stream(fmt, chunks)  # warm-up
        ms = statistics.median(_time_stream(fmt, chunks) for _ in range(repeats))
        rows.append(
            {
                "format": fmt,
                "space_chunks": count,
                "ms": ms,
                "growth_per_doubling": ms / previous if previous else None,
            }
        )
        previous = ms
    return rows


def _in_subprocess(*args: str) -> Any:
    completed = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args],
        capture_output=True,
        text=True,
    )
    if completed.returncode:
        raise RuntimeError(f"case {' '.join(args)} failed:\n{completed.stderr}")
    return json.loads(completed.stdout)


def _measure_in_subprocess(fmt: str, tokens: int, repeats: int) -> dict[str, Any]:
    result: dict[str, Any] = _in_subprocess("--case", fmt, str(tokens), str(repeats))
    return result


def run_whitespace(quick: bool) -> dict[str, Any]:
    """The hostile case for every format, each in its own process."""
    repeats = 3 if quick else 7
    rows: list[dict[str, Any]] = []
    for fmt in FORMATS:
        rows += _in_subprocess("--whitespace-case", fmt, str(repeats))
    return {
        "python": sys.version.split()[0],
        "repeats": repeats,
        "space_chunks": list(SPACE_CHUNKS),
        "what": "field opened, then N one-space chunks, then closed: ms for the whole stream",
        "results": rows,
    }


def run(quick: bool) -> dict[str, Any]:
    """Measure every case, each in its own process; ``quick`` takes 5 repeats instead of 15."""
    repeats = 5 if quick else 15
    results = [
        _measure_in_subprocess(fmt, tokens, repeats) for fmt in FORMATS for tokens in FIELD_TOKENS
    ]
    return {
        "benchmark": "listener",
        "python": sys.version.split()[0],
        "repeats": repeats,
        "chunk_chars": CHUNK_CHARS,
        "dspy_reference_us_per_chunk": DSPY_US_PER_CHUNK,
        "baseline": 'per chunk: chunk.find("[") + list.append(chunk), same process, same chunks',
        "results": results,
        # The same figures keyed by format and field length, for benchmarks/run.py.
        "per_chunk_us": {
            fmt: {str(r["field_tokens"]): r["us_per_chunk"] for r in results if r["format"] == fmt}
            for fmt in FORMATS
        },
        "whitespace_run": run_whitespace(quick),
    }


def print_table(report: dict[str, Any]) -> None:
    print(
        f"StreamListener per-chunk cost (Python {report['python']}, "
        f"{report['chunk_chars']}-char chunks, median of {report['repeats']})"
    )
    print(f"baseline: {report['baseline']}")
    header = (
        f"{'format':<7}{'field tokens':>13}{'chunks':>8}{'µs/chunk':>10}{'feed µs':>9}"
        f"{'vs DSPy 17.9':>14}{'baseline µs':>13}{'x baseline':>12}"
    )
    print(header)
    print("-" * len(header))
    for row in report["results"]:
        print(
            f"{row['format']:<7}{row['field_tokens']:>13,}{row['chunks']:>8,}"
            f"{row['us_per_chunk']:>10.3f}{row['feed_us_per_chunk']:>9.3f}"
            f"{row['speedup_vs_dspy']:>13.1f}x{row['baseline_us_per_chunk']:>13.3f}"
            f"{row['ratio_vs_baseline']:>11.1f}x"
        )


def print_whitespace_table(report: dict[str, Any]) -> None:
    print(
        f"Whitespace run (Python {report['python']}, median of {report['repeats']}): "
        f"{report['what']}; x = growth per doubling (2 is linear, 4 quadratic)"
    )
    header = f"{'format':<7}" + "".join(f"{n:>19,}" for n in report["space_chunks"])
    print(header)
    print("-" * len(header))
    for fmt in FORMATS:
        cells = []
        for row in report["results"]:
            if row["format"] != fmt:
                continue
            growth = row["growth_per_doubling"]
            cell = f"{row['ms']:.1f} ms" + (f" (x{growth:.2f})" if growth else "")
            cells.append(f"{cell:>19}")
        print(f"{fmt:<7}" + "".join(cells))


def main(argv: list[str]) -> None:
    if argv[:1] == ["--case"]:
        fmt, tokens, repeats = argv[1], int(argv[2]), int(argv[3])
        print(json.dumps(measure_case(fmt, tokens, repeats)))
        return
    if argv[:1] == ["--whitespace-case"]:
        print(json.dumps(measure_whitespace_run(argv[1], int(argv[2]))))
        return
    quick = "--quick" in argv
    if "--whitespace" in argv:
        print_whitespace_table(run_whitespace(quick))
        return
    report = run(quick)
    print_table(report)
    print()
    print_whitespace_table(report["whitespace_run"])


if __name__ == "__main__":
    main(sys.argv[1:])
