"""streamify's benchmark suite: one command, every case in a process of its own.

    python benchmarks/run.py --quick --json out.json    # under a minute on 2 cores
    python benchmarks/run.py --json out.json            # thorough: a few minutes
    python benchmarks/run.py --from-json out.json --markdown   # report an earlier run again,
                                                       # with the README's buffer_size table

What it measures (see ``_cases.py`` for how):

* raw baselines, in the same run: an async generator, ``asyncio.Queue(buffer_size)``,
  ``loop.call_soon_threadsafe`` per item (thread -> loop), ``queue.Queue(buffer_size)``
  (thread -> thread), and, when installed (never required), anyio memory object streams,
  janus and culsans;
* each channel path (async -> async, worker thread -> async, async -> sync, and
  ``apply_sync_streaming``) at buffer sizes 1, 4, 16, 64, 256 and 1024: throughput with a fast
  consumer, per-item latency p50/p99 with a slow consumer, peak memory;
* status messages from sync and async programs, time to the first status message,
  memory flatness over the stream's length, and the token listener (its own
  ``bench_listener.py``, when present).

It prints tables, the core's performance goals as ratios marked ``met`` or ``SHORT``, and a
``buffer_size`` recommendation per workload computed from the figures by the rules printed
with it.  ``--json`` writes every figure, the rules and the recommendations.

Every ``bench_*.py`` module beside this file that defines ``run(quick: bool = False) -> dict``
and ``print_report(result: dict) -> None`` runs too, after the core cases (``--only`` filters
them by name); its result goes under ``"modules"`` in the JSON, keyed by the file's name, and
its report is printed after the core's.  A module that raises is recorded as an error.

Internally, ``run.py --case NAME --params JSON`` runs one case and prints its result as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _entry in (str(ROOT), str(HERE)):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

import _report  # noqa: E402

if TYPE_CHECKING:
    from types import ModuleType

RESULT_PREFIX = "STREAMIFY-BENCH-RESULT "
BUFFER_SIZES = (1, 4, 16, 64, 256, 1024)
DEFAULT_BUFFER_SIZE = 16
CHANNEL_PATHS = ("async_to_async", "thread_to_async", "async_to_sync", "async_to_sync_apply")
MEMORY_PATHS = CHANNEL_PATHS

MODES: dict[str, dict[str, Any]] = {
    "quick": {
        "target_s": 0.03,  # one throughput repeat lasts about this long
        "n_min": 1000,
        "n_max": 1_000_000,
        "repeats": 5,
        "latency_items": 2000,
        "latency_repeats": 5,
        "work_us": 5,  # slow consumer's busy-wait per item, latency cases
        "memory_work_us": 2,  # slow consumer's busy-wait per item, memory cases
        "memory_flat_items": [10_000, 100_000],
        "memory_per_size_items": 5000,
        "first_item_rounds": 150,
        "first_item_warmup": 20,
        "case_timeout_s": 120,
    },
    "thorough": {
        "target_s": 0.2,
        "n_min": 2000,
        "n_max": 5_000_000,
        "repeats": 11,
        "latency_items": 10_000,
        "latency_repeats": 7,
        "work_us": 5,
        "memory_work_us": 2,
        "memory_flat_items": [10_000, 100_000, 1_000_000],
        "memory_per_size_items": 20_000,
        "first_item_rounds": 1000,
        "first_item_warmup": 50,
        "case_timeout_s": 900,
    },
}


def plan(mode: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every case of a run as ``(key, case name, params)``, in running order.

    Baselines run next to the streamify cases they are compared with, buffer size by
    buffer size, so that a slow patch of the machine hits both.
    """
    settings = MODES[mode]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("raw_async_generator", "raw_async_generator", {}),
    ]
    for size in BUFFER_SIZES:
        if size == DEFAULT_BUFFER_SIZE:  # the size-free and optional baselines sit here
            cases.append(("raw_call_soon_threadsafe", "raw_call_soon_threadsafe", {}))
            for name in ("anyio_memory_stream", "janus", "culsans"):
                cases.append((f"{name}[{size}]", name, {"buffer_size": size}))
        cases.append((f"raw_asyncio_queue[{size}]", "raw_asyncio_queue", {"buffer_size": size}))
        cases.append((f"raw_thread_queue[{size}]", "raw_thread_queue", {"buffer_size": size}))
        for path in CHANNEL_PATHS:
            params = {"path": path, "buffer_size": size}
            cases.append((f"channel.{path}[{size}]", "channel", params))
    for program in ("sync", "async", "async_tool"):
        cases.append(
            (
                f"status.{program}",
                "status",
                {"program": program, "buffer_size": DEFAULT_BUFFER_SIZE},
            )
        )
    cases.append(("first_item", "first_item", {"buffer_sizes": list(BUFFER_SIZES), "calls": 4}))
    for path in MEMORY_PATHS:
        cases.append(
            (
                f"memory.{path}",
                "memory",
                {
                    "path": path,
                    "flat_buffer_size": DEFAULT_BUFFER_SIZE,
                    "flat_items": settings["memory_flat_items"],
                    "buffer_sizes": list(BUFFER_SIZES),
                    "per_size_items": settings["memory_per_size_items"],
                },
            )
        )
    cases.append(("listener", "listener", {"quick": mode == "quick"}))
    return cases


