"""``print_stream`` / ``aprint_stream`` and the ``python -m streamify`` demo that uses them."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import streamify
from streamify import Prediction, StatusMessage, StreamResponse

ROOT = Path(__file__).resolve().parent.parent

ITEMS: list[object] = [
    StatusMessage("Calling tool search..."),
    StreamResponse("qa", "answer", "Hel", False),
    StreamResponse("qa", "answer", "lo", True),
    {"step": 1},
    Prediction(answer="Hello"),
]
PLAIN = (
    "  status  Calling tool search...\n"
    "  tokens  answer: Hello\n"
    "  item    {'step': 1}\n"
    "  result  Prediction(answer='Hello')\n"
)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_print_stream_prints_one_plain_line_per_entry_off_a_terminal_and_returns_the_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    result = streamify.print_stream(iter(ITEMS), file=out)
    assert out.getvalue() == PLAIN  # no colour codes, no cut: not a terminal
    assert result == Prediction(answer="Hello")


def test_a_terminal_gets_colour_unless_no_color_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    coloured = FakeTTY()
    streamify.print_stream(ITEMS, file=coloured, width=200)
    assert "\033[36m  status  Calling tool search...\033[0m\n" in coloured.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = FakeTTY()
    streamify.print_stream(ITEMS, file=plain, width=200)
    assert plain.getvalue() == PLAIN


def test_one_line_entries_are_cut_to_the_width() -> None:
    out = io.StringIO()
    streamify.print_stream([StatusMessage("x" * 50), {"k": "y" * 50}], file=out, width=20)
    lines = out.getvalue().splitlines()
    assert lines == ["  status  xxxxxxxxx…", "  item    {'k': 'yy…"]
    assert all(len(line) == 20 for line in lines)


async def test_aprint_stream_prints_a_live_stream_and_ends_a_cut_token_line() -> None:
    async def program() -> str:
        await streamify.emit(StreamResponse("qa", "answer", "half", False))
        raise ValueError("boom")

    out = io.StringIO()
    with pytest.raises(ValueError, match="boom"):
        await streamify.aprint_stream(streamify.streamify(program)(), file=out, color=False)
    assert out.getvalue() == "  tokens  answer: half\n"  # the line is ended before raising


def _demo(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}
    return subprocess.Popen(
        [sys.executable, "-m", "streamify", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
        env=env,
        **kwargs,
    )


@pytest.mark.parametrize("mode", [(), ("--sync",)], ids=["async", "sync"])
def test_ctrl_c_in_the_demo_ends_with_one_short_line(mode: tuple[str, ...]) -> None:
    demo = _demo(*mode)
    try:
        assert demo.stdout is not None
        assert demo.stdout.readline().startswith("streaming assistant(")
        assert "status" in demo.stdout.readline()  # the program is running now
        demo.send_signal(signal.SIGINT)
        _out, err = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode == 130
    assert err == "interrupted\n"


def test_demo_help_is_plain_text() -> None:
    demo = _demo("--help")
    out, err = demo.communicate(timeout=30)
    assert demo.returncode == 0, err
    assert "``" not in out and "--fast" in out and "research assistant" in out
