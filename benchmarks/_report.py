"""From the cases' raw results to goals, recommendations and the terminal tables.

``analyse(document)`` derives everything from ``document["cases"]`` (what the subprocesses
measured) and ``document["meta"]``; nothing here measures.  The recommendation rules are
data (``RULES``) so that the JSON carries the rule next to the buffer size it chose, and a
new measurement gives a new recommendation.
"""

from __future__ import annotations

from typing import Any, Optional

Doc = dict[str, Any]

# ---------------------------------------------------------------------------- references
# DSPy 3.4.1 figures quoted in the issues; they are NOT measured by this suite.
DSPY_REFERENCE = {
    "status_sync_s": 540e-6,  # one status message from a sync program
    "first_status_p50_s": 500e-6,  # first status message of a sync program, p50
    "sync_consumer_s": 14e-6,  # DSPy's sync streaming, per item (14-19 us; the lower end)
    "listener_chunk_s": 17.9e-6,  # its listener per chunk on a 10,000-token field
}
REFERENCE_NOTE = "reference figure from the issue, not measured here"

BASELINE_OF_PATH = {
    "async_to_async": "raw_asyncio_queue[{size}]",
    "thread_to_async": "raw_call_soon_threadsafe",
    "async_to_sync": "raw_thread_queue[{size}]",
    "async_to_sync_apply": "raw_thread_queue[{size}]",
}
PATH_LABEL = {
    "async_to_async": "async -> async",
    "thread_to_async": "thread -> async",
    "async_to_sync": "async -> sync",
    "async_to_sync_apply": "async -> sync (apply_sync_streaming)",
}

# Memory is "flat" when the peak grows by less than this between the shortest and the longest
# stream (an unbounded buffer would grow by tens of bytes per item: megabytes).
FLAT_TOLERANCE_BYTES = 64 * 1024

# The recommendation rules.  Each is computed from this run's figures by ``recommend``.
RULES: dict[str, dict[str, Any]] = {
    "tokens to a web client": {
        "path": "async_to_async",
        "kind": "latency_x_cost",
        "tie": 0.05,
        "rule": (
            "latency-sensitive: minimise (p99 latency with a slow consumer / best p99 of the "
            "path) x (per-item cost / best per-item cost of the path), so a buffer that "
            "doubles the p99 must halve the cost to win; sizes whose score is within 5% of "
            "the best count as tied and the smallest of them is chosen"
        ),
    },
    "bulk items from a thread": {
        "path": "thread_to_async",
        "kind": "throughput",
        "tolerance": 0.05,
        "rule": (
            "throughput: the smallest buffer_size whose per-item cost (worker thread -> "
            "async consumer, fast consumer) is within 5% of the best buffer_size"
        ),
    },
    "bulk items to a sync consumer": {
        "path": "async_to_sync",
        "kind": "throughput",
        "tolerance": 0.05,
        "rule": (
            "throughput: the smallest buffer_size whose per-item cost (async program -> "
            "streamify(..., async_streaming=False)) is within 5% of the best buffer_size"
        ),
    },
    "status only": {
        "path": "first_item",
        "kind": "short_stream",
        "tie": 0.05,
        "rule": (
            "a handful of items (a sync program making 4 tool calls: 8 status messages, many "
            "short streams in a row on one event loop): minimise (p50 time to the first "
            "status message / best) x (p50 time to the end of the stream / best); sizes "
            "within 5% of the best score count as tied and the smallest is chosen"
        ),
    },
}


# ---------------------------------------------------------------------------- helpers
def _get(document: Doc, key: str) -> Doc:
    value = document["cases"].get(key, {})
    return value if isinstance(value, dict) else {}


def _median(result: Doc, field: str = "throughput") -> Optional[float]:
    value = result.get(field, {}).get("median")
    return float(value) if isinstance(value, (int, float)) else None


def _us(seconds: Optional[float], digits: int = 2) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e6:.{digits}f}"


