"""Guarantee 1: items arrive in the order the program produced them, nothing lost or
duplicated, and the Prediction comes last, exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamify import Prediction, StatusMessage, asyncify, emit, emit_sync, streamify, tool

from .helpers import collect, split

TOOL_START = "Calling tool step..."
TOOL_END = "Tool calling finished! Querying the LLM with tool calling results..."


@tool(name="step")
def sync_step(i: int) -> int:
    return i


@tool(name="step")
async def async_step(i: int) -> int:
    return i


def expected_items(ops: list[tuple[str, int]]) -> list[Any]:
    out: list[Any] = []
    for kind, i in ops:
        if kind.endswith("tool"):
            out += [TOOL_START, TOOL_END]
        else:
            out.append(i)
    return out


def normalise(items: list[Any]) -> list[Any]:
    return [item.message if isinstance(item, StatusMessage) else item for item in items]


def make_async_program(ops: list[tuple[str, int]]) -> Any:
    async def program() -> dict[str, int]:
        for kind, i in ops:
            if kind == "emit":
                await emit(i)
            elif kind == "emit_sync":  # sync code on the loop thread
                emit_sync(i)
            elif kind == "sync_tool":
                sync_step(i)
            elif kind == "async_tool":
                await async_step(i)
            elif kind == "thread_emit":
                await asyncify(emit_sync)(i)
        return {"count": len(ops)}

    return program


def make_sync_program(ops: list[tuple[str, int]]) -> Any:
    def program() -> dict[str, int]:
        for kind, i in ops:
            if kind.endswith("tool"):
                sync_step(i)
            else:
                emit_sync(i)
        return {"count": len(ops)}

    return program


ASYNC_OPS = st.lists(
    st.tuples(
        st.sampled_from(["emit", "emit_sync", "sync_tool", "async_tool", "thread_emit"]),
        st.integers(0, 1000),
    ),
    max_size=60,
)
SYNC_OPS = st.lists(
    st.tuples(st.sampled_from(["emit_sync", "sync_tool"]), st.integers(0, 1000)), max_size=60
)
BUFFERS = st.sampled_from([1, 2, 3, 16])
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(ops=ASYNC_OPS, buffer_size=BUFFERS)
def test_async_program_items_arrive_in_order_exactly_once_with_prediction_last(
    ops: list[tuple[str, int]], buffer_size: int
) -> None:
    stream = streamify(make_async_program(ops), buffer_size=buffer_size)
    items = asyncio.run(collect(stream()), debug=True)
    before, prediction = split(items)
    assert normalise(before) == expected_items(ops)
    assert prediction.count == len(ops)


@FAST
@given(ops=SYNC_OPS, buffer_size=BUFFERS)
def test_sync_program_items_arrive_in_order_exactly_once_with_prediction_last(
    ops: list[tuple[str, int]], buffer_size: int
) -> None:
    stream = streamify(make_sync_program(ops), buffer_size=buffer_size)
    items = asyncio.run(collect(stream()), debug=True)
    before, prediction = split(items)
    assert normalise(before) == expected_items(ops)
    assert prediction.count == len(ops)


@FAST
@given(ops=SYNC_OPS, buffer_size=BUFFERS, program_is_async=st.booleans())
def test_sync_consumer_items_arrive_in_order_exactly_once_with_prediction_last(
    ops: list[tuple[str, int]], buffer_size: int, program_is_async: bool
) -> None:
    program = make_async_program(ops) if program_is_async else make_sync_program(ops)
    stream = streamify(program, buffer_size=buffer_size, async_streaming=False)
    before, prediction = split(list(stream()))
    assert normalise(before) == expected_items(ops)
    assert prediction.count == len(ops)


async def test_many_items_through_buffer_of_one_arrive_complete_and_in_order() -> None:
    async def program(n: int) -> int:
        for i in range(n):
            await emit(i)
        return n

    items = await collect(streamify(program, buffer_size=1)(5000))
    before, prediction = split(items)
    assert before == list(range(5000))
    assert prediction.raw == 5000


async def test_a_returned_prediction_is_yielded_as_is() -> None:
    result = Prediction(answer="42")

    async def program() -> Prediction:
        return result

    items = await collect(streamify(program)())
    assert items == [result]
    assert items[0] is result


async def test_other_return_values_are_wrapped_and_stay_reachable_as_raw() -> None:
    marker = object()

    async def returns_object() -> object:
        return marker

    async def returns_mapping() -> dict[str, int]:
        return {"answer": 42}

    (wrapped,) = await collect(streamify(returns_object)())
    assert isinstance(wrapped, Prediction)
    assert wrapped.raw is marker
    (mapped,) = await collect(streamify(returns_mapping)())
    assert isinstance(mapped, Prediction)
    assert mapped.answer == 42
    assert mapped["answer"] == 42
    assert mapped.raw == {"answer": 42}


async def test_emitting_a_prediction_is_refused_so_the_result_stays_unique() -> None:
    async def program() -> None:
        await emit(Prediction(answer="fake"))

    with pytest.raises(TypeError, match="cannot send a Prediction"):
        await collect(streamify(program)())


def test_predictions_compare_by_fields_and_raw_value() -> None:
    assert Prediction(answer=1) == Prediction(answer=1)
    assert Prediction.from_value({"a": 1}) == Prediction.from_value({"a": 1})
    assert Prediction.from_value(3) != Prediction.from_value(4)
    assert Prediction(answer=1) != Prediction(answer=2)
