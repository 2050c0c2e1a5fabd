"""From the cases' figures to the goals, the ``buffer_size`` recommendations and the tables.

Nothing here measures: ``analyse(document)`` reads ``document["cases"]`` (as ``run.py``
writes it, or an earlier run's JSON) and returns the goals and recommendations.
"""

from __future__ import annotations

from typing import Any, Optional

Doc = dict[str, Any]
Figures = dict[str, dict[int, dict[str, Optional[float]]]]
PATHS = {  # path: (label, raw baseline of the same run)
    "async_to_async": ("async -> async", "raw_asyncio_queue[{size}]"),
    "thread_to_async": ("thread -> async", "raw_call_soon_threadsafe"),
    "async_to_sync": ("async -> sync", "raw_thread_queue[{size}]"),
    "async_to_sync_apply": ("async -> sync (apply_sync_streaming)", "raw_thread_queue[{size}]"),
}
TOLERANCE = 0.10  # sizes this close to the best score count as tied: run-to-run noise is ~5%
FLAT_BYTES = 64 * 1024  # an unbounded buffer would grow by megabytes over these streams
# The goals: wording -> (measured, reference, limit on measured / reference, limit's wording).
# Names are figures of goal_figures(); "dspy_*" are DSPy 3.4.1's figures quoted in the issue,
# not measured here.  A limit of 0 is for information.
GOALS = {
    "async emit -> async consumer, per item (buffer 16)": ("a2a", "queue", 1.0, "<= 1.0x"),
    "emit_sync from a worker thread, per item (buffer 16)": ("t2a", "threadsafe", 0.8, "<= 0.8x"),
    "status message from an async program (sync @tool)": ("status_async", "queue", 3.0, "<= 3x"),
    "status message from a sync program": ("status_sync", "dspy_status", 1 / 50, ">= 50x cheaper"),
    "first status message of a sync program, p50": ("first", "dspy_first", 1 / 5, ">= 5x sooner"),
    "  same, against a raw loop->thread->loop round trip": ("first", "round_trip", 0, "(info)"),
    "sync consumer, per item (async_streaming=False)": ("a2s", "dspy_sync", 0.25, ">= 4x cheaper"),
    "sync consumer, per item (apply_sync_streaming)": ("apply", "dspy_sync", 0.25, ">= 4x cheaper"),
    "listener per chunk, chat, long field": ("chat", "dspy_chunk", 1 / 12, ">= 12x faster"),
    "listener per chunk, json, long field": ("json", "dspy_chunk", 1 / 12, ">= 12x faster"),
    "listener per chunk, xml, long field": ("xml", "dspy_chunk", 1 / 12, ">= 12x faster"),
    "SSE frame, keepalive=15 vs none": ("sse_keepalive", "sse", 1.2, "keepalive/none <= 1.2"),
    "NDJSON frame, keepalive=15 vs none": ("nd_keepalive", "ndjson", 1.2, "keepalive/none <= 1.2"),
    "SSE over uvicorn, time per frame": ("http", "sse_starlette", 1 / 1.5, ">= 1.5x frames/s"),
    "  same, with keepalive": ("http_keepalive", "sse_starlette", 1 / 1.5, ">= 1.5x frames/s"),
    "run on a Redis log, per item": ("redis_run", "xadd", 3.0, "<= 3x pipelined XADD"),
}  # fmt: skip
REFERENCES = {
    "queue": "raw asyncio.Queue(16)", "threadsafe": "raw call_soon_threadsafe",
    "dspy_status": "DSPy 540 us *", "dspy_first": "DSPy 500 us p50 *", "dspy_sync": "DSPy 14 us *",
    "dspy_chunk": "DSPy 17.9 us *", "round_trip": "raw round trip p50", "sse": "no keepalive",
    "ndjson": "no keepalive", "sse_starlette": "sse-starlette", "xadd": "pipelined XADD",
}  # fmt: skip


def _at(value: Any, *keys: Any) -> Any:
    """``value[k1][k2]...``, or ``None`` where a key is missing (a case not run or failed)."""
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _median(document: Doc, key: str) -> Optional[float]:
    value: Optional[float] = _at(document, "cases", key, "throughput", "median")
    return value


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a is not None and b else None


