"""The README's examples run, and print what the README says they print.

A Python block preceded by ``<!-- example: NAME -->`` is run in a fresh interpreter; if a
``text`` block follows it, the output must match it exactly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = re.compile(
    r"<!-- example: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)```\n"
    r"(?:\s*(?:prints\s*)?\n*```text\n(?P<output>.*?)```)?",
    re.S,
)
EXAMPLES = {match["name"]: (match["code"], match["output"]) for match in EXAMPLE.finditer(README)}


def test_the_readme_has_its_examples() -> None:
    assert {"first", "token-streaming", "custom-format"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_readme_example_runs_and_prints_what_the_readme_says(name: str, tmp_path: Path) -> None:
    code, expected = EXAMPLES[name]
    script = tmp_path / f"{name}.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    if expected is not None:
        assert done.stdout == expected