def _bytes(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{int(value):,}"


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b <= 0:
        return None
    return a / b


# ---------------------------------------------------------------------------- analysis
def channel_rows(document: Doc) -> list[Doc]:
    """One row per (path, buffer_size): throughput, latency, memory, ratio to its baseline."""
    meta = document["meta"]
    rows = []
    for path in meta["channel_paths"]:
        memory = {
            figure.get("buffer_size"): figure
            for figure in _get(document, f"memory.{path}").get("per_buffer_size", [])
        }
        for size in meta["buffer_sizes"]:
            result = _get(document, f"channel.{path}[{size}]")
            throughput = result.get("throughput", {})
            latency = result.get("latency", {})
            baseline_key = BASELINE_OF_PATH[path].format(size=size)
            baseline = _median(_get(document, baseline_key))
            per_item = _median(result)
            rows.append(
                {
                    "path": path,
                    "buffer_size": size,
                    "per_item_s": per_item,
                    "per_item_min_s": throughput.get("min"),
                    "per_item_max_s": throughput.get("max"),
                    "items_per_s": 1.0 / per_item if per_item else None,
                    "baseline": baseline_key,
                    "baseline_per_item_s": baseline,
                    "ratio_to_baseline": _ratio(per_item, baseline),
                    "latency_p50_s": latency.get("p50", {}).get("median"),
                    "latency_p99_s": latency.get("p99", {}).get("median"),
                    "latency_p99_min_s": latency.get("p99", {}).get("min"),
                    "latency_p99_max_s": latency.get("p99", {}).get("max"),
                    "consumer_work_us": latency.get("consumer_work_us"),
                    "peak_memory_bytes": memory.get(size, {}).get("peak_bytes"),
                    "error": result.get("error"),
                }
            )
    return rows


def memory_flatness(document: Doc) -> list[Doc]:
    out = []
    for path in document["meta"]["channel_paths"]:
        result = _get(document, f"memory.{path}")
        runs = result.get("flat", {}).get("runs", [])
        if len(runs) < 2:
            out.append({"path": path, "verdict": "not measured", "error": result.get("error")})
            continue
        first, last = runs[0], runs[-1]
        growth = last["peak_bytes"] - first["peak_bytes"]
        per_size = {f["buffer_size"]: f["peak_bytes"] for f in result.get("per_buffer_size", [])}
        slot_bytes = None
        if len(per_size) >= 2:
            small, large = min(per_size), max(per_size)
            slot_bytes = (per_size[large] - per_size[small]) / (large - small)
        out.append(
            {
                "path": path,
                "buffer_size": result["flat"]["buffer_size"],
                "items": [run["items"] for run in runs],
                "peak_bytes": [run["peak_bytes"] for run in runs],
                "growth_bytes": growth,
                "bytes_per_buffered_item": slot_bytes,
                "unbounded_estimate_bytes": (
                    slot_bytes * last["items"] if slot_bytes is not None else None
                ),
                "tolerance_bytes": FLAT_TOLERANCE_BYTES,
                "verdict": "flat" if growth <= FLAT_TOLERANCE_BYTES else "GROWS",
            }
        )
    return out


_UNITS = (("_ns", 1e-9), ("_us", 1e-6), ("_ms", 1e-3), ("_s", 1.0), ("seconds", 1.0))
_FORMATS = ("chat", "json", "xml")
_NOT_OURS = ("baseline", "dspy", "feed", "speedup", "ratio")


def _leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], float]]:
    """Numeric leaves with their key path; a record in a list adds its str and int values
    to the path (``{"format": "chat", "field_tokens": 10000, ...}`` -> ``chat``, ``10000``)."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            found += _leaves(item, (*path, str(key).lower()))
        return found
    if isinstance(value, list):
        found = []
        for item in value:
            tags: tuple[str, ...] = ()
            if isinstance(item, dict):
                tags = tuple(
                    str(v).lower()
                    for v in item.values()
                    if isinstance(v, (str, int)) and not isinstance(v, bool)
                )
            found += _leaves(item, (*path, *tags))
        return found
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [(path, float(value))]
    return []


def _unit(path: tuple[str, ...]) -> float:
    for key in reversed(path):
        for suffix, factor in _UNITS:
            if key.endswith(suffix) or key.startswith(suffix[1:] + "_"):
                return factor
    return 1.0


def _names_format(key: str, fmt: str) -> bool:
    return key == fmt or key.startswith(fmt + "_") or key.endswith("_" + fmt)


def listener_figures(document: Doc) -> Doc:
    """Per-chunk cost per format, read from ``bench_listener.run()``'s dict.

    The hook's contract: a numeric leaf whose key path names the format (``chat``, ``json``,
    ``xml``) and contains ``per_chunk`` (and no ``baseline``, ``dspy``, ``feed``, ``speedup``
    or ``ratio``); the unit comes from the nearest key with a unit suffix or prefix
    (``_s``, ``_ms``, ``_us``, ``_ns``, ``us_...``; seconds otherwise).  A path naming a
    10,000-token field (``10000``, ``10_000``, ``10k``) is preferred: the DSPy reference is
    for that length.
    """
    result = _get(document, "listener")
    if result.get("status") != "measured":
        return {
            "status": result.get("status", "error"),
            "reason": result.get("reason") or result.get("error"),
        }
    leaves = _leaves(result.get("results", {}))
    per_format: Doc = {}
    for fmt in _FORMATS:
        matches = [
            (path, value)
            for path, value in leaves
            if any(_names_format(key, fmt) for key in path)
            and any("per_chunk" in key for key in path)
            and not any(word in key for key in path for word in _NOT_OURS)
        ]
        if not matches:
            continue
        preferred = [
            m for m in matches if any(t in key for key in m[0] for t in ("10000", "10_000", "10k"))
        ]
        path, value = (preferred or matches)[0]
        per_format[fmt] = {"per_chunk_s": value * _unit(path), "from": "/".join(path)}
    return {"status": "measured", "per_chunk": per_format}


def goals(document: Doc, listener: Doc) -> list[Doc]:
    """The core issue's performance goals as ratios, each ``met`` or ``SHORT``."""
    queue16 = _median(_get(document, "raw_asyncio_queue[16]"))
    threadsafe = _median(_get(document, "raw_call_soon_threadsafe"))
    first_p50 = None
    for figure in _get(document, "first_item").get("per_buffer_size", []):
        if figure.get("buffer_size") == 16:
            first_p50 = figure["first_item"]["p50"]
    raw_round_trip = _get(document, "first_item").get("raw_thread_round_trip", {}).get("p50")
    measured = "baseline measured in this run"
    specs: list[tuple[str, Optional[float], str, Optional[float], str, float, str]] = [
        (
            "async emit -> async consumer, per item (buffer 16)",
            _median(_get(document, "channel.async_to_async[16]")),
            "raw asyncio.Queue(16)",
            queue16,
            measured,
            1.0,
            "<= 1.0x",
        ),
        (
            "emit_sync from a worker thread, per item (buffer 16)",
            _median(_get(document, "channel.thread_to_async[16]")),
            "raw call_soon_threadsafe",
            threadsafe,
            measured,
            0.8,
            "<= 0.8x",
        ),
        (
            "status message from an async program (sync @tool)",
            _median(_get(document, "status.async")),
            "raw asyncio.Queue(16)",
            queue16,
            measured,
            3.0,
            "<= 3x",
        ),
        (
            "status message from a sync program",
            _median(_get(document, "status.sync")),
            "DSPy 540 us *",
            DSPY_REFERENCE["status_sync_s"],
            REFERENCE_NOTE,
            1 / 50,
            ">= 50x cheaper",
        ),
        (
            "first status message of a sync program, p50",
            first_p50,
            "DSPy 500 us p50 *",
            DSPY_REFERENCE["first_status_p50_s"],
            REFERENCE_NOTE,
            1 / 5,
            ">= 5x sooner",
        ),
        (
            "  same, against a raw loop->thread->loop round trip",
            first_p50,
            "raw round trip p50",
            raw_round_trip,
            "informational: the floor any sync program's first item pays on this machine",
            0.0,
            "(information)",
        ),
        (
            "sync consumer, per item (async_streaming=False)",
            _median(_get(document, "channel.async_to_sync[16]")),
            "DSPy 14 us *",
            DSPY_REFERENCE["sync_consumer_s"],
            REFERENCE_NOTE,
            1 / 4,
            ">= 4x cheaper",
        ),
        (
            "sync consumer, per item (apply_sync_streaming)",
            _median(_get(document, "channel.async_to_sync_apply[16]")),
            "DSPy 14 us *",
            DSPY_REFERENCE["sync_consumer_s"],
            REFERENCE_NOTE,
            1 / 4,
            ">= 4x cheaper",
        ),
    ]
    per_chunk = listener.get("per_chunk", {})
    for fmt in _FORMATS:
        value = per_chunk.get(fmt, {}).get("per_chunk_s")
        specs.append(
            (
                f"listener per chunk, {fmt}, long field",
                value,
                "DSPy 17.9 us *",
                DSPY_REFERENCE["listener_chunk_s"],
                REFERENCE_NOTE,
                1 / 12,
                ">= 12x faster",
            )
        )
    out = []
    for name, value, ref_name, ref, ref_kind, limit, goal_text in specs:
        ratio = _ratio(value, ref)
        if ratio is None:
            verdict = "not measured"
        elif limit == 0.0:
            verdict = "info"
        else:
            verdict = "met" if ratio <= limit else "SHORT"
        out.append(
            {
                "goal": name,
                "measured_s": value,
                "reference": ref_name.rstrip(" *"),
                "reference_s": ref,
                "reference_kind": ref_kind,
                "ratio": ratio,
                "limit": limit,
                "goal_text": goal_text,
                "verdict": verdict,
            }
        )
    return out


