"""``benchmarks/run.py`` picks up every ``bench_*.py`` module with ``run`` and ``print_report``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_streamify_bench_run", ROOT / "benchmarks" / "run.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GOOD = """
def run(quick: bool = False) -> dict:
    return {"quick": quick, "per_item_s": 1e-6}


def print_report(result: dict) -> None:
    print("good report", result["per_item_s"])
"""
FAILING = """
def run(quick: bool = False) -> dict:
    raise RuntimeError("no server")


def print_report(result: dict) -> None:
    print("never")
"""
OTHER_SHAPE = """
import a_module_that_is_not_installed


def run(quick: bool) -> dict:
    return {}
"""


def test_modules_with_both_functions_run_and_report_and_a_failure_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bench_good.py").write_text(GOOD, encoding="utf-8")
    (tmp_path / "bench_failing.py").write_text(FAILING, encoding="utf-8")
    (tmp_path / "bench_other.py").write_text(OTHER_SHAPE, encoding="utf-8")  # never imported
    (tmp_path / "helper.py").write_text(GOOD, encoding="utf-8")  # not a bench_ file
    runner = _runner()
    modules = runner.discover(tmp_path)
    assert sorted(modules) == ["bench_failing", "bench_good"]
    results = runner.run_modules(modules, quick=True)
    assert results["bench_good"] == {"quick": True, "per_item_s": 1e-6}
    assert results["bench_failing"] == {"error": "RuntimeError: no server"}
    capsys.readouterr()
    runner.print_modules(modules, results)
    out = capsys.readouterr().out
    assert "## bench_good\ngood report 1e-06\n" in out
    assert "## bench_failing\nfailed: RuntimeError: no server\n" in out
    assert not any(name.startswith("_streamify_bench_other") for name in sys.modules)


def test_the_repositorys_benchmark_modules_are_discovered_without_error() -> None:
    runner = _runner()
    for name, module in runner.discover().items():
        assert name.startswith("bench_") and callable(module.run), name
