"""``print_stream`` / ``aprint_stream``: show a stream live in a terminal, for scripts and demos.

Each item becomes one line (tokens of one field share a line, printed as they arrive):
``status`` for a :class:`StatusMessage`, ``tokens`` for :class:`StreamResponse` chunks,
``result`` for the :class:`Prediction`, ``item`` for anything the program emitted itself.
Colour is used only on a terminal and never when ``NO_COLOR`` is set (https://no-color.org);
one-line entries are cut to the terminal's width so a long item never wraps into the next.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import IO, TYPE_CHECKING, Optional

from ._messages import Prediction, StatusMessage, StreamItem, StreamResponse

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Iterable

__all__ = ("aprint_stream", "print_stream")

_STYLES = {"status": "36", "tokens": "33", "result": "1;32", "item": "35"}


class _Printer:
    """Renders items on ``file``; tokens of one field stay on one line until its last chunk."""

    def __init__(self, file: IO[str], color: Optional[bool], width: Optional[int]) -> None:
        tty = bool(getattr(file, "isatty", lambda: False)())
        self.file = file
        self.color = _use_color(tty) if color is None else bool(color)
        if width is None and tty:
            width = shutil.get_terminal_size().columns
        self.width = width
        self.in_tokens = False
        self.result: Optional[Prediction] = None

    def _label(self, kind: str, text: str) -> str:
        entry = f"  {kind:<7} {text}"
        if self.width is not None and len(entry) > self.width:
            entry = entry[: max(self.width - 1, 0)] + "…"
        return f"\033[{_STYLES[kind]}m{entry}\033[0m" if self.color else entry

    def _line(self, text: str) -> None:
        if self.in_tokens:
            self.file.write("\n")
            self.in_tokens = False
        self.file.write(text + "\n")
        self.file.flush()

    def show(self, item: StreamItem) -> None:
        if isinstance(item, StatusMessage):
            self._line(self._label("status", item.message))
        elif isinstance(item, StreamResponse):
            if not self.in_tokens:
                self.file.write(self._label("tokens", f"{item.signature_field_name}: "))
                self.in_tokens = True
            self.file.write(item.chunk)
            if item.is_last_chunk:
                self.file.write("\n")
                self.in_tokens = False
            self.file.flush()
        elif isinstance(item, Prediction):
            self.result = item
            self._line(self._label("result", repr(item)))
        else:
            self._line(self._label("item", repr(item)))

    def end(self) -> None:
        if self.in_tokens:  # the stream ended (or failed) in the middle of a field
            self.file.write("\n")
            self.in_tokens = False
        self.file.flush()


def _use_color(tty: bool) -> bool:
    return tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def print_stream(
    stream: Iterable[StreamItem],
    *,
    file: Optional[IO[str]] = None,
    color: Optional[bool] = None,
    width: Optional[int] = None,
) -> Optional[Prediction]:
    """Print a sync stream's items as they arrive, one readable line each.

    ``stream`` is what a program wrapped with ``streamify(..., async_streaming=False)``
    returns (any iterable works).  ``file`` defaults to ``sys.stdout``.  ``color``: ``None``
    colours only a terminal, and only when the ``NO_COLOR`` environment variable is unset or
    empty; ``True`` / ``False`` force it.  ``width``: one-line entries are cut to this many
    characters; ``None`` uses the terminal's width on a terminal and no limit otherwise.

    Returns the stream's :class:`Prediction` (``None`` if it yielded none).  Raises what the
    stream raises, after ending a half-printed token line; the stream is closed either way.
    """
    printer = _Printer(sys.stdout if file is None else file, color, width)
    iterator = iter(stream)
    try:
        for item in iterator:
            printer.show(item)
    finally:
        printer.end()
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
    return printer.result


async def aprint_stream(
    stream: AsyncIterable[StreamItem],
    *,
    file: Optional[IO[str]] = None,
    color: Optional[bool] = None,
    width: Optional[int] = None,
) -> Optional[Prediction]:
    """Print an async stream's items as they arrive: the async twin of :func:`print_stream`.

    ``stream`` is what a streamified program returns (any async iterable works); the other
    parameters, the return value and what is raised are as for :func:`print_stream`.  The
    stream is closed (``aclose()``) when printing ends, however it ends.
    """
    printer = _Printer(sys.stdout if file is None else file, color, width)
    iterator = stream.__aiter__()
    try:
        async for item in iterator:
            printer.show(item)
    finally:
        printer.end()
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
    return printer.result
