"""streamify's benchmarks: one command, each case in a process of its own, one JSON, one report.

    python benchmarks/run.py --quick --json out.json   # about a minute on 2 cores
    python benchmarks/run.py --json out.json           # thorough: a few minutes
    python benchmarks/run.py --only channel status     # the cases whose key holds a NAME
    python benchmarks/run.py --from-json out.json --markdown   # report an earlier run again

A case is a function ``case_NAME(params, settings) -> dict`` in ``cases_core.py`` (baselines,
channel paths, status messages, memory), ``cases_text.py`` (listener, ``@lm`` chunks, partial
JSON) or ``cases_web.py`` (encoders, protocols, HTTP, runs); the dict holds its figures, each a
median over repeats beside a raw baseline timed in the same run.  Each case runs in a fresh
interpreter (``run.py --case``): it costs about 0.2 s a case and no lines, and keeps one
case's garbage, threads, caches and event loop out of the next one's figures.  Baselines run
next to the cases they are compared with, so that a slow patch of the machine hits both.  A
case that fails is recorded as ``{"error": ...}`` and the run exits with status 1; a missing
optional peer (sse-starlette, redis-server, jiter, an SDK) is recorded, never an error.

``_report.py`` turns the cases into the goals, the ``buffer_size`` recommendations and the
tables; ``--json`` writes the cases, the machine's description, goals and recommendations.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import _report  # noqa: E402

RESULT = "STREAMIFY-BENCH-RESULT "
BUFFER_SIZES = (1, 4, 16, 64, 256, 1024)
PATHS = ("async_to_async", "thread_to_async", "async_to_sync", "async_to_sync_apply")
QUICK = {
    "target_s": 0.03, "n_min": 1000, "n_max": 1_000_000, "repeats": 5,  # throughput
    "latency_items": 2000, "latency_repeats": 5, "work_us": 5,  # slow consumer: busy 5 us
    "memory_work_us": 2, "memory_flat_items": [10_000, 100_000], "memory_per_size_items": 5000,
    "first_item_rounds": 150, "first_item_warmup": 20, "listener_repeats": 5, "lm_rounds": 7,
    "lm_tokens": 500, "json_repeats": 3, "json_sizes": [1000, 100_000], "encoder_items": 5000,
    "encoder_rounds": 5, "http_items": 5000, "http_repeats": 3, "ttfb_requests": 15,
    "runs_items": 2000, "runs_repeats": 3, "case_timeout_s": 120,
    "buffer_sizes": list(BUFFER_SIZES), "listener_tokens": [10_000, 40_000],
}  # fmt: skip
MODES: dict[str, dict[str, Any]] = {"quick": QUICK, "thorough": {**QUICK,
    "target_s": 0.2, "n_min": 2000, "n_max": 5_000_000, "repeats": 11, "latency_items": 10_000,
    "latency_repeats": 7, "memory_flat_items": [10_000, 100_000, 1_000_000],
    "memory_per_size_items": 20_000, "first_item_rounds": 1000, "first_item_warmup": 50,
    "listener_repeats": 15, "lm_rounds": 25, "lm_tokens": 2000, "json_repeats": 7,
    "json_sizes": [1000, 10_000, 100_000, 1_000_000], "encoder_items": 20_000,
    "encoder_rounds": 9, "http_items": 50_000, "http_repeats": 7, "ttfb_requests": 50,
    "runs_items": 10_000, "runs_repeats": 7, "case_timeout_s": 900,
}}  # fmt: skip


def plan(mode: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every case of a run as ``(key, "module.function", params)``, in running order: the
    baselines beside the cases compared with them, buffer size by buffer size."""
    core, text = "cases_core.case_", "cases_text.case_"
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("raw_async_generator", core + "raw_async_generator", {})
    ]
    for size in BUFFER_SIZES:
        if size == 16:
            cases.append(("raw_call_soon_threadsafe", core + "raw_call_soon_threadsafe", {}))
        for raw in ("raw_asyncio_queue", "raw_thread_queue"):
            cases.append((f"{raw}[{size}]", core + raw, {"buffer_size": size}))
        for path in PATHS:
            params = {"path": path, "buffer_size": size}
            cases.append((f"channel.{path}[{size}]", core + "channel", params))
    for program in ("sync", "async", "async_tool"):
        cases.append((f"status.{program}", core + "status", {"program": program}))
    cases.append(("first_item", core + "first_item", {}))
    cases += [(f"memory.{path}", core + "memory", {"path": path}) for path in PATHS]
    for fmt in ("chat", "json", "xml"):
        cases.append((f"listener.{fmt}", text + "listener", {"format": fmt}))
    cases.append(("listener.short", text + "listener", {"format": "chat", "field_tokens": [20]}))
    cases.append(("lm_chunks", text + "lm_chunks", {}))
    cases += [
        (f"partial_json.{s}", text + "partial_json", {"shape": s}) for s in ("records", "string")
    ]
    return cases + [(name, f"cases_web.case_{name}", {}) for name in ("encoder", "http", "runs")]


