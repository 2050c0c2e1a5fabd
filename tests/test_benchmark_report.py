"""The benchmark report: the ``buffer_size`` recommendation is plain code that follows the
figures it is given, the goals' verdicts follow their ratios, and the table of
docs/buffer-size.md is the rendering of a committed run.  No timing is measured here."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "results" / "thorough-2026-11-24.json"
SIZES = (1, 4, 16, 64, 256, 1024)


def _load_report() -> ModuleType:
    path = ROOT / "benchmarks" / "_report.py"
    spec = importlib.util.spec_from_file_location("streamify_bench_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


report = _load_report()


def _figures(cost: dict[int, float], p99: dict[int, float] | None = None) -> dict[str, Any]:
    """Hand-made figures: the same per-item costs on every path, p99 latency and short
    streams as given (p99 flat when not)."""
    p99 = p99 or dict.fromkeys(cost, 100e-6)
    paths = {
        path: {s: {"per_item_s": cost[s], "p99_s": p99[s]} for s in cost}
        for path in ("async_to_async", "thread_to_async", "async_to_sync")
    }
    first = {s: {"first_p50_s": 50e-6, "whole_p50_s": cost[s] * 8} for s in cost}
    return {**paths, "first_item": first}


def _chosen(figures: dict[str, Any]) -> dict[str, Any]:
    return {rec["workload"]: rec["buffer_size"] for rec in report.recommend(figures)}


def test_a_tie_goes_to_the_smaller_buffer_size() -> None:
    cost = {1: 9e-6, 4: 3e-6, 16: 1e-6, 64: 1e-6, 256: 1e-6, 1024: 1e-6}
    assert set(_chosen(_figures(cost)).values()) == {16}


def test_a_size_within_ten_percent_of_the_best_beats_a_larger_best() -> None:
    cost = {1: 9e-6, 4: 3e-6, 16: 1.09e-6, 64: 1.2e-6, 256: 1.0e-6, 1024: 1.05e-6}
    chosen = _chosen(_figures(cost))
    assert chosen["bulk items from a thread"] == chosen["bulk items to a sync consumer"] == 16
    cost[16] = 1.11e-6  # now just outside
    assert _chosen(_figures(cost))["bulk items from a thread"] == 256


def test_tokens_trade_throughput_for_p99_latency() -> None:
    cost = {1: 4e-6, 4: 2e-6, 16: 1e-6, 64: 0.7e-6, 256: 0.5e-6, 1024: 0.48e-6}
    p99 = {1: 20e-6, 4: 30e-6, 16: 100e-6, 64: 400e-6, 256: 1500e-6, 1024: 6000e-6}
    chosen = _chosen(_figures(cost, p99))
    assert chosen["bulk items from a thread"] == 256  # throughput alone
    assert chosen["tokens to a web client"] == 4  # 4 -> 16 halves the cost but triples the p99


def test_missing_figures_give_not_measured_rather_than_a_crash() -> None:
    recommendations = report.recommend({})
    assert [rec["buffer_size"] for rec in recommendations] == [None] * 4
    assert {rec["reason"] for rec in recommendations} == {"not measured"}
    partial = _figures(dict.fromkeys(SIZES, 1e-6))
    partial["thread_to_async"] = {s: {"per_item_s": None, "p99_s": None} for s in SIZES}
    chosen = _chosen(partial)
    assert chosen["bulk items from a thread"] is None
    assert chosen["bulk items to a sync consumer"] == 1


def test_every_recommendation_prints_its_reason() -> None:
    for rec in report.recommend(_figures(dict.fromkeys(SIZES, 1e-6))):
        assert rec["reason"].startswith("smallest within 10% of the best"), rec


def _document(cases: dict[str, Any]) -> dict[str, Any]:
    meta = {"buffer_sizes": list(SIZES), "mode": "quick", "python": "3", "platform": "p",
            "cpu_count": 2, "date": "2026-12-02", "settings": {"work_us": 5}}  # fmt: skip
    return {"meta": meta, "cases": cases}


def test_goal_verdicts_follow_the_ratio_to_the_limit() -> None:
    cases = {
        "raw_asyncio_queue[16]": {"throughput": {"median": 1e-6}},
        "channel.async_to_async[16]": {"throughput": {"median": 0.9e-6}},  # 0.9 <= 1.0
        "status.async": {"throughput": {"median": 3.5e-6}},  # 3.5 > 3
        "encoder": {"error": "exit status 1"},
    }
    verdicts = {goal["goal"]: goal for goal in report.goals(_document(cases))}
    assert verdicts["async emit -> async consumer, per item (buffer 16)"]["verdict"] == "met"
    status = verdicts["status message from an async program (sync @tool)"]
    assert status["verdict"] == "SHORT"
    assert abs(status["ratio"] - 3.5) < 1e-9
    keepalive = verdicts["SSE frame, keepalive=15 vs none"]
    assert keepalive["verdict"] == "not measured"


def test_a_run_with_failed_and_missing_cases_still_renders() -> None:
    cases = {"encoder": {"error": "exit status 1: boom"}, "http": {"status": "not installed",
             "package": "uvicorn"}}  # fmt: skip
    document = _document(cases)
    document.update(report.analyse(document))
    text = report.render(document)
    assert "encoder: exit status 1: boom" in text
    assert "http: not installed uvicorn" in text
    assert "status only: None  (not measured)" in text


def test_the_buffer_size_guide_table_is_the_committed_run_rendered() -> None:
    document = json.loads(RUN.read_text(encoding="utf-8"))
    document.update(report.analyse(document))
    rendered = report.markdown(document)
    table = [line for line in rendered.splitlines() if line.startswith("| ")]
    guide = (ROOT / "docs" / "buffer-size.md").read_text(encoding="utf-8").splitlines()
    guide_rows = [line for line in guide if line.startswith("| ") and line[2:3].isdigit()]
    numbers = [line for line in table if line[2:3].isdigit()]
    assert numbers, "the rendering has no table rows"
    assert guide_rows == numbers, "docs/buffer-size.md's table is not the committed run's"
    for rec in document["recommendations"]:
        assert f"`buffer_size={rec['buffer_size']}`" in "\n".join(guide), rec
