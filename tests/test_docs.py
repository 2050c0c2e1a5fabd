"""The README and the guides in ``docs/`` say only what is true: their code runs, their links
lead somewhere, and the tests they name exist.

Every Python code block in ``README.md`` and ``docs/*.md`` is marked, on the line before it:

* ``<!-- example: NAME -->``: a complete program.  It runs in a fresh interpreter, from an
  empty directory, and if a ``text`` block follows it (``prints`` may stand between them), its
  output must be exactly that block.  Names are unique across all the files.
  ``<!-- example: NAME (needs starlette, httpx) -->`` names modules beyond streamify's own
  dependencies; without them the example is skipped, unless ``STREAMIFY_REQUIRE_WEB=1`` (CI
  sets it) makes that an error (``STREAMIFY_REQUIRE_FRAMEWORKS=1`` for the modules in
  ``FRAMEWORKS``).
* ``<!-- tested by tests/test_x.py -->``: a block that test reads from the file and runs.
* ``<!-- fragment -->``: a piece that cannot run alone; it must still compile.

A block with no marker fails the suite, and so does a guide without the examples it should
have.  The README's own examples are run by ``tests/test_readme.py``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
DOCS = ROOT / "docs"
FILES = ("README.md", *sorted(f"docs/{path.name}" for path in DOCS.glob("*.md")))

# The examples each file must have (more are welcome); every file must be listed here, so a new
# guide is a decision about its examples, not an accident.
EXPECTED_EXAMPLES: dict[str, set[str]] = {
    "README.md": {"first"},
    "docs/api.md": {"prediction"},
    "docs/buffer-size.md": set(),  # a measured table and console commands
    "docs/development.md": set(),
    "docs/dspy-migration.md": {"dspy-migration"},
    "docs/guarantees.md": {"stopping", "timeout"},
    "docs/llm.md": {"llm-agent"},
    "docs/protocols.md": {"own-protocol"},
    "docs/runs.md": {"runs-memory"},
    "docs/serving.md": {
        "serving-starlette",
        "serving-django",
        "serving-quart",
        "serving-litestar",
        "serving-aiohttp",
        "serving-flask",
        "serving-websocket",
        "serving-sse-starlette",
    },
    "docs/sync-code.md": {"sync-consumer", "sync-stop", "threads", "nested"},
    "docs/token-streaming.md": {"token-streaming", "custom-format"},
    "docs/vendoring.md": set(),  # the copy itself is tests/test_vendoring.py
}

# The web frameworks of docs/serving.md, in the `frameworks` extra: CI installs them once, on
# the newest Python, and sets STREAMIFY_REQUIRE_FRAMEWORKS=1 there (STREAMIFY_REQUIRE_WEB does
# not cover them).
FRAMEWORKS = frozenset({"django", "flask", "litestar", "quart", "sse_starlette"})

_FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\n", re.S | re.M)
_MARKER = re.compile(
    r"<!-- (?:example: (?P<name>[\w-]+)(?: \(needs (?P<needs>[\w., ]+)\))?"
    r"|tested by (?P<tested_by>tests/[\w/]+\.py)"
    r"|(?P<fragment>fragment)) -->"
)
_OUTPUT = re.compile(r"\n*(?:prints\n+)?```text\n(?P<output>.*?)^```\n", re.S | re.M)


class Block(NamedTuple):
    file: str
    line: int
    code: str
    marker: Optional[re.Match[str]]
    output: Optional[str]


def read(file: str) -> str:
    return (ROOT / file).read_text(encoding="utf-8")


def python_blocks(file: str) -> list[Block]:
    """Every ``python`` block of ``file``, with the marker on the line before it, if any, and
    the ``text`` block that follows it, if any."""
    text = read(file)
    blocks = []
    for fence in _FENCE.finditer(text):
        if fence["lang"] != "python":
            continue
        before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        following = _OUTPUT.match(text, fence.end())
        blocks.append(
            Block(
                file=file,
                line=text.count("\n", 0, fence.start()) + 1,
                code=fence["body"],
                marker=_MARKER.fullmatch(before.strip()),
                output=None if following is None else following["output"],
            )
        )
    return blocks


ALL_BLOCKS = [block for file in FILES for block in python_blocks(file)]
EXAMPLES = {
    block.marker["name"]: block for block in ALL_BLOCKS if block.marker and block.marker["name"]
}


def examples_in(file: str) -> set[str]:
    return {name for name, block in EXAMPLES.items() if block.file == file}


def run_example(block: Block, tmp_path: Path) -> None:
    """Run an example block in a fresh interpreter and compare its output with the file's."""
    assert block.marker is not None
    name = block.marker["name"]
    for module in (block.marker["needs"] or "").replace(",", " ").split():
        if importlib.util.find_spec(module) is None:
            extra = "frameworks" if module in FRAMEWORKS else "web"
            if os.environ.get(f"STREAMIFY_REQUIRE_{extra.upper()}", "") not in ("", "0"):
                pytest.fail(f"example {name!r} needs {module}, which is not installed")
            pytest.skip(f"example {name!r} needs {module}: pip install '.[{extra}]'")
    script = tmp_path / f"{name}.py"
    script.write_text(block.code, encoding="utf-8")
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
    assert done.returncode == 0, f"{block.file}:{block.line} ({name}):\n{done.stderr}"
    if block.output is not None:
        assert done.stdout == block.output, f"{block.file}:{block.line} ({name})"


