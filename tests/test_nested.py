"""A streamified program called inside another stream's program."""

from __future__ import annotations

from typing import Any

from streamify import Prediction, StatusMessage, emit, module, streamify, tool


@tool
def inner_tool() -> str:
    return "inner"


@tool
def outer_tool() -> str:
    return "outer"


@module
async def inner_program() -> str:
    await emit("inner item")
    return inner_tool()


async def test_the_outer_stream_sees_only_what_the_outer_program_emits_or_forwards() -> None:
    inner = streamify(inner_program)

    @module
    async def outer_program() -> dict[str, Any]:
        outer_tool()
        forwarded: list[Any] = []
        result = None
        async for item in inner():
            if isinstance(item, Prediction):
                result = item.raw
            else:
                forwarded.append(item)
                await emit(item)  # forward the inner items (everything but its Prediction)
        return {"inner": result, "forwarded": len(forwarded)}

    items = [item async for item in streamify(outer_program)()]
    messages = [i.message if isinstance(i, StatusMessage) else i for i in items[:-1]]
    assert messages == [
        "Calling tool outer_tool...",
        "Tool calling finished! Querying the LLM with tool calling results...",
        "inner item",
        "Calling tool inner_tool...",
        "Tool calling finished! Querying the LLM with tool calling results...",
    ]
    result = items[-1]
    assert isinstance(result, Prediction)
    assert result.inner == "inner" and result.forwarded == 3
    # The inner tool's call knows it ran inside the inner module, itself inside the outer one.
    inner_status = [i for i in items if isinstance(i, StatusMessage)][2]
    assert inner_status.parent_call_id is not None


async def test_without_forwarding_the_outer_stream_sees_nothing_of_the_inner_one() -> None:
    inner = streamify(inner_program)

    async def outer_program() -> str:
        items = [item async for item in inner()]
        assert isinstance(items[-1], Prediction)
        return str(items[-1].raw)

    items = [item async for item in streamify(outer_program)()]
    assert len(items) == 1 and isinstance(items[0], Prediction) and items[0].raw == "inner"
