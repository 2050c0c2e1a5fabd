"""The README's examples run, and print what the README says they print.

A Python block preceded by ``<!-- example: NAME -->`` is run in a fresh interpreter; if a
``text`` block follows it, the output must match it exactly.  The guides in ``docs/`` follow
the same rules (``tests/test_docs.py`` holds the machinery and checks them); the README keeps
one example, the guarantees a user must not miss, and links to the rest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_docs import EXAMPLES, examples_in, read, run_example

README = read("README.md")


def test_the_readme_has_its_examples() -> None:
    assert examples_in("README.md") == {"first"}
    # The README's other examples live in the guides now.
    assert {"token-streaming", "custom-format"} <= examples_in("docs/token-streaming.md")
    assert {"threads"} <= examples_in("docs/sync-code.md")


@pytest.mark.parametrize("name", sorted(examples_in("README.md")))
def test_readme_example_runs_and_prints_what_the_readme_says(name: str, tmp_path: Path) -> None:
    run_example(EXAMPLES[name], tmp_path)


def test_the_readme_stays_short() -> None:
    assert len(README.splitlines()) <= 250, "move the detail to a guide in docs/"


@pytest.mark.parametrize(
    "statement",
    [
        # the thread-slot invariant, in its three parts
        "a thread waiting on a stream never holds a thread-limit slot",
        "A stream's own sync program takes no slot",
        "an `asyncify` call whose thread blocks on a stream lends its slot back while it waits",
        # what a timeout stops, and how
        "a sync one at its next `emit_sync` or instrumented call",
        "A timeout stops it exactly as `aclose()` does",
        # prompt stops
        "async with contextlib.aclosing(stream(...)) as items:",
        # fork safety
        "after `os.fork`",
        # the sync consumer's shared loop
        "one event loop in a background thread",
        "module-level `AsyncOpenAI` or `httpx.AsyncClient`) keeps working call after call",
    ],
)
def test_the_readme_itself_states_the_guarantees_a_user_must_not_miss(statement: str) -> None:
    assert statement in " ".join(README.split())  # whatever the line breaks
