"""The failures of the reliability review, each as the property it broke.

Scenarios that could hang run in a fresh interpreter with a hard timeout
(``tests/scenarios.py``); a hang, an exception or anything printed to stderr fails them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from streamify import (
    BaseCallback,
    Prediction,
    StatusMessage,
    StatusMessageProvider,
    StreamListener,
    StreamResponse,
    context,
    emit,
    emit_sync,
    lm,
    module,
    streamify,
    tool,
)

from .scenarios import run_scenario

needs_fork = pytest.mark.skipif(
    not hasattr(os, "fork") or sys.platform == "darwin", reason="needs os.fork"
)


# 1. timeout= stops a sync program, in both consumers
def test_timeout_stops_an_endless_sync_program_with_the_async_consumer() -> None:
    run_scenario("timeout_stops_endless_sync_program_async_consumer")


def test_timeout_stops_an_endless_sync_program_with_the_sync_consumer() -> None:
    run_scenario("timeout_stops_endless_sync_program_sync_consumer")


# 2. no thread slot is held while waiting on a stream
def test_consumer_calling_asyncify_per_item_with_thread_limit_one_never_deadlocks() -> None:
    run_scenario("asyncify_per_item_with_thread_limit_one")


def test_asyncify_call_blocked_on_backpressure_lends_its_slot_to_the_consumer() -> None:
    run_scenario("asyncify_emitter_lends_its_slot_to_the_consumer")


def test_sixty_requests_nesting_sync_streams_at_the_default_limit_never_deadlock() -> None:
    run_scenario("forty_nested_sync_streams_at_the_default_limit")


def test_inner_streams_on_the_outer_loop_start_although_forty_outer_programs_run() -> None:
    run_scenario("nested_stream_on_the_outer_loop_at_the_default_limit")


def test_nested_sync_streams_with_thread_limit_one_never_deadlock() -> None:
    run_scenario("nested_sync_streams_with_thread_limit_one")


def test_asyncified_sync_consumer_lends_its_slot_to_the_stream_it_waits_for() -> None:
    run_scenario("asyncified_sync_consumer_lends_its_slot_to_the_inner_stream")


# 3. the runner's cancellation of the producer task releases the worker
def test_asyncio_run_returns_while_a_suspended_sync_program_stream_is_referenced() -> None:
    run_scenario("loop_end_with_a_suspended_sync_stream_returns")


# 4. fork
@needs_fork
def test_forked_child_streams_a_sync_program_after_the_parent_streamed() -> None:
    run_scenario("fork_after_streaming_gives_the_child_a_working_pool")


@needs_fork
def test_fork_while_a_stream_and_a_run_are_live_leaves_parent_and_child_working() -> None:
    run_scenario("fork_while_a_stream_and_a_run_are_live_leaves_both_processes_working")


@needs_fork
def test_multiprocessing_fork_pool_streams_after_the_parent_streamed() -> None:
    run_scenario("multiprocessing_fork_pool_after_streaming")


# 5. a dropped sync stream in a reference cycle, collected in any thread
def test_sync_stream_collected_in_its_own_worker_thread_stops_without_deadlock() -> None:
    run_scenario("gc_of_sync_stream_in_its_own_worker_thread")


def test_sync_stream_collected_on_its_loop_thread_stops_without_deadlock() -> None:
    run_scenario("gc_of_sync_stream_on_its_loop_thread")


def test_sync_stream_collected_in_the_consumer_thread_stops_and_prints_nothing() -> None:
    run_scenario("gc_of_sync_stream_in_the_consumer_thread")


# 8. no event loop outlives its use
def test_no_event_loop_is_kept_alive_by_the_thread_limiter() -> None:
    run_scenario("event_loops_are_not_kept_alive_by_the_thread_limit")


# 10. StopAsyncIteration / StopIteration raised by the program
async def test_stop_async_iteration_from_the_program_is_no_silent_end_and_keeps_the_cause() -> None:
    original = StopAsyncIteration("from the program")

    async def program() -> None:
        await emit("before")
        raise original

    received: list[Any] = []
    with pytest.raises(RuntimeError, match="the program raised StopAsyncIteration") as caught:
        async for item in streamify(program)():
            received.append(item)
    assert received == ["before"]
    assert caught.value.__cause__ is original


def test_stop_async_iteration_reaches_the_sync_consumer_as_the_same_object() -> None:
    original = StopAsyncIteration("from the program")

    async def program() -> None:
        await emit("before")
        raise original

    received: list[Any] = []
    with pytest.raises(StopAsyncIteration) as caught:
        for item in streamify(program, async_streaming=False)():
            received.append(item)
    assert received == ["before"]
    assert caught.value is original


# 11. timeouts too long for a thread's wait
@pytest.mark.parametrize("seconds", [float("inf"), 1e300, 10**400], ids=["inf", "1e300", "10**400"])
def test_endless_idle_timeout_works_in_the_sync_consumer(seconds: float) -> None:
    def program() -> int:
        emit_sync("x")
        return 1

    items = list(streamify(program, idle_timeout=seconds, timeout=seconds, async_streaming=False)())
    assert items[0] == "x" and isinstance(items[1], Prediction) and items[1].raw == 1


@pytest.mark.parametrize("seconds", [float("inf"), 1e300, 10**400], ids=["inf", "1e300", "10**400"])
async def test_endless_idle_timeout_works_in_the_async_consumer(seconds: float) -> None:
    def program() -> int:
        emit_sync("x")
        return 1

    items = [item async for item in streamify(program, idle_timeout=seconds, timeout=seconds)()]
    assert items[0] == "x" and isinstance(items[1], Prediction) and items[1].raw == 1


# 13. decorators detect async callables as streamify() does
async def test_tool_on_an_object_with_async_call_ends_after_its_body() -> None:
    order: list[str] = []

    class Search:
        async def __call__(self, query: str) -> str:
            order.append("body")
            await asyncio.sleep(0)
            order.append("body done")
            return query

    search = tool(name="search")(Search())

    class Provider(StatusMessageProvider):
        def tool_end_status_message(self, outputs: Any) -> str:
            order.append("end")
            return f"done: {outputs}"

    async def program() -> str:
        return str(await search("q"))

    items = [item async for item in streamify(program, status_message_provider=Provider())()]
    assert order == ["body", "body done", "end"]
    assert [i.message for i in items if isinstance(i, StatusMessage)][-1] == "done: q"


# 15. the sync consumer's loop outlives each call
_bound: list[asyncio.AbstractEventLoop] = []


def test_sync_streams_share_one_long_lived_loop_so_loop_bound_clients_keep_working() -> None:
    lock: list[asyncio.Lock] = []

    async def program() -> str:
        if not lock:  # a module-level async object, created once, bound to the first loop
            lock.append(asyncio.Lock())
            _bound.append(asyncio.get_running_loop())
        async with lock[0]:
            await asyncio.sleep(0)
        assert asyncio.get_running_loop() is _bound[0]
        return "ok"

    stream = streamify(program, async_streaming=False)
    for _ in range(3):
        items = list(stream())
        assert isinstance(items[-1], Prediction) and items[-1].raw == "ok"
    assert not _bound[0].is_closed()


def test_a_sync_stream_consumed_on_the_stream_loop_itself_gets_a_private_loop() -> None:
    def inner() -> int:
        emit_sync("inner")
        return 2

    async def outer() -> list[Any]:
        # Blocking here is the program's choice; it must not wait on the loop it blocks.
        return list(streamify(inner, async_streaming=False)())

    items = list(streamify(outer, async_streaming=False)())
    assert isinstance(items[-1], Prediction)
    inner_items = items[-1].raw
    assert inner_items[0] == "inner" and inner_items[1].raw == 2


# 16. a listener that can never match is not silent
@module(name="qa", outputs=("answer",))
def qa_module(question: str) -> str:
    return reply(question)


@lm
def reply(question: str) -> Iterator[str]:
    yield "[[ ## answer ## ]]\n"
    yield f"about {question}"


class QA:
    @module(outputs=("answer",))
    def predict(self, question: str) -> str:
        return reply(question)

    def __call__(self, question: str) -> str:
        return self.predict(question)


def test_a_field_one_typo_away_from_a_visible_output_is_refused_when_wrapping() -> None:
    with pytest.raises(ValueError, match=r"did you mean 'answer'"):
        streamify(QA(), stream_listeners=[StreamListener("anwser")])


def test_a_predict_name_one_typo_away_from_a_visible_module_is_refused_when_wrapping() -> None:
    with pytest.raises(ValueError, match=r"did you mean 'predict'"):
        streamify(QA(), stream_listeners=[StreamListener("answer", predict_name="predcit")])


async def test_a_listener_that_never_matched_is_reported_when_the_call_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def program(question: str) -> str:
        return qa_module(question)

    stream = streamify(program, stream_listeners=[StreamListener("anwser")])
    with caplog.at_level(logging.WARNING, logger="streamify"):
        items = [item async for item in stream("x")]
    assert isinstance(items[-1], Prediction)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "StreamListener('anwser') streamed nothing" in warnings[0]
    assert "'qa' (outputs: answer)" in warnings[0]


async def test_a_listener_that_never_matched_raises_in_strict_mode() -> None:
    def program(question: str) -> str:
        return qa_module(question)

    stream = streamify(program, stream_listeners=[StreamListener("anwser")], strict=True)
    with pytest.raises(ValueError, match="streamed nothing"):
        [item async for item in stream("x")]


async def test_a_listener_that_matched_is_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    def program(question: str) -> str:
        return qa_module(question)

    stream = streamify(program, stream_listeners=[StreamListener("answer")])
    with caplog.at_level(logging.WARNING, logger="streamify"):
        items = [item async for item in stream("x")]
    assert "".join(i.chunk for i in items if isinstance(i, StreamResponse)) == "about x"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# Smaller ones
async def test_strict_mode_keeps_the_tools_own_exception(caplog: pytest.LogCaptureFixture) -> None:
    original = KeyError("the tool's own")

    class Failing(BaseCallback):
        def on_tool_end(self, call_id: str, outputs: Any, exception: Any = None) -> None:
            raise ValueError("callback broke")

    @tool
    def broken() -> None:
        raise original

    async def program() -> None:
        broken()

    with context(callbacks=[Failing()]), pytest.raises(KeyError) as caught:
        [item async for item in streamify(program, strict=True)()]
    assert caught.value is original
    assert any("callback broke" in r.getMessage() for r in caplog.records)


def test_asyncio_run_returns_while_an_asyncify_call_of_the_program_blocks_on_the_stream() -> None:
    run_scenario("loop_end_with_an_asyncify_emitter_blocked_on_the_stream_returns")


def test_a_cancelled_asyncify_call_blocked_on_a_full_buffer_stops_its_thread_only() -> None:
    run_scenario("cancelled_asyncify_call_blocked_on_a_full_buffer_raises_in_its_thread")
