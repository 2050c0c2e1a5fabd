"""``benchmarks/run.py``: one plan of cases, each run in a process of its own; a case that
fails is recorded, a missing optional peer is recorded as such, ``--only`` selects cases."""

from __future__ import annotations

import importlib.util
import json
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


runner = _runner()


def test_both_modes_plan_the_same_cases_each_once_and_every_case_function_exists() -> None:
    quick = [key for key, _, _ in runner.plan("quick")]
    assert quick == [key for key, _, _ in runner.plan("thorough")]
    assert len(quick) == len(set(quick))
    assert set(runner.MODES["quick"]) == set(runner.MODES["thorough"])
    for _, name, _ in runner.plan("quick"):
        module, function = name.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), function)), name


@pytest.mark.timeout(60)
def test_a_failing_case_is_recorded_as_an_error_instead_of_stopping_the_run() -> None:
    result = runner.run_case("cases_core.case_no_such_case", {"settings": {}}, timeout=50)
    assert set(result) == {"error"}
    assert "case_no_such_case" in result["error"]


@pytest.mark.timeout(60)
def test_only_runs_the_cases_whose_key_holds_a_name(tmp_path: Path) -> None:
    out = tmp_path / "one.json"
    assert runner.main(["--quick", "--only", "raw_async_generator", "--json", str(out)]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert list(document["cases"]) == ["raw_async_generator"]
    assert document["cases"]["raw_async_generator"]["throughput"]["median"] > 0
    assert document["meta"]["load_average_at_end"] is not None


def test_a_missing_optional_peer_is_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    cases_web = importlib.import_module("cases_web")
    monkeypatch.setitem(sys.modules, "sse_starlette", None)  # import raises ImportError
    result = cases_web.case_http({}, {})
    assert result == {"status": "not installed", "package": "sse_starlette"}