def run_case(name: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One case in a fresh interpreter: its dict, or ``{"error": ...}``."""
    command = [sys.executable, str(HERE / "run.py"), "--case", name, json.dumps(params)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]))
    env.pop("PYTHONASYNCIODEBUG", None)  # users' loops are not in debug mode
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=str(ROOT), env=env, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT):
            result: dict[str, Any] = json.loads(line[len(RESULT) :])
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
    return {"error": f"exit status {done.returncode}: " + " | ".join(tail)}


def child(name: str, params_json: str) -> int:
    """``--case``: run ``module.function`` here and print its dict as one JSON line."""
    import importlib

    module, function = name.rsplit(".", 1)
    params = json.loads(params_json)
    result = getattr(importlib.import_module(module), function)(params, params.pop("settings"))
    print(RESULT + json.dumps(result), flush=True)
    return 0


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def measure(mode: str, only: list[str] | None) -> dict[str, Any]:
    """Every case of ``mode`` (those whose key contains one of ``only``), with the machine."""
    import streamify

    started = time.perf_counter()
    now = datetime.datetime.now(datetime.timezone.utc)
    meta: dict[str, Any] = {"mode": mode, "date": now.isoformat("T", "seconds"),
            "python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "load_average_at_start": _load(), "streamify_version": streamify.__version__,
            "settings": MODES[mode], "buffer_sizes": list(BUFFER_SIZES)}  # fmt: skip
    cases: dict[str, Any] = {}
    todo = [c for c in plan(mode) if only is None or any(word in c[0] for word in only)]
    if not todo:
        raise SystemExit(f"no case's key holds any of {only}; see plan() in run.py")
    for index, (key, name, params) in enumerate(todo, 1):
        if sys.stderr.isatty():
            print(f"\r\033[K[{index}/{len(todo)}] {key} ...", end="", file=sys.stderr)
        start = time.perf_counter()
        settings = MODES[mode]
        result = run_case(name, dict(params, settings=settings), settings["case_timeout_s"])
        cases[key] = {"case": name, **result, "seconds": round(time.perf_counter() - start, 2)}
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr)
    meta["load_average_at_end"] = _load()
    meta["wall_seconds"] = round(time.perf_counter() - started, 1)
    return {"meta": meta, "cases": cases}


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring.  Exit status 1 when a case failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats: about a minute")
    parser.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="the cases whose key holds NAME")
    parser.add_argument("--from-json", metavar="PATH", help="measure nothing: report this run")
    parser.add_argument("--markdown", action="store_true", help="print the buffer_size table")
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        return child(*args.case)
    if args.from_json:
        document = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
    else:
        document = measure("quick" if args.quick else "thorough", args.only)
    document.update(_report.analyse(document))
    print(_report.render(document))
    if args.markdown:
        print("\n" + _report.markdown(document))
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    failed = [key for key, case in document["cases"].items() if "error" in case]
    if failed:
        print(f"\n{len(failed)} case(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
