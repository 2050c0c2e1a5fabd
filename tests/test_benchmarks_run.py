"""The benchmark suite still runs and writes every figure; nothing here is about timing.

``benchmarks/run.py --quick --json PATH`` is run in a subprocess, as a user would run it, and
the JSON is checked for its shape: every case key, a ``buffer_size`` on every channel
measurement, a verdict on every goal and a rule beside every recommendation.  No figure is
compared with any number: the machine running the tests may be as slow as it likes.
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
RUN = ROOT / "benchmarks" / "run.py"

BUFFER_SIZES = (1, 4, 16, 64, 256, 1024)
CHANNEL_PATHS = ("async_to_async", "thread_to_async", "async_to_sync", "async_to_sync_apply")
EXPECTED_CASES = (
    [
        "raw_async_generator",
        "raw_call_soon_threadsafe",
        "anyio_memory_stream[16]",
        "janus[16]",
        "culsans[16]",
        "status.sync",
        "status.async",
        "status.async_tool",
        "first_item",
        "listener",
    ]
    + [f"raw_asyncio_queue[{size}]" for size in BUFFER_SIZES]
    + [f"raw_thread_queue[{size}]" for size in BUFFER_SIZES]
    + [f"channel.{path}[{size}]" for path in CHANNEL_PATHS for size in BUFFER_SIZES]
    + [f"memory.{path}" for path in CHANNEL_PATHS]
)
WORKLOADS = (
    "tokens to a web client",
    "bulk items from a thread",
    "bulk items to a sync consumer",
    "status only",
)


def _run_quick(out: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(ROOT),
        check=False,
        # Benchmarks measure the loop as users run it, not in the tests' debug mode.
        env={k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"},
    )
    assert done.returncode == 0, f"run.py failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return document


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_benchmark_writes_every_case_with_a_buffer_size_per_channel_figure(
    tmp_path: Path,
) -> None:
    document = _run_quick(tmp_path / "bench.json")
    cases: dict[str, Any] = document["cases"]

    assert sorted(set(EXPECTED_CASES) - set(cases)) == []
    assert {key: case["error"] for key, case in cases.items() if "error" in case} == {}

    # Every channel measurement carries its buffer_size, in the raw cases and the summary.
    for key, case in cases.items():
        if case["case"] in ("channel", "raw_asyncio_queue", "raw_thread_queue"):
            assert case["buffer_size"] in BUFFER_SIZES, key
        if case["case"] == "memory":
            assert [f["buffer_size"] for f in case["per_buffer_size"]] == list(BUFFER_SIZES)
            assert len(case["flat"]["runs"]) >= 2, key
    assert sorted((row["path"], row["buffer_size"]) for row in document["channels"]) == sorted(
        (path, size) for path in CHANNEL_PATHS for size in BUFFER_SIZES
    )
    for row in document["channels"]:
        assert row["per_item_s"] is not None
        assert row["latency_p99_s"] is not None
        assert row["peak_memory_bytes"] is not None

    # Optional baselines are measured or recorded as not installed, never an error.
    for info in document["optional_baselines"].values():
        assert info["status"] in ("measured", "not installed")
    assert cases["listener"]["status"] in ("measured", "not available")

    assert {goal["verdict"] for goal in document["goals"]} <= {
        "met",
        "SHORT",
        "info",
        "not measured",
    }
    recommendations = {rec["workload"]: rec for rec in document["recommendations"]}
    assert sorted(recommendations) == sorted(WORKLOADS)
    for rec in recommendations.values():
        assert rec["buffer_size"] in BUFFER_SIZES
        assert rec["rule"]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_http_benchmark_runs_in_quick_mode_and_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "http.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_http.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=str(ROOT),
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"},
    )
    assert done.returncode == 0, f"bench_http.py failed:\n{done.stdout[-3000:]}\n{done.stderr}"
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    encoder, web = document["encoder"], document["http"]
    assert set(encoder["ratios"]) == {
        "sse_keepalive_vs_none",
        "ndjson_keepalive_vs_none",
        "plain_generator_keepalive_vs_none",
    }
    assert "error" not in web, web
    assert set(web["frames_per_second"]) == {"streamify", "streamify-keepalive", "sse-starlette"}
    assert set(web["ttfb_ms"]) == set(web["frames_per_second"])
    assert all(value > 0 for value in web["frames_per_second"].values())
    assert "streamify_vs_sse_starlette" in web["ratios"]