def _smallest_within(
    figures: dict[int, float], tolerance: float, slack: float = 0.0
) -> Optional[int]:
    if not figures:
        return None
    best = min(figures.values())
    return min(size for size, value in figures.items() if value <= best * (1 + tolerance) + slack)


def _product_score(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    """Per buffer size: (a / best a) x (b / best b), over the sizes both measured."""
    sizes = [size for size in a if size in b]
    if not sizes:
        return {}
    best_a = min(a[size] for size in sizes)
    best_b = min(b[size] for size in sizes)
    return {size: (a[size] / best_a) * (b[size] / best_b) for size in sizes}


def recommend(document: Doc, rows: list[Doc]) -> list[Doc]:
    out = []
    for workload, rule in RULES.items():
        entry: Doc = {"workload": workload, "path": rule["path"], "rule": rule["rule"]}
        kind = rule["kind"]
        chosen: Optional[int] = None
        evidence: Doc = {}
        if kind in ("throughput", "latency_x_cost"):
            cost = {
                r["buffer_size"]: r["per_item_s"]
                for r in rows
                if r["path"] == rule["path"] and r["per_item_s"]
            }
            evidence["per_item_s"] = cost
            if kind == "throughput":
                chosen = _smallest_within(cost, rule["tolerance"])
            else:
                p99 = {
                    r["buffer_size"]: r["latency_p99_s"]
                    for r in rows
                    if r["path"] == rule["path"] and r["latency_p99_s"]
                }
                evidence["latency_p99_s"] = p99
                score = _product_score(p99, cost)
                if score:
                    evidence["score"] = score
                    chosen = _smallest_within(score, rule["tie"])
        elif kind == "short_stream":
            first, whole = {}, {}
            for figure in _get(document, "first_item").get("per_buffer_size", []):
                first[figure["buffer_size"]] = figure["first_item"]["p50"]
                whole[figure["buffer_size"]] = figure["whole_stream"]["p50"]
            evidence["first_item_p50_s"] = first
            evidence["whole_stream_p50_s"] = whole
            score = _product_score(first, whole)
            if score:
                evidence["score"] = score
                chosen = _smallest_within(score, rule["tie"])
        entry["buffer_size"] = chosen
        entry["evidence"] = {k: {str(s): v for s, v in d.items()} for k, d in evidence.items()}
        if chosen is None:
            entry["reason"] = "not enough measurements"
        out.append(entry)
    return out


def analyse(document: Doc) -> Doc:
    meta = document["meta"]
    meta.setdefault("channel_paths", list(BASELINE_OF_PATH))
    rows = channel_rows(document)
    listener = listener_figures(document)
    optional = {}
    for name in ("anyio_memory_stream", "janus", "culsans"):
        result = _get(document, f"{name}[16]")
        if result.get("status") == "measured":
            optional[name] = {
                "status": "measured",
                "version": result.get("version"),
                "path": result.get("path"),
                "buffer_size": result.get("buffer_size"),
                "per_item_s": _median(result),
            }
        else:
            optional[name] = {"status": result.get("status") or result.get("error", "error")}
    return {
        "channels": rows,
        "optional_baselines": optional,
        "memory_flatness": memory_flatness(document),
        "listener": listener,
        "goals": goals(document, listener),
        "recommendations": recommend(document, rows),
    }


# ---------------------------------------------------------------------------- rendering
def _table(headers: list[str], rows: list[list[str]], align: str) -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]

    def fmt(cells: list[str]) -> str:
        parts = []
        for cell, width, a in zip(cells, widths, align):
            parts.append(cell.ljust(width) if a == "l" else cell.rjust(width))
        return "  ".join(parts).rstrip()

    lines = [fmt(headers), fmt(["-" * w for w in widths])]
    lines += [fmt(row) for row in rows]
    return ["  " + line for line in lines]


