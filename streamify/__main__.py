"""``python -m streamify``: a live demo that needs no network and no API key.

A small "research assistant" module calls two tools, emits its own progress items, and asks a
built-in fake LM, which streams a chat-format reply token by token.  The terminal shows the
status lines as they happen, the custom items, the ``answer`` field's tokens as they arrive,
and the final result.  ``--fast`` removes the pauses; ``--sync`` consumes the stream from
plain sync code (``async_streaming=False``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from . import (
    Prediction,
    StatusMessageProvider,
    StreamListener,
    aprint_stream,
    emit,
    lm,
    module,
    print_stream,
    streamify,
    tool,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

DELAY = 0.25


@dataclass(frozen=True)
class Progress:
    """A custom item the program emits itself."""

    step: int
    of: int
    note: str


@tool(name="search_web")
async def search_web(query: str) -> list[str]:
    await asyncio.sleep(DELAY * 2)
    return [f"{query}: the answer is six times seven", f"{query}: forty-two, say the books"]


@tool(name="calculator")
def calculator(expression: str) -> int:
    left, _, right = expression.partition("*")
    return int(left) * int(right)


REPLY = (
    "[[ ## reasoning ## ]]\nBoth sources agree, and the calculator confirms 6 * 7 = 42.\n\n"
    "[[ ## answer ## ]]\nThe answer to life, the universe and everything is 42.\n\n"
    "[[ ## completed ## ]]"
)


@lm(name="fake_lm")
async def fake_lm(prompt: str) -> AsyncIterator[str]:
    """Streams ``REPLY`` in small pieces, as an LM API would."""
    for start in range(0, len(REPLY), 4):
        await asyncio.sleep(DELAY / 10)
        yield REPLY[start : start + 4]


@module(name="assistant", outputs=("reasoning", "answer"))
async def assistant(question: str) -> Prediction:
    await emit(Progress(1, 3, "looking things up"))
    hits = await search_web(question)
    product = calculator("6 * 7")
    await emit(Progress(2, 3, f"{len(hits)} sources, calculator says {product}"))
    reply = await fake_lm(f"{question}\n{hits}\n{product}")
    await emit(Progress(3, 3, "parsing the reply"))
    fields = {
        name.strip(): value.strip()
        for name, value in (
            part.split(" ## ]]", 1) for part in reply.split("[[ ## ")[1:] if " ## ]]" in part
        )
    }
    return Prediction(reasoning=fields["reasoning"], answer=fields["answer"])


class DemoProvider(StatusMessageProvider):
    def module_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> Optional[str]:
        return f"Starting {instance.name} for {inputs['question']!r}"

    def lm_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> Optional[str]:
        return "Asking the LM..."


def _program() -> Any:
    return assistant


def main(argv: Optional[Iterable[str]] = None) -> int:
    global DELAY
    parser = argparse.ArgumentParser(
        prog="python -m streamify",
        description=__doc__.replace("``", ""),  # plain text: --help is no place for reST
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--fast", action="store_true", help="no pauses (for tests)")
    parser.add_argument("--sync", action="store_true", help="consume from sync code")
    parser.add_argument("--question", default="What is the answer to everything?")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.fast:
        DELAY = 0.0
    listeners = [StreamListener("answer")]
    print(f"streaming {assistant.__name__}({args.question!r}):", flush=True)
    try:
        if args.sync:
            sync_stream = streamify(
                _program(), DemoProvider(), listeners, async_streaming=False, buffer_size=4
            )
            print_stream(sync_stream(args.question))
        else:
            stream = streamify(_program(), DemoProvider(), listeners, buffer_size=4)
            asyncio.run(_print_async(stream(args.question)))
    except KeyboardInterrupt:
        # The stream was closed on the way out (the program stopped); one line is enough.
        print("interrupted", file=sys.stderr, flush=True)
        return 130
    return 0


async def _print_async(stream: AsyncIterator[Any]) -> None:
    await aprint_stream(stream)


if __name__ == "__main__":
    sys.exit(main())