# -- code blocks ---------------------------------------------------------------------------------


def test_every_python_block_is_an_example_a_tested_block_or_a_fragment() -> None:
    unmarked = [f"{block.file}:{block.line}" for block in ALL_BLOCKS if block.marker is None]
    assert unmarked == [], (
        "mark each block with <!-- example: NAME -->, <!-- tested by tests/... -->, "
        f"or <!-- fragment --> on the line before it: {unmarked}"
    )


def test_example_names_are_unique_across_the_readme_and_the_guides() -> None:
    names = [block.marker["name"] for block in ALL_BLOCKS if block.marker and block.marker["name"]]
    assert sorted(names) == sorted(set(names))


def test_every_file_has_the_examples_it_should() -> None:
    assert set(FILES) == set(EXPECTED_EXAMPLES), "list every doc file in EXPECTED_EXAMPLES"
    missing = {
        file: sorted(expected - examples_in(file))
        for file, expected in EXPECTED_EXAMPLES.items()
        if not expected <= examples_in(file)
    }
    assert missing == {}


def test_every_example_shows_what_it_prints() -> None:
    # a text block after each example, so a reader knows what to expect (and it is checked)
    silent = [name for name, block in EXAMPLES.items() if block.output is None]
    assert silent == []


@pytest.mark.parametrize("name", sorted(set(EXAMPLES) - examples_in("README.md")))
def test_guide_example_runs_and_prints_what_the_guide_says(name: str, tmp_path: Path) -> None:
    run_example(EXAMPLES[name], tmp_path)


def test_fragments_compile() -> None:
    for block in ALL_BLOCKS:
        if block.marker is not None and block.marker["fragment"]:
            compile(block.code, f"{block.file}:{block.line}", "exec")


def test_blocks_tested_elsewhere_are_read_by_their_test() -> None:
    tested = [block for block in ALL_BLOCKS if block.marker and block.marker["tested_by"]]
    assert tested, "the aiohttp handler in docs/serving.md is tested by tests/test_aiohttp.py"
    for block in tested:
        assert block.marker is not None
        test_file = ROOT / block.marker["tested_by"]
        assert test_file.is_file(), f"{block.file}:{block.line}: no {test_file.name}"
        assert block.file in test_file.read_text(encoding="utf-8"), (
            f"{test_file.name} does not read {block.file}"
        )


# -- links -------------------------------------------------------------------------------------

_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} (?P<title>.+?)\s*$", re.M)
_INLINE_CODE = re.compile(r"`[^`\n]*`")


def prose(text: str) -> str:
    """``text`` without its fenced blocks (their lines kept, empty, so line numbers hold)."""
    return _FENCE.sub(lambda fence: "\n" * fence.group().count("\n"), text)


def anchors(file: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in _HEADING.finditer(prose(file.read_text(encoding="utf-8"))):
        slug = re.sub(r"[^\w\- ]", "", heading["title"].strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_anchors_are_made_as_github_makes_them() -> None:
    assert "choosing-buffer_size" in anchors(DOCS / "buffer-size.md")  # code marks dropped
    assert "1-order-and-completeness" in anchors(DOCS / "guarantees.md")  # dots dropped
    assert "writing-the-frames-yourself-aiohttp" in anchors(DOCS / "serving.md")


@pytest.mark.parametrize("file", FILES)
def test_relative_links_lead_to_files_and_headings_that_exist(file: str) -> None:
    source = ROOT / file
    broken = []
    for link in _LINK.finditer(_INLINE_CODE.sub("", prose(read(file)))):
        target = link["target"]
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        path = (source.parent / path_part).resolve() if path_part else source
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == []


def test_the_readme_links_to_every_guide() -> None:
    linked = {link["target"].partition("#")[0] for link in _LINK.finditer(read("README.md"))}
    assert {file for file in FILES if file.startswith("docs/")} <= linked


# -- the tests the docs name ---------------------------------------------------------------------

_TEST_FILE = re.compile(r"(?P<file>(?:[\w]+/)*test_\w+\.py)(?:::(?P<test>test_\w+))?")
_BARE_TEST = re.compile(r"(?<![\w/:])test_\w+\b(?!\.py|::)")


def defines(path: Path, test: str) -> bool:
    return (
        re.search(rf"^\s*(?:async )?def {test}\(", path.read_text(encoding="utf-8"), re.M)
        is not None
    )


@pytest.mark.parametrize("file", FILES)
def test_every_test_the_docs_name_exists_where_they_say(file: str) -> None:
    text = prose(read(file))
    wrong = []
    for reference in _TEST_FILE.finditer(text):
        relative = reference["file"]
        path = ROOT / relative if relative.startswith("tests/") else TESTS / relative
        if not path.is_file():
            wrong.append(f"{reference.group()}: no file {path.relative_to(ROOT)}")
        elif reference["test"] and not defines(path, reference["test"]):
            wrong.append(f"{reference.group()}: {path.name} has no {reference['test']}")
    for bare in _BARE_TEST.finditer(_TEST_FILE.sub("", text)):
        wrong.append(f"{bare.group()}: name its file (test_x.py::{bare.group()})")
    assert wrong == []


def test_the_guarantees_name_tests_for_every_guarantee() -> None:
    text = read("docs/guarantees.md")
    sections = re.split(r"^## \d+\. ", text, flags=re.M)[1:]
    assert len(sections) == 8
    for section in sections:
        assert _TEST_FILE.search(section), f"no test named for: {section.splitlines()[0]}"