def figures(document: Doc) -> Figures:
    """Per path and buffer size: ``per_item_s``, ``p99_s``, ``baseline_s``, ``peak_bytes``;
    under ``"first_item"``, per size: ``first_p50_s``, ``first_p99_s``, ``whole_p50_s``."""
    out: Figures = {}
    for path, (_, baseline) in PATHS.items():
        memory = _at(document, "cases", f"memory.{path}", "per_buffer_size") or []
        peaks = {f["buffer_size"]: f["peak_bytes"] for f in memory}
        out[path] = {}
        for size in document["meta"]["buffer_sizes"]:
            case = _at(document, "cases", f"channel.{path}[{size}]")
            out[path][size] = {
                "per_item_s": _at(case, "throughput", "median"),
                "p99_s": _at(case, "latency", "p99", "median"),
                "baseline_s": _median(document, baseline.format(size=size)),
                "peak_bytes": peaks.get(size),
            }
    out["first_item"] = {}
    for f in _at(document, "cases", "first_item", "per_buffer_size") or []:
        first, whole = f["first_item"], f["whole_stream"]
        row = {
            "first_p50_s": first["p50"],
            "first_p99_s": first["p99"],
            "whole_p50_s": whole["p50"],
        }
        out["first_item"][f["buffer_size"]] = row
    return out


# ---------------------------------------------------------------------------- recommendations
def _relative(values: dict[int, Optional[float]]) -> dict[int, float]:
    measured = {size: v for size, v in values.items() if v}
    best = min(measured.values(), default=0.0)
    return {size: v / best for size, v in measured.items()}


def _pick(workload: str, path: str, scores: dict[int, float], why: str) -> Doc:
    """The smallest size whose score (lower is better) is within TOLERANCE of the best: a
    smaller buffer holds fewer items and delays each less, so a tie goes to it."""
    if not scores:
        return {"workload": workload, "path": path, "buffer_size": None, "reason": "not measured"}
    best = min(scores, key=lambda s: (scores[s], s))
    size = min(s for s, score in scores.items() if score <= scores[best] * (1 + TOLERANCE))
    off = f"within {scores[size] / scores[best] - 1:.0%} of {best}" if size != best else "best"
    reason = f"smallest within 10% of the best {why}: {size} is {off}"
    return {"workload": workload, "path": path, "buffer_size": size, "reason": reason}


def recommend(figures: Figures) -> list[Doc]:
    """A ``buffer_size`` per workload, with the reason, from figures shaped as ``figures()``
    returns them (a missing figure gives ``None`` and the reason "not measured")."""

    def relative(path: str, figure: str) -> dict[int, float]:
        return _relative({s: f.get(figure) for s, f in figures.get(path, {}).items()})

    # Tokens reach a reader slower than the program (a network), so every waiting item is
    # late: a size must win as much on cost per item as it loses on p99 latency.
    cost, p99 = relative("async_to_async", "per_item_s"), relative("async_to_async", "p99_s")
    score = {s: cost[s] * p99[s] for s in cost if s in p99}
    why = "(p99 latency x cost per item)"
    out = [_pick("tokens to a web client", "async_to_async", score, why)]
    # Bulk items: the consumer keeps up, so throughput alone decides.
    for workload, path in (
        ("bulk items from a thread", "thread_to_async"),
        ("bulk items to a sync consumer", "async_to_sync"),
    ):
        out.append(_pick(workload, path, relative(path, "per_item_s"), "cost per item"))
    # Status only: short streams, whose first message matters as much as their end.
    first, whole = relative("first_item", "first_p50_s"), relative("first_item", "whole_p50_s")
    score = {s: first[s] * whole[s] for s in first if s in whole}
    why = "(first status p50 x whole stream p50)"
    return [*out, _pick("status only", "first_item", score, why)]


