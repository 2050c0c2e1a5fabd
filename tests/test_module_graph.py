"""The package's runtime imports form no cycle (``docs/development.md`` draws the graph).

Imports under ``if TYPE_CHECKING:`` and inside functions are left out: only what runs when a
module is first imported counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "streamify"


def _runtime_imports(path: Path) -> set[str]:
    """The ``streamify`` modules ``path`` imports at module level, outside TYPE_CHECKING."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is None:
                found.update(alias.name for alias in node.names)
            else:
                found.add(node.module.split(".")[0])
    return found


def _graph() -> dict[str, set[str]]:
    return {path.stem: _runtime_imports(path) for path in PACKAGE.glob("*.py")}


def test_the_runtime_import_graph_has_no_cycle() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            cycle = " -> ".join((*path[path.index(module) :], module))
            raise AssertionError(f"runtime import cycle: {cycle}")
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


def test_instrumented_calls_reach_the_run_only_through_the_active_run_protocol() -> None:
    # _instrument must not import the run module: it calls what ActiveRun declares.
    assert "_stream" not in _graph()["_instrument"]
    assert "_stream" not in _runtime_imports(PACKAGE / "_events.py")