def _range(low: Optional[float], high: Optional[float]) -> str:
    if low is None or high is None:
        return "-"
    return f"{low * 1e6:.2f}-{high * 1e6:.2f}"


def _spread(result: Doc) -> str:
    t = result.get("throughput", {})
    return _range(t.get("min"), t.get("max"))


def render(document: Doc) -> str:
    meta = document["meta"]
    settings = meta["settings"]
    lines = [
        f"streamify {meta['streamify_version']} benchmarks, {meta['mode']} mode: "
        f"{meta['implementation']} {meta['python']}, {meta['platform']}, "
        f"{meta['cpu_count']} CPUs, {meta['date']}",
        f"Each case in its own process; medians over {settings['repeats']} repeats "
        f"(latency: {settings['latency_repeats']}), spread = min-max over the repeats. "
        "Times in microseconds (us).",
        f"Machine load (1/5/15-min load average) at start {meta.get('load_average_at_start')}, "
        f"at end {meta.get('load_average_at_end')}: other work on the machine shows here.",
        "",
        "Raw baselines (per item, fast consumer)",
    ]
    rows = []
    baseline_keys = [
        ("raw async generator (the CPython limit)", "raw_async_generator"),
        ("raw loop.call_soon_threadsafe per item, thread -> loop", "raw_call_soon_threadsafe"),
    ]
    baseline_keys += [
        (f"raw asyncio.Queue({s}), task -> task", f"raw_asyncio_queue[{s}]")
        for s in meta["buffer_sizes"]
    ]
    baseline_keys += [
        (f"raw queue.Queue({s}), thread -> thread", f"raw_thread_queue[{s}]")
        for s in meta["buffer_sizes"]
    ]
    for label, key in baseline_keys:
        result = _get(document, key)
        rows.append([label, _us(_median(result), 3), _spread(result)])
    lines += _table(["baseline", "us/item", "min-max"], rows, "lrr")

    lines += ["", "Optional baselines at buffer 16, side by side (never required)"]
    rows = []
    stream16 = {
        "async -> async": _median(_get(document, "channel.async_to_async[16]")),
        "thread -> async": _median(_get(document, "channel.thread_to_async[16]")),
    }
    for name, info in document["optional_baselines"].items():
        if info["status"] != "measured":
            rows.append([name, "-", info["status"], "-", "-"])
            continue
        ours = stream16.get(info["path"])
        rows.append(
            [
                f"{name} {info['version'] or ''}".strip(),
                info["path"],
                _us(info["per_item_s"], 3),
                _us(ours, 3),
                f"{ours / info['per_item_s']:.2f}x" if ours and info["per_item_s"] else "-",
            ]
        )
    lines += _table(
        ["library", "path", "us/item", "streamify us/item", "streamify/lib"], rows, "llrrr"
    )

    work = settings["work_us"]
    lines += [
        "",
        "Channel paths by buffer_size: throughput with a fast consumer; latency (emit to "
        f"arrival) with a slow consumer busy-waiting {work} us per item; peak memory "
        "(tracemalloc, bytes) streaming to a slow consumer",
    ]
    for path in meta["channel_paths"]:
        rows = []
        for row in document["channels"]:
            if row["path"] != path:
                continue
            if row["error"]:
                rows.append([str(row["buffer_size"]), "error", row["error"][:60]])
                continue
            ratio = row["ratio_to_baseline"]
            rows.append(
                [
                    str(row["buffer_size"]),
                    _us(row["per_item_s"], 3),
                    _range(row["per_item_min_s"], row["per_item_max_s"]),
                    f"{ratio:.2f}x" if ratio is not None else "-",
                    _us(row["latency_p50_s"], 1),
                    _us(row["latency_p99_s"], 1),
                    _bytes(row["peak_memory_bytes"]),
                ]
            )
        baseline = BASELINE_OF_PATH[path].format(size="N").replace("[N]", "(same size)")
        lines += ["", f"  {PATH_LABEL[path]}   (vs = ratio to {baseline})"]
        lines += _table(
            ["buffer", "us/item", "min-max", "vs", "p50 lat", "p99 lat", "peak bytes"],
            rows,
            "rrrrrrr",
        )

    lines += ["", "Status messages (a sync @tool called in a loop: 2 messages per call)"]
    rows = []
    for label, key in (
        ("sync program (worker thread)", "status.sync"),
        ("async program, sync @tool", "status.async"),
        ("async program, async @tool", "status.async_tool"),
    ):
        result = _get(document, key)
        rows.append([label, _us(_median(result), 3), _spread(result)])
    lines += _table(["program", "us/message", "min-max"], rows, "lrr")

    first = _get(document, "first_item")
    lines += [
        "",
        "Short streams in a row on one event loop (a server): sync program, "
        f"{first.get('calls', '?')} tool calls = {first.get('status_messages_per_stream', '?')} "
        "status messages",
    ]
    rows = []
    for figure in first.get("per_buffer_size", []):
        rows.append(
            [
                str(figure["buffer_size"]),
                _us(figure["first_item"]["p50"], 1),
                _us(figure["first_item"]["p99"], 1),
                _us(figure["whole_stream"]["p50"], 1),
                str(figure["streams"]),
            ]
        )
    lines += _table(
        ["buffer", "first item p50", "first item p99", "whole stream p50", "streams"],
        rows,
        "rrrrr",
    )

    lines += [
        "",
        f"Memory while streaming to a slow consumer (busy-wait {settings['memory_work_us']} us "
        "per item): tracemalloc peak, bytes",
    ]
    rows = []
    for flat in document["memory_flatness"]:
        if flat["verdict"] == "not measured":
            rows.append([PATH_LABEL[flat["path"]], "-", "-", "-", "-", "not measured"])
            continue
        per_item = flat["bytes_per_buffered_item"]
        rows.append(
            [
                PATH_LABEL[flat["path"]],
                str(flat["buffer_size"]),
                "  ".join(f"{n:,}: {_bytes(b)}" for n, b in zip(flat["items"], flat["peak_bytes"])),
                f"{flat['growth_bytes']:+,}",
                f"{per_item:.0f}" if per_item is not None else "-",
                flat["verdict"],
            ]
        )
    lines += _table(
        ["path", "buffer", "items: peak bytes", "growth", "bytes/slot", "verdict"], rows, "lrlrrl"
    )
    lines.append(
        f"  flat = growth <= {FLAT_TOLERANCE_BYTES // 1024} KiB; bytes/slot = extra peak per "
        "buffer slot (buffer 1 vs 1024), an unbounded buffer would grow by that per item"
    )

    listener = document["listener"]
    lines += ["", "Token listener, cost per chunk on a long field"]
    if listener["status"] != "measured":
        lines.append(
            f"  not measured: {listener.get('reason')} "
            "(hook: benchmarks/bench_listener.py with run(quick) -> dict)"
        )
    elif not listener["per_chunk"]:
        lines.append("  bench_listener.run() gave no per_chunk figure (raw dict in the JSON)")
    else:
        rows = [
            [fmt, _us(v["per_chunk_s"], 3), v["from"]] for fmt, v in listener["per_chunk"].items()
        ]
        lines += _table(["format", "us/chunk", "from"], rows, "lrl")

    lines += ["", "Performance goals of the core issue (ratio = streamify / reference)"]
    rows = []
    for goal in document["goals"]:
        ratio = goal["ratio"]
        rows.append(
            [
                goal["goal"],
                _us(goal["measured_s"], 3),
                goal["reference"] + (" *" if goal["reference_kind"] == REFERENCE_NOTE else ""),
                _us(goal["reference_s"], 3),
                f"{ratio:.3f}" if ratio is not None else "-",
                goal["goal_text"],
                goal["verdict"],
            ]
        )
    lines += _table(
        ["goal", "us", "reference", "ref us", "ratio", "goal", "verdict"], rows, "lrlrrll"
    )
    lines.append(f"  * DSPy 3.4.1: {REFERENCE_NOTE}; the other references ran in this run.")

    lines += ["", "Recommended buffer_size per workload (computed from the figures above)"]
    for rec in document["recommendations"]:
        size = rec["buffer_size"]
        lines.append(f"  {rec['workload']}: buffer_size={size if size is not None else '?'}")
        lines.append(f"      rule: {rec['rule']}")
    lines.append(f"\nwall time: {meta.get('wall_seconds', 0):.1f} s")
    return "\n".join(lines)


