"""The benchmark report: its recommendations follow the measurements, and the ``buffer_size``
table of docs/buffer-size.md is the rendering of a real, committed run."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "results" / "thorough-2026-11-24.json"


def _load_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "streamify_bench_report", ROOT / "benchmarks" / "_report.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


report = _load_report()


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(RUN.read_text(encoding="utf-8"))
    return document


def _choices(document: dict[str, Any]) -> dict[str, Any]:
    return {
        rec["workload"]: rec["buffer_size"] for rec in report.analyse(document)["recommendations"]
    }


def test_recommendations_are_recomputed_from_the_figures_not_stored() -> None:
    document = _document()
    stored = {rec["workload"]: rec["buffer_size"] for rec in document["recommendations"]}
    assert _choices(document) == stored


def test_recommendations_change_when_the_measurements_change() -> None:
    document = _document()
    before = _choices(document)
    changed = copy.deepcopy(document)
    # Pretend the thread path at buffer_size=4 became the fastest of all.
    fastest = min(
        changed["cases"][f"channel.thread_to_async[{size}]"]["throughput"]["median"]
        for size in (1, 4, 16, 64, 256, 1024)
    )
    changed["cases"]["channel.thread_to_async[4]"]["throughput"]["median"] = fastest / 2
    # And latency at buffer_size=1 for async -> async became free.
    changed["cases"]["channel.async_to_async[1]"]["throughput"]["median"] = 1e-9
    after = _choices(changed)
    assert before["bulk items from a thread"] != 4
    assert after["bulk items from a thread"] == 4
    assert after["tokens to a web client"] == 1 != before["tokens to a web client"]


def test_the_buffer_size_guide_table_is_the_committed_run_rendered() -> None:
    rendered = report.markdown(_document())
    table = [line for line in rendered.splitlines() if line.startswith("| ")]
    guide = (ROOT / "docs" / "buffer-size.md").read_text(encoding="utf-8").splitlines()
    guide_rows = [line for line in guide if line.startswith("| ") and line[2:3].isdigit()]
    numbers = [line for line in table if line[2:3].isdigit()]
    assert numbers, "the rendering has no table rows"
    assert len(guide_rows) == len(numbers), "the guide's table has rows the run does not"
    for row in numbers:
        assert row in guide_rows, f"docs/buffer-size.md lacks the measured row {row!r}"