def case_keys(mode: str = "quick") -> list[str]:
    """The keys of ``"cases"`` in the JSON, the same in both modes."""
    return [key for key, _, _ in plan(mode)]


# ---------------------------------------------------------------------------- running
def run_in_subprocess(name: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one case in a fresh interpreter; a failure becomes ``{"error": ...}``."""
    command = [sys.executable, str(Path(__file__).resolve()), "--case", name]
    command += ["--params", json.dumps(params)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT), check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
    return {"error": f"exit status {done.returncode}: " + " | ".join(tail)}


def child_main(name: str, params_json: str) -> int:
    import _cases

    params = json.loads(params_json)
    result = _cases.run_case(name, params)
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def _progress(text: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + text)
        sys.stderr.flush()


def run_all(mode: str, only: str | None) -> dict[str, Any]:
    settings = MODES[mode]
    cases = plan(mode)
    results: dict[str, Any] = {}
    started = time.perf_counter()
    for index, (key, name, params) in enumerate(cases, 1):
        if only is not None and only not in key:
            results[key] = {"case": name, "params": params, "skipped": f"--only {only}"}
            continue
        _progress(f"[{index}/{len(cases)}] {key} ...")
        child_params = dict(params, settings=settings)
        case_start = time.perf_counter()
        result = run_in_subprocess(name, child_params, settings["case_timeout_s"])
        result = {"case": name, "params": params, **result}
        result["subprocess_seconds"] = round(time.perf_counter() - case_start, 3)
        results[key] = result
    _progress("")
    return {
        "cases": results,
        "cases_wall_seconds": round(time.perf_counter() - started, 3),
    }


def discover(folder: Path = HERE) -> dict[str, ModuleType]:
    """The ``bench_*.py`` modules of ``folder`` that define ``run(quick)`` and
    ``print_report(result)``, imported by file (a module without both is left alone, unread
    past its source text, so its optional dependencies are never imported here)."""
    found: dict[str, ModuleType] = {}
    for path in sorted(folder.glob("bench_*.py")):
        source = path.read_text(encoding="utf-8")
        if "\ndef run(" not in source or "\ndef print_report(" not in source:
            continue
        spec = importlib.util.spec_from_file_location(f"_streamify_{path.stem}", path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found[path.stem] = module
    return found


def run_modules(modules: dict[str, ModuleType], quick: bool) -> dict[str, Any]:
    """Each module's ``run(quick=...)`` result, or ``{"error": ...}`` if it raised."""
    results: dict[str, Any] = {}
    for name, module in modules.items():
        _progress(f"{name} ...")
        try:
            results[name] = module.run(quick=quick)
        except Exception as exc:  # recorded and reported: one module cannot stop the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    _progress("")
    return results


def print_modules(modules: dict[str, ModuleType], results: dict[str, Any]) -> None:
    for name, result in results.items():
        print(f"\n## {name}")
        if "error" in result:
            print(f"failed: {result['error']}")
        elif name in modules:
            modules[name].print_report(result)


def _load_average() -> list[float] | None:
    """The machine's 1/5/15-minute load: other work running beside the benchmarks."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def metadata(mode: str) -> dict[str, Any]:
    try:
        import streamify

        version = streamify.__version__
        location = str(Path(streamify.__file__).resolve().parent)
    except Exception as exc:  # reported, the children will fail loudly
        version, location = f"import failed: {exc!r}", ""
    return {
        "mode": mode,
        "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": _load_average(),
        "streamify_version": version,
        "streamify_location": location,
        "settings": MODES[mode],
        "buffer_sizes": list(BUFFER_SIZES),
        "channel_paths": list(CHANNEL_PATHS),
        "default_buffer_size": DEFAULT_BUFFER_SIZE,
        "units": "times in seconds, memory in bytes",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="streamify benchmarks", formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats: under a minute")
    parser.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    parser.add_argument("--only", metavar="TEXT", help="run only the cases whose key contains it")
    parser.add_argument(
        "--from-json",
        metavar="PATH",
        help="measure nothing: report (and re-analyse) the figures of an earlier --json run",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="also print the README's buffer_size table"
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        return child_main(args.case, args.params)

    if args.from_json:
        document = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        document.update(_report.analyse(document))
    else:
        mode = "quick" if args.quick else "thorough"
        wall_start = time.perf_counter()
        document = {"meta": metadata(mode)}
        document.update(run_all(mode, args.only))
        modules = discover()
        if args.only is not None:
            modules = {name: m for name, m in modules.items() if args.only in name}
        document["modules"] = run_modules(modules, quick=mode == "quick")
        document.update(_report.analyse(document))
        document["meta"]["load_average_at_end"] = _load_average()
        document["meta"]["wall_seconds"] = round(time.perf_counter() - wall_start, 3)
    print(_report.render(document))
    print_modules(discover() if args.from_json else modules, document.get("modules", {}))
    if args.markdown:
        print("\n" + _report.markdown(document))
    if args.json:
        path = Path(args.json)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {path}")
    failed = [key for key, value in document["cases"].items() if "error" in value]
    failed += [key for key, value in document.get("modules", {}).items() if "error" in value]
    if failed:
        print(f"\n{len(failed)} case(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