# ---------------------------------------------------------------------------- goals
def goal_figures(document: Doc) -> dict[str, Optional[float]]:
    """The figures the goals compare, by the names ``GOALS`` uses; seconds."""
    cases, fig = document["cases"], figures(document)
    frame = _at(cases, "encoder", "seconds_per_frame") or {}
    fps = _at(cases, "http", "frames_per_second") or {}
    values = {
        "queue": _median(document, "raw_asyncio_queue[16]"),
        "threadsafe": _median(document, "raw_call_soon_threadsafe"),
        "round_trip": _at(cases, "first_item", "raw_thread_round_trip", "p50"),
        "first": _at(fig, "first_item", 16, "first_p50_s"),
        "sse": frame.get("sse"), "ndjson": frame.get("ndjson"),
        "http": fps.get("streamify"), "http_keepalive": fps.get("streamify-keepalive"),
        "sse_starlette": fps.get("sse-starlette"),
        "redis_run": _at(cases, "runs", "redis", "run_s"),
        "xadd": _at(cases, "runs", "redis", "xadd_s"),
        "dspy_status": 540e-6, "dspy_first": 500e-6, "dspy_sync": 14e-6, "dspy_chunk": 17.9e-6,
    }  # fmt: skip
    # Keepalive's cost is the paired per-round ratio (see _measure.paired_ratio), as a time.
    paired = _at(cases, "encoder", "ratios") or {}
    for key, ratio, base in (("sse_keepalive", "sse_keepalive_vs_none", "sse"),
                             ("nd_keepalive", "ndjson_keepalive_vs_none", "ndjson")):  # fmt: skip
        values[key] = values[base] * paired[ratio] if values[base] and ratio in paired else None
    for key in ("http", "http_keepalive", "sse_starlette"):  # frames/s -> seconds per frame
        values[key] = 1 / values[key] if values[key] else None
    for name, key in (("a2a", "async_to_async"), ("t2a", "thread_to_async"),
                      ("a2s", "async_to_sync"), ("apply", "async_to_sync_apply")):  # fmt: skip
        values[name] = _median(document, f"channel.{key}[16]")
    for name in ("sync", "async"):
        values[f"status_{name}"] = _median(document, f"status.{name}")
    for fmt in ("chat", "json", "xml"):
        chunk = _at(cases, f"listener.{fmt}", "10000_tokens", "per_chunk_us")
        values[fmt] = chunk * 1e-6 if chunk else None
    return values


def goals(document: Doc) -> list[Doc]:
    """Each goal's ``ratio`` (measured / reference) and verdict: ``met`` at most its limit,
    ``SHORT`` above it, ``info`` for information, ``not measured`` without a figure."""
    values, out = goal_figures(document), []
    for goal, (name, reference, limit, text) in GOALS.items():
        ratio = _ratio(values[name], values[reference])
        verdict = "met" if ratio is not None and ratio <= limit else "SHORT"
        verdict = "not measured" if ratio is None else "info" if not limit else verdict
        out.append({"goal": goal, "measured_s": values[name], "reference": REFERENCES[reference],
                    "reference_s": values[reference], "ratio": ratio, "limit": limit,
                    "goal_text": text, "verdict": verdict})  # fmt: skip
    return out


def analyse(document: Doc) -> Doc:
    """``{"goals": [...], "recommendations": [...]}`` computed from ``document["cases"]``."""
    return {"goals": goals(document), "recommendations": recommend(figures(document))}


# ---------------------------------------------------------------------------- rendering
def _us(seconds: Optional[float], digits: int = 2) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:.{digits}f}"


