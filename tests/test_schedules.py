"""Random schedules (hypothesis): the consumer stops at a random point in a random way, the
program raises at a random point, callbacks raise at random points.  In every case the items
delivered are a prefix of the items produced, the run ends in exactly one of {the Prediction,
the program's exception, the consumer's stop}, nothing hangs, and no task or thread outlives
the stream."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any, Optional

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamify import BaseCallback, Prediction, context, emit, emit_sync, streamify, tool


class ProgramError(Exception):
    pass


class FlakyCallback(BaseCallback):
    def __init__(self, failing_calls: frozenset[int]) -> None:
        self.failing_calls = failing_calls
        self.calls = 0

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        self.calls += 1
        if self.calls in self.failing_calls:
            raise RuntimeError("callback failure")


@tool
def step(i: int) -> int:
    return i


@dataclass
class Schedule:
    program_async: bool
    consumer: str  # "async" or "sync"
    n: int
    raise_at: Optional[int]
    stop_at: Optional[int]
    stop_how: str  # "break", "aclose", "cancel" (async consumer only)
    buffer_size: int
    failing_callbacks: frozenset[int]


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    n = draw(st.integers(0, 25))
    consumer = draw(st.sampled_from(["async", "sync"]))
    hows = ["break", "aclose", "cancel"] if consumer == "async" else ["break", "close"]
    return Schedule(
        program_async=draw(st.booleans()),
        consumer=consumer,
        n=n,
        raise_at=draw(st.none() | st.integers(0, max(n, 0))),
        stop_at=draw(st.none() | st.integers(0, n + 2)),
        stop_how=draw(st.sampled_from(hows)),
        buffer_size=draw(st.sampled_from([1, 2, 5, 16])),
        failing_callbacks=frozenset(draw(st.sets(st.integers(1, 30), max_size=5))),
    )


class Probe:
    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.error = ProgramError("program failure")
        self.finished = threading.Event()

    def items(self, i: int) -> None:
        if self.schedule.raise_at == i:
            raise self.error

    async def async_program(self) -> int:
        try:
            for i in range(self.schedule.n + 1):
                self.items(i)
                if i < self.schedule.n:
                    await emit(i)
                    step(i)
            return self.schedule.n
        finally:
            self.finished.set()

    def sync_program(self) -> int:
        try:
            for i in range(self.schedule.n + 1):
                self.items(i)
                if i < self.schedule.n:
                    emit_sync(i)
                    step(i)
            return self.schedule.n
        finally:
            self.finished.set()


def check(schedule: Schedule, probe: Probe, received: list[Any], ending: str) -> None:
    custom = [item for item in received if isinstance(item, int)]
    assert custom == list(range(len(custom))), "delivered items must be a prefix, in order"
    predictions = [item for item in received if isinstance(item, Prediction)]
    if ending == "prediction":
        assert predictions == [received[-1]]
        assert custom == list(range(schedule.n))
        assert schedule.raise_at is None or schedule.raise_at > schedule.n
    elif ending == "error":
        assert not predictions
        assert schedule.raise_at is not None
        assert custom == list(range(min(schedule.raise_at, schedule.n)))
    else:
        assert ending == "stopped"
        assert not predictions
    assert probe.finished.is_set(), "the program still ran after the stream ended"


async def consume_async(schedule: Schedule, probe: Probe) -> tuple[list[Any], str]:
    program: Any = probe.async_program if schedule.program_async else probe.sync_program
    stream = streamify(program, buffer_size=schedule.buffer_size)()
    received: list[Any] = []

    async def run() -> str:
        try:
            async for item in stream:
                if schedule.stop_at is not None and len(received) == schedule.stop_at:
                    if schedule.stop_how == "break":
                        return "stopped"
                    if schedule.stop_how == "aclose":
                        await stream.aclose()
                        return "stopped"
                    asyncio.current_task().cancel()  # type: ignore[union-attr]
                    await asyncio.sleep(0)
                received.append(item)
        except ProgramError as exc:
            assert exc is probe.error
            return "error"
        finally:
            await stream.aclose()
        return "prediction"

    task = asyncio.ensure_future(run())
    try:
        ending = await task
    except asyncio.CancelledError:
        ending = "stopped"
    return received, ending


def consume_sync(schedule: Schedule, probe: Probe) -> tuple[list[Any], str]:
    program: Any = probe.async_program if schedule.program_async else probe.sync_program
    stream = streamify(program, buffer_size=schedule.buffer_size, async_streaming=False)()
    received: list[Any] = []
    try:
        for item in stream:
            if schedule.stop_at is not None and len(received) == schedule.stop_at:
                stream.close()
                return received, "stopped"
            received.append(item)
    except ProgramError as exc:
        assert exc is probe.error
        return received, "error"
    finally:
        stream.close()
    return received, "prediction"


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(schedule=schedules())
def test_any_schedule_ends_in_exactly_one_outcome_with_a_prefix_and_nothing_left_running(
    schedule: Schedule,
) -> None:
    probe = Probe(schedule)
    threads_before = {t for t in threading.enumerate() if not t.name.startswith("streamify-worker")}
    with context(callbacks=[FlakyCallback(schedule.failing_callbacks)]):
        if schedule.consumer == "async":

            async def main() -> tuple[list[Any], str]:
                outcome = await consume_async(schedule, probe)
                others = asyncio.all_tasks() - {asyncio.current_task()}
                assert not others, f"tasks outlived the stream: {others}"
                return outcome

            received, ending = asyncio.run(main(), debug=True)
        else:
            received, ending = consume_sync(schedule, probe)
    check(schedule, probe, received, ending)
    threads_after = {t for t in threading.enumerate() if not t.name.startswith("streamify-worker")}
    assert threads_after <= threads_before, "a thread outlived the stream"