def markdown(document: Doc) -> str:
    """The README's "Choosing buffer_size" table and recommendations, from one run."""
    meta = document["meta"]
    paths = ("async_to_async", "thread_to_async", "async_to_sync")
    by_key = {(row["path"], row["buffer_size"]): row for row in document["channels"]}
    headers = ["buffer_size"]
    for path in paths:
        headers += [f"{PATH_LABEL[path]} us/item", "p99 latency us"]
    headers.append("peak memory, async -> async (bytes)")
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" for _ in headers) + "|",
    ]
    for size in meta["buffer_sizes"]:
        cells = [str(size)]
        for path in paths:
            row = by_key.get((path, size), {})
            cells += [_us(row.get("per_item_s"), 2), _us(row.get("latency_p99_s"), 0)]
        cells.append(_bytes(by_key.get(("async_to_async", size), {}).get("peak_memory_bytes")))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Measured with `python benchmarks/run.py` ({meta['mode']} mode) on "
        f"{meta['cpu_count']} CPUs, {meta['implementation']} {meta['python']}, "
        f"{meta['date'][:10]}; p99 latency with a consumer that busy-waits "
        f"{meta['settings']['work_us']} us per item."
    )
    lines.append("")
    for rec in document["recommendations"]:
        size = rec["buffer_size"]
        lines.append(
            f"- **{rec['workload']}**: `buffer_size={size if size is not None else '?'}` "
            f"({rec['rule']})."
        )
    return "\n".join(lines)
