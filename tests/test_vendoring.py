"""The package works when copied under another package (vendored), with no top-level
``streamify`` importable, and ``python -m streamify`` runs from any directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import streamify

PACKAGE = Path(streamify.__file__).resolve().parent

VENDORED_PROGRAM = textwrap.dedent(
    """
    import asyncio, importlib.abc, sys

    class RefuseTopLevelStreamify(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "streamify" or name.startswith("streamify."):
                raise ImportError("top-level streamify must not be used")
            return None

    sys.meta_path.insert(0, RefuseTopLevelStreamify())

    from myapp._vendor import streamify as sf

    @sf.tool
    def lookup(q):
        return q.upper()

    async def program(q):
        await sf.emit("working")
        return lookup(q)

    async def main():
        items = [item async for item in sf.streamify(program)("ok")]
        print([getattr(i, "message", i) for i in items[:-1]], items[-1].raw)
        print(sorted(m for m in sys.modules if m.split(".")[0] == "streamify"))

    asyncio.run(main())
    """
)


def test_vendored_copy_streams_without_a_top_level_streamify(tmp_path: Path) -> None:
    vendor = tmp_path / "myapp" / "_vendor"
    vendor.mkdir(parents=True)
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (vendor / "__init__.py").write_text("")
    shutil.copytree(PACKAGE, vendor / "streamify", ignore=shutil.ignore_patterns("__pycache__"))
    script = tmp_path / "run.py"
    script.write_text(VENDORED_PROGRAM)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "['working', 'Calling tool lookup...', "
        "'Tool calling finished! Querying the LLM with tool calling results...'] OK"
    )
    assert lines[1] == "[]"


@pytest.mark.parametrize("options", [["--fast"], ["--fast", "--sync"]], ids=["async", "sync"])
def test_the_demo_runs_from_any_directory(tmp_path: Path, options: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streamify", *options],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_env_with_package(),
    )
    assert done.returncode == 0, done.stderr
    assert "status  Calling tool search_web..." in done.stdout
    assert "item    Progress(step=1, of=3" in done.stdout
    assert "tokens  answer: The answer to life, the universe and everything is 42." in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("  result  Prediction(")


def _env_with_package() -> dict[str, str]:
    import os

    env = dict(os.environ)
    root = str(PACKAGE.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