def _table(title: str, headers: list[str], rows: list[list[str]]) -> list[str]:
    """A titled table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(c) for c in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        cells = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  " + "  ".join(cells).rstrip()

    return ["", title, line(headers), line(["-" * w for w in widths]), *map(line, rows)]


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if not isinstance(value, dict):
        return [(path, value)]
    return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}".strip("."))]


def _shown(path: str, value: Any) -> str:
    """A figure by the unit its name gives: ``_s`` in us, ``_us`` / ``_ns`` as they are,
    ratios (``vs``, ``ratio``, ``flatness``) with an x."""
    if not isinstance(value, float):
        return str(value)
    for name in reversed(path.split(".")):
        if name.endswith("_s") or name.startswith("seconds"):
            return f"{value * 1e6:.3f} us"
        if name.endswith(("_us", "_ns")):
            return f"{value:,.3f} {name[-2:]}"
        if "vs" in name or "ratio" in name or "flatness" in name:
            return f"{value:.2f}x"
    return f"{value:,.0f}"


def _core_tables(document: Doc) -> list[str]:
    fig, work = figures(document), _at(document, "meta", "settings", "work_us")
    rows = [[key, _us(_median(document, key), 3)] for key in document["cases"] if key[:4] == "raw_"]
    lines = _table("Raw baselines (fast consumer)", ["baseline", "us/item"], rows)
    headers = ["buffer", "us/item", "vs raw", "p99 us", "peak bytes"]
    for path, (label, baseline) in PATHS.items():
        rows = []
        for size, f in fig[path].items():
            ratio = _ratio(f["per_item_s"], f["baseline_s"])
            peak = "-" if f["peak_bytes"] is None else f"{f['peak_bytes']:,}"
            vs = "-" if ratio is None else f"{ratio:.2f}x"
            rows.append([str(size), _us(f["per_item_s"], 3), vs, _us(f["p99_s"], 1), peak])
        title = f"{label} (vs {baseline.format(size='same size')}; p99: consumer busy {work} us)"
        lines += _table(title, headers, rows)
    rows = [[key, _us(_median(document, key), 3)] for key in document["cases"] if "status." in key]
    lines += _table("Status messages (a @tool in a loop: 2 per call)", ["program", "us"], rows)
    rows = [[str(s), *(_us(v, 1) for v in f.values())] for s, f in fig["first_item"].items()]
    headers = ["buffer", "first p50 us", "first p99 us", "whole p50 us"]
    lines += _table("Short streams of a sync program (8 status messages) in a row", headers, rows)
    rows = []
    for path, (label, _) in PATHS.items():
        runs = _at(document, "cases", f"memory.{path}", "flat", "runs") or [{}]
        growth = runs[-1].get("peak_bytes", 0) - runs[0].get("peak_bytes", 0)
        peaks = "  ".join(f"{r['items']:,}: {r['peak_bytes']:,}" for r in runs if r)
        verdict = "flat" if growth <= FLAT_BYTES else "GROWS"
        rows.append([label, peaks or "not measured", f"{growth:+,}", verdict])
    title = "Memory by stream length, buffer 16 (tracemalloc peak, bytes)"
    return lines + _table(title, ["path", "items: peak", "growth", "verdict"], rows)


def render(document: Doc) -> str:
    """The terminal report of a run: the tables, the goals and the recommendations."""
    meta, cases = document["meta"], document["cases"]
    lines = [
        f"streamify {meta.get('streamify_version')} benchmarks, {meta['mode']} mode, "
        f"{meta.get('implementation', '')} {meta['python']}, {meta['platform']}, "
        f"{meta['cpu_count']} CPUs, {meta['date']}; load average (1/5/15 min) "
        f"{meta.get('load_average_at_start')} at start, {meta.get('load_average_at_end')} at end"
    ]
    for key, case in cases.items():
        if "error" in case or case.get("status", "measured") != "measured":
            lines.append(
                f"  {key}: {case.get('error') or case['status']} {case.get('package', '')}"
            )
    lines += _core_tables(document)
    for key, case in cases.items():
        if key.startswith(("listener.", "lm_chunks", "partial_json.", "encoder", "http", "runs")):
            rows = [[path, _shown(path, v)] for path, v in _leaves(case) if path != "case"]
            lines += _table(f"{key} (medians)", ["figure", "value"], rows)
    rows = []
    for g in document["goals"]:
        ratio = "-" if g["ratio"] is None else f"{g['ratio']:.3f}"
        rows.append([g["goal"], _us(g["measured_s"], 3), g["reference"], _us(g["reference_s"], 3)])
        rows[-1] += [ratio, g["goal_text"], g["verdict"]]
    headers = ["goal", "us", "reference", "ref us", "ratio", "goal", "verdict"]
    lines += _table("Performance goals (ratio = measured / reference)", headers, rows)
    lines += ["  * DSPy 3.4.1's figures quoted in the issue, not measured here", ""]
    lines.append("Recommended buffer_size per workload")
    for rec in document["recommendations"]:
        lines.append(f"  {rec['workload']}: {rec['buffer_size']}  ({rec['reason']})")
    return "\n".join([*lines, "", f"wall time: {meta.get('wall_seconds', 0):.1f} s"])


def markdown(document: Doc) -> str:
    """The table of docs/buffer-size.md and the recommendations, from one run."""
    fig, paths = figures(document), ("async_to_async", "thread_to_async", "async_to_sync")
    headers = ["buffer_size"] + [h for p in paths for h in (f"{PATHS[p][0]} us/item", "p99 us")]
    lines = ["| " + " | ".join([*headers, "peak memory, async -> async (bytes)"]) + " |"]
    lines.append("|" + "---:|" * (len(headers) + 1))
    for size in document["meta"]["buffer_sizes"]:
        cells = [str(size)]
        for path in paths:
            cells += [_us(fig[path][size]["per_item_s"]), _us(fig[path][size]["p99_s"], 0)]
        peak = fig["async_to_async"][size]["peak_bytes"]
        lines.append("| " + " | ".join([*cells, "-" if peak is None else f"{peak:,}"]) + " |")
    lines.append("")
    for rec in document["recommendations"]:
        size, reason = rec["buffer_size"], rec["reason"]
        lines.append(f"- **{rec['workload']}**: `buffer_size={size}` ({reason}).")
    return "\n".join(lines)
