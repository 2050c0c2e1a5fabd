"""The benchmark suite runs end to end and writes every figure; nothing here is about timing.

``benchmarks/run.py --quick --json PATH`` runs in a subprocess, as a user would run it (in CI
the run ``.ci/run`` made, named by ``STREAMIFY_BENCH_JSON``, is read instead: the benchmarks
run once), and the JSON is checked for its shape: every case, no case errored, a
``buffer_size`` on every channel figure, a verdict per goal and a reason per recommendation.
No figure is compared with a number: the machine running the tests may be as slow as it likes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUFFER_SIZES = (1, 4, 16, 64, 256, 1024)
PATHS = ("async_to_async", "thread_to_async", "async_to_sync", "async_to_sync_apply")
EXPECTED_CASES = {
    "raw_async_generator", "raw_call_soon_threadsafe", "status.sync", "status.async",
    "status.async_tool", "first_item", "listener.chat", "listener.json", "listener.xml",
    "listener.short", "lm_chunks", "partial_json.records", "partial_json.string", "encoder",
    "http", "runs",
    *(f"raw_asyncio_queue[{size}]" for size in BUFFER_SIZES),
    *(f"raw_thread_queue[{size}]" for size in BUFFER_SIZES),
    *(f"channel.{path}[{size}]" for path in PATHS for size in BUFFER_SIZES),
    *(f"memory.{path}" for path in PATHS),
}  # fmt: skip
WORKLOADS = {
    "tokens to a web client",
    "bulk items from a thread",
    "bulk items to a sync consumer",
    "status only",
}


def _required(what: str) -> bool:
    return os.environ.get(f"STREAMIFY_REQUIRE_{what}", "") not in ("", "0")


def _run_quick(out: Path) -> dict[str, Any]:
    """The JSON of a quick run: CI's own run (``STREAMIFY_BENCH_JSON``), else a new one."""
    if os.environ.get("STREAMIFY_BENCH_JSON"):
        out = Path(os.environ["STREAMIFY_BENCH_JSON"])
        document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return document
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=170,
        cwd=str(ROOT),
        check=False,
    )
    assert done.returncode == 0, f"run.py failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return dict(json.loads(out.read_text(encoding="utf-8")))


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_run_writes_every_case_goal_and_recommendation(tmp_path: Path) -> None:
    document = _run_quick(tmp_path / "bench.json")
    cases: dict[str, Any] = document["cases"]

    assert set(cases) == EXPECTED_CASES
    assert {key: case["error"] for key, case in cases.items() if "error" in case} == {}
    meta = document["meta"]
    for field in ("python", "platform", "cpu_count", "load_average_at_start", "date", "mode"):
        assert meta[field] is not None, field
    assert meta["mode"] == "quick"

    # Every channel figure carries its buffer_size, raw queues and memory sizes too.
    for key, case in cases.items():
        if key.startswith(("channel.", "raw_asyncio_queue", "raw_thread_queue")):
            assert case["buffer_size"] in BUFFER_SIZES, key
            assert case["throughput"]["median"] > 0, key
        if key.startswith("channel."):
            assert case["latency"]["p99"]["median"] > 0, key
        if key.startswith("memory."):
            assert [f["buffer_size"] for f in case["per_buffer_size"]] == list(BUFFER_SIZES)
            assert len(case["flat"]["runs"]) >= 2, key
    # Optional peers are measured or recorded as not installed, never an error.
    for case in (cases["http"], cases["runs"]["redis"]):
        assert case.get("status", "measured") in ("measured", "not installed")
    assert set(cases["encoder"]["ratios"]) >= {"sse_keepalive_vs_none", "ndjson_keepalive_vs_none"}

    verdicts = {goal["goal"]: goal["verdict"] for goal in document["goals"]}
    assert set(verdicts.values()) <= {"met", "SHORT", "info", "not measured"}
    # Where CI requires the peers, they were measured: every goal has its figure.
    if _required("WEB") and _required("REDIS"):
        assert "not measured" not in verdicts.values(), verdicts
    recommendations = {rec["workload"]: rec for rec in document["recommendations"]}
    assert set(recommendations) == WORKLOADS
    for rec in recommendations.values():
        assert rec["buffer_size"] in BUFFER_SIZES, rec
        assert rec["reason"] and rec["reason"] != "not measured", rec
