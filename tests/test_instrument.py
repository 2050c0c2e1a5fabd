"""The @module / @tool decorators, callbacks, settings and asyncify."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any, Optional

import pytest

from streamify import (
    BaseCallback,
    StatusMessage,
    asyncify,
    configure,
    context,
    emit,
    module,
    streamify,
    tool,
)


class Recorder(BaseCallback):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_module_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.events.append(("module_start", call_id, instance.name, inputs))

    def on_module_end(
        self, call_id: str, outputs: Optional[Any], exception: Optional[BaseException] = None
    ) -> None:
        self.events.append(("module_end", call_id, outputs, exception))

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.events.append(("tool_start", call_id, instance.name, inputs))

    def on_tool_end(
        self, call_id: str, outputs: Optional[Any], exception: Optional[BaseException] = None
    ) -> None:
        self.events.append(("tool_end", call_id, outputs, exception))


@tool(name="web_search")
def search(query: str, limit: int = 3) -> list[str]:
    return [query] * limit


@tool
async def fetch(url: str, *, timeout: float = 1.0) -> str:
    return url


class Agent:
    name = "agent-object"

    @module(name="agent")
    async def run(self, question: str) -> str:
        hits = search(question, limit=1)
        page = await fetch(hits[0])
        return page

    @tool
    def calculator(self, expression: str) -> int:
        return len(expression)


async def test_callbacks_see_start_and_end_with_bound_inputs_without_self() -> None:
    recorder = Recorder()
    with context(callbacks=[recorder]):
        assert await Agent().run("q") == "q"
    kinds = [event[0] for event in recorder.events]
    assert kinds == [
        "module_start",
        "tool_start",
        "tool_end",
        "tool_start",
        "tool_end",
        "module_end",
    ]
    assert recorder.events[0][2:] == ("agent", {"question": "q"})
    assert recorder.events[1][2:] == ("web_search", {"query": "q", "limit": 1})
    assert recorder.events[3][2:] == ("fetch", {"url": "q", "timeout": 1.0})
    assert recorder.events[5][2:] == ("q", None)
    call_ids = [event[1] for event in recorder.events]
    assert call_ids[0] == call_ids[5] and call_ids[1] == call_ids[2] and call_ids[3] == call_ids[4]
    assert len({call_ids[0], call_ids[1], call_ids[3]}) == 3


async def test_status_messages_carry_call_and_parent_ids_of_nested_calls() -> None:
    items = [item async for item in streamify(Agent().run)("q")]
    status = [item for item in items if isinstance(item, StatusMessage)]
    assert [s.message for s in status] == [
        "Calling tool web_search...",
        "Tool calling finished! Querying the LLM with tool calling results...",
        "Calling tool fetch...",
        "Tool calling finished! Querying the LLM with tool calling results...",
    ]
    assert [s.event for s in status] == ["tool_start", "tool_end", "tool_start", "tool_end"]
    assert status[0].call_id == status[1].call_id != status[2].call_id == status[3].call_id
    parents = {s.parent_call_id for s in status}
    assert len(parents) == 1 and None not in parents  # both tools ran inside the module call


async def test_instance_of_a_method_call_has_name_kind_and_owner() -> None:
    seen: list[Any] = []

    class Spy(BaseCallback):
        def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
            seen.append((instance.name, instance.kind, instance.owner, inputs))

    agent = Agent()
    with context(callbacks=[Spy()]):
        assert agent.calculator("1+1") == 3
    assert seen == [("calculator", "tool", agent, {"expression": "1+1"})]


def test_end_callbacks_receive_the_exception() -> None:
    @tool
    def broken() -> None:
        raise ValueError("bad")

    recorder = Recorder()
    with context(callbacks=[recorder]), pytest.raises(ValueError, match="bad"):
        broken()
    assert recorder.events[-1][0] == "tool_end"
    assert isinstance(recorder.events[-1][3], ValueError)


def test_outside_any_stream_and_without_callbacks_a_decorated_function_is_a_plain_call() -> None:
    assert search("x", limit=2) == ["x", "x"]
    assert search.__name__ == "search"
    assert asyncio.run(fetch("u")) == "u"


def test_configure_sets_process_wide_callbacks_and_context_overrides_them() -> None:
    outer, inner = Recorder(), Recorder()
    configure(callbacks=[outer])
    try:
        search("a")
        with context(callbacks=[inner]):
            search("b")
        search("c")
    finally:
        configure(callbacks=[])
    assert [event[3]["query"] for event in outer.events if event[0] == "tool_start"] == ["a", "c"]
    assert [event[3]["query"] for event in inner.events if event[0] == "tool_start"] == ["b"]


async def test_context_settings_are_scoped_to_the_task_that_entered_them() -> None:
    recorder = Recorder()
    entered = asyncio.Event()
    release = asyncio.Event()

    async def scoped() -> None:
        with context(callbacks=[recorder]):
            entered.set()
            await release.wait()
            search("inside")

    task = asyncio.ensure_future(scoped())
    await entered.wait()
    search("other task")
    release.set()
    await task
    assert [event[3]["query"] for event in recorder.events if event[0] == "tool_start"] == [
        "inside"
    ]


async def test_asyncify_runs_in_a_worker_thread_and_respects_its_limit() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()
    gate = threading.Event()
    arrived = threading.Semaphore(0)

    def work(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        arrived.release()
        gate.wait(10)
        with lock:
            running -= 1
        return i

    limited = asyncify(work, limit=2)
    tasks = [asyncio.ensure_future(limited(i)) for i in range(6)]
    # Two threads get in; the others wait for the limiter.
    await asyncio.get_running_loop().run_in_executor(None, arrived.acquire)
    await asyncio.get_running_loop().run_in_executor(None, arrived.acquire)
    for _ in range(50):
        await asyncio.sleep(0)
    assert running == 2
    gate.set()
    assert await asyncio.gather(*tasks) == list(range(6))
    assert peak == 2


async def test_a_cancelled_asyncify_call_waits_for_its_thread_before_raising() -> None:
    started = threading.Event()
    release = threading.Event()
    finished = threading.Event()

    def work() -> None:
        started.set()
        release.wait(10)
        finished.set()

    task = asyncio.ensure_future(asyncify(work)())
    await asyncio.get_running_loop().run_in_executor(None, started.wait)
    task.cancel()
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()  # still waiting for the thread
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished.is_set()


async def test_emit_outside_any_stream_does_nothing_and_returns_false() -> None:
    from streamify import emit_sync

    assert await emit("x") is False
    assert emit_sync("x") is False


async def test_emit_after_the_program_returned_raises_a_clear_error() -> None:
    from streamify import StreamClosedError, emit_sync

    leftovers: list[Any] = []

    def program() -> None:
        # A thread the program starts and forgets: it emits after the program returned.
        ready = threading.Event()

        def late() -> None:
            ready.wait(10)
            try:
                emit_sync("late")
            except StreamClosedError as exc:
                leftovers.append(exc)

        # Threads do not inherit contextvars: hand the program's context over explicitly.
        thread = threading.Thread(target=contextvars.copy_context().run, args=(late,))
        thread.start()
        leftovers.append((thread, ready))

    items = [item async for item in streamify(program)()]
    thread, ready = leftovers[0]
    ready.set()
    await asyncio.get_running_loop().run_in_executor(None, thread.join)
    assert len(items) == 1
    assert isinstance(leftovers[1], StreamClosedError)
    assert "join the threads" in str(leftovers[1])
