"""The subprocess side of the adversarial suite: run schedules, check each one, report.

Run as ``python -W error -m tests.adversarial._runner [--hang-limit SECONDS]`` from the
repository root (or by path), with ``PYTHONASYNCIODEBUG=1``.  It reads schedules from stdin, one
JSON object per line (see ``_schedules.py``), runs them one after the other, and writes, for
each, protocol lines to stdout (each starts with :data:`PREFIX`):

* ``{"event": "start", "sid": n}`` before the schedule runs;
* ``{"event": "note", "sid": n, "violation": {...}}`` for a violation found while the run is
  still going (so that it is not lost if the rest of the run hangs);
* ``{"event": "result", "sid": n, "ok": bool, "violations": [...], ...}`` once it is checked.

Each schedule runs in a fresh ``asyncio.run(..., debug=True)`` (async consumers) or from plain
code (sync consumers), with ``faulthandler.dump_traceback_later(hang_limit, exit=True)`` armed:
a schedule that hangs gets the stacks of every asyncio task (written by a watchdog thread 1.5s
earlier) and of every thread (faulthandler) written to fd 2, after a line
``@@adversarial-stderr start <sid>``, and the process exits, so the parent names the hanging
schedule and shows where everything was.  Python's ``sys.stderr`` is replaced by a capture for
the whole run: fd 2 carries only those markers and dumps, and whatever Python code writes to
``sys.stderr`` while a schedule runs is that schedule's failure.

What is checked per schedule (a violation has a ``kind`` and a ``detail``):

* ``prefix``: the items received are a prefix of what the program produced, in order, no
  duplicates; ``prediction``: at most one ``Prediction``, last, after everything, with the
  program's result;
* ``outcome``: exactly one outcome: the ``Prediction``, or the program's exception (the same
  object; for ``StopIteration`` / ``StopAsyncIteration`` a ``RuntimeError`` whose ``__cause__``
  chain reaches it is accepted, as Python itself converts them), or ``TimeoutError`` for the
  timeout stops, or nothing after the consumer's own stop; ``stop-raised``: the stop itself
  (``aclose()``, ``close()``, the cancelled task) raised something else; ``escaped``: an exception
  escaped from ``asyncio.run``;
* ``not-stopped``: a program level was still running when it must have stopped: when the
  consumer got its outcome, when ``aclose()`` / ``close()`` returned, when the cancelled
  consumer task ended, when ``asyncio.run`` returned; after ``break`` (the generator dropped
  unclosed) and after garbage collection, where stopping is asynchronous, within
  :data:`SETTLE` seconds; ``kept-running``: it went on making steps after that point;
* ``leak-thread`` (a thread other than the pool's ``streamify-worker-*`` threads is alive),
  ``leak-worker`` (a pool thread is still busy: a worker running a job, or the pool's loop thread
  with tasks left), ``leak-slot`` (thread-limit slots still taken), ``leak-task`` (tasks left on
  the consumer's loop), ``leak-loop`` (an event loop was left unclosed, other than the loop the
  pool's own thread runs), each after a bounded wait of :data:`SETTLE` seconds;
* ``gc-blocked``: the program's own ``gc.collect()`` (``gc_thread="program"``) did not return:
  finalising the dropped stream blocks the thread it runs in; ``handshake``: a hand-off of the
  harness itself failed (the consumer never got the items the program had produced);
* ``stderr``: anything written to ``sys.stderr`` (a traceback, "Exception ignored ...", a
  warning); ``log``: a log record of level WARNING or more (what Python would print without
  logging configured).  Three kinds of record are expected and are filtered by the exception
  object the record carries, never by its text: the failing callback or provider of a
  ``callback``/``provider`` fault (exactly once when the run completes); the program's own
  exception (or the ``RuntimeError`` Python wraps a ``StopIteration`` in) logged because its
  consumer had left; and, for a ``KeyboardInterrupt`` / ``SystemExit`` that a stop re-raised
  inside a task, asyncio's "Task exception was never retrieved" about that task.  Asyncio's
  slow-callback warning (``"Executing %s took %.3f seconds"``, debug mode, matched on the
  record's format string) is tolerated and counted: it depends on machine load, not on the
  library.  Output that names another schedule (``"... of schedule #n"``) is reported as that
  schedule's late output.

After a schedule that leaks a thread, a busy worker, a slot or a loop, the runner exits with
status 3 (the process is tainted); the parent runs the rest of the batch in a fresh process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import faulthandler
import gc
import io
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Optional

# Every event loop created from now on is recorded, so that one left unclosed is found: the
# patch must be in place before the library is imported.
_created_loops: list[asyncio.AbstractEventLoop] = []
_original_new_event_loop = asyncio.events.new_event_loop


def _recording_new_event_loop() -> asyncio.AbstractEventLoop:
    loop = _original_new_event_loop()
    _created_loops.append(loop)
    return loop


asyncio.events.new_event_loop = _recording_new_event_loop
asyncio.new_event_loop = _recording_new_event_loop

if not __package__:  # run by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import streamify  # noqa: E402
from streamify import (  # noqa: E402
    BaseCallback,
    Prediction,
    StatusMessage,
    StatusMessageProvider,
    StreamListener,
    StreamResponse,
    _workers,
)
from tests.adversarial._schedules import (  # noqa: E402
    HOOK_FAULTS,
    PREFIX,
    STDERR_MARK,
    TIMEOUT_STOPS,
    Key,
    Schedule,
    expected_at,
    finite_items,
    items_before,
    lm_chunks,
)
from tests.helpers import garbage_collector_off  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator

TIMEOUT = 0.05  # timeout= and idle_timeout= of the timeout stops, in seconds
SETTLE = 5.0  # the bound on every wait for something that finishes asynchronously (ends early)
HANDSHAKE = 10.0  # the bound on the hand-off of a garbage collection in the program's thread
# (generous: on a loaded 2-core machine a worker thread can wait seconds for its turn)
POLL = 0.002
DEFAULT_THREAD_LIMIT = streamify.Settings().thread_limit
SLOW_CALLBACK = "Executing %s took %.3f seconds"  # asyncio's debug-mode warning


class ProgramError(Exception):
    """The ``error`` fault."""


class CallbackFault(Exception):
    """Raised by the failing callback of a ``callback`` fault."""


class ProviderFault(Exception):
    """Raised by the failing status provider of a ``provider`` fault."""


def make_fault(schedule: Schedule) -> Optional[BaseException]:
    what = f"fault at step {schedule.fault_at} of schedule #{schedule.sid}"
    faults: dict[str, Callable[[], BaseException]] = {
        "error": lambda: ProgramError(what),
        "stop_iteration": lambda: StopIteration(what),
        "stop_async_iteration": lambda: StopAsyncIteration(what),
        "keyboard_interrupt": lambda: KeyboardInterrupt(what),
        "system_exit": lambda: SystemExit(what),
    }
    factory = faults.get(schedule.fault)
    return None if factory is None else factory()


# ---------------------------------------------------------------------------- the probe
class Probe:
    """What the programs of one schedule record, from any thread."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._changed = threading.Condition()
        self._started: set[int] = set()
        self._stopped: set[int] = set()
        self._ticks = 0
        self.fault = make_fault(schedule)
        self.fault_raised = False
        self.dropped = threading.Event()  # gc in the program: the consumer dropped the stream
        self.collecting = threading.Event()  # ... the program called gc.collect()
        self.collected = threading.Event()  # ... and it returned
        self.notes: list[dict[str, str]] = []

    def enter(self, level: int) -> None:
        with self._changed:
            self._started.add(level)

    def leave(self, level: int) -> None:
        with self._changed:
            self._stopped.add(level)
            self._changed.notify_all()

    def tick(self) -> None:
        with self._changed:
            self._ticks += 1

    @property
    def ticks(self) -> int:
        with self._changed:
            return self._ticks

    def running(self) -> list[int]:
        with self._changed:
            return sorted(self._started - self._stopped)

    def wait_stopped(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._started <= self._stopped, timeout)

    def maybe_raise(self, step: int) -> None:
        if self.schedule.raises and step == self.schedule.fault_at:
            assert self.fault is not None
            self.fault_raised = True
            raise self.fault

    def wants_gc_at(self, step: int) -> bool:
        s = self.schedule
        return (
            s.stop == "gc"
            and s.gc_thread == "program"
            and step == s.stop_at
            and not self.collected.is_set()
        )

    def gc_in_program_sync(self, step: int) -> None:
        if self.wants_gc_at(step):
            if not self.dropped.wait(HANDSHAKE):
                self._handshake_failed(step)
            self.collecting.set()
            gc.collect()
            self.collected.set()

    async def gc_in_program_async(self, step: int) -> None:
        if self.wants_gc_at(step):
            deadline = time.monotonic() + HANDSHAKE
            while not self.dropped.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(POLL)
            if not self.dropped.is_set():
                self._handshake_failed(step)
            self.collecting.set()
            gc.collect()
            self.collected.set()

    def _handshake_failed(self, step: int) -> None:
        self.notes.append(
            violation(
                "handshake",
                f"the program waited before step {step} for the consumer to receive the "
                f"{items_before(self.schedule, step)} items produced so far, in vain "
                f"({HANDSHAKE}s)",
            )
        )


# ---------------------------------------------------------------------------- instrumented parts
@streamify.tool(name="step")
def step_tool(i: int) -> str:
    return f"step-{i}"


@streamify.tool(name="step")
async def step_tool_async(i: int) -> str:
    return f"step-{i}"


@streamify.tool(name="quiet")
def quiet_tool() -> str:
    return "quiet"


@streamify.lm
async def lm_async(i: int) -> AsyncIterator[str]:
    for chunk in lm_chunks(i):
        yield chunk


@streamify.lm
def lm_sync(i: int) -> Iterator[str]:
    yield from lm_chunks(i)


@streamify.module(name="answer_async", outputs=("answer",))
async def answer_async(i: int) -> str:
    return await lm_async(i)


@streamify.module(name="answer_sync", outputs=("answer",))
def answer_sync(i: int) -> str:
    return lm_sync(i)


def _noop(i: int) -> int:
    return i


noop_async = streamify.asyncify(_noop)


class Provider(StatusMessageProvider):
    """Status messages that name their step; the ``provider`` fault raises at one of them."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def tool_start_status_message(self, instance: Any, inputs: dict[str, Any]) -> Optional[str]:
        if instance.name == "quiet":
            return None
        step = inputs["i"]
        if self.schedule.fault == "provider" and step == self.schedule.fault_at:
            raise ProviderFault(f"provider fault at step {step}")
        return f"start {instance.name} {step}"

    def tool_end_status_message(self, outputs: Any) -> Optional[str]:
        return None if outputs == "quiet" else f"end {outputs}"


class FaultyCallback(BaseCallback):
    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        if instance.name == "step" and inputs.get("i") == self.schedule.fault_at:
            raise CallbackFault(f"callback fault at step {self.schedule.fault_at}")


# ---------------------------------------------------------------------------- the programs
Program = Callable[[], Any]


def make_program(probe: Probe, level: int) -> Program:
    if level == probe.schedule.depth:
        return make_leaf(probe, level)
    return make_middle(probe, level)


def make_leaf(probe: Probe, level: int) -> Program:
    s = probe.schedule

    async def leaf_async() -> dict[str, int]:
        probe.enter(level)
        try:
            for step, kind in enumerate(s.steps):
                probe.tick()
                await probe.gc_in_program_async(step)
                probe.maybe_raise(step)
                if kind == "e":
                    await streamify.emit(("item", step))
                elif kind == "t":
                    if step % 2:
                        await step_tool_async(step)
                    else:
                        step_tool(step)  # a sync tool on the loop thread
                else:
                    await answer_async(step)
            await probe.gc_in_program_async(len(s.steps))
            probe.maybe_raise(len(s.steps))
            if s.tail == "spin":
                n = 0
                while True:
                    probe.tick()
                    await streamify.emit(("tail", n))
                    n += 1
            if s.tail == "block":
                probe.tick()
                await asyncio.Event().wait()  # never set: only cancellation ends this
            return {"items": len(s.steps), "levels": 1}
        finally:
            probe.leave(level)

    def leaf_sync() -> dict[str, int]:
        probe.enter(level)
        try:
            for step, kind in enumerate(s.steps):
                probe.tick()
                probe.gc_in_program_sync(step)
                probe.maybe_raise(step)
                if kind == "e":
                    streamify.emit_sync(("item", step))
                elif kind == "t":
                    step_tool(step)
                else:
                    answer_sync(step)
            probe.gc_in_program_sync(len(s.steps))
            probe.maybe_raise(len(s.steps))
            if s.tail == "spin":
                n = 0
                while True:
                    probe.tick()
                    streamify.emit_sync(("tail", n))
                    n += 1
            if s.tail == "block":
                # A thread cannot be interrupted while it waits; a well-behaved sync program
                # waits in short slices with a cancellation point (an instrumented call that
                # produces no item) between them.
                never = threading.Event()
                while not never.wait(POLL):
                    probe.tick()
                    quiet_tool()
            return {"items": len(s.steps), "levels": 1}
        finally:
            probe.leave(level)

    return leaf_async if s.levels[level] == "async" else leaf_sync


def lift(result: Optional[Prediction]) -> dict[str, int]:
    """A middle level's result: its inner program's, one level more."""
    if result is None:
        raise AssertionError("the inner stream ended without a Prediction")
    raw = result.raw
    return {"items": raw["items"], "levels": raw["levels"] + 1}


async def forward_async(probe: Probe, stream: AsyncGenerator[Any, None]) -> Optional[Prediction]:
    """Iterate an inner stream with ``async for``, re-emitting all but its Prediction."""
    result = None
    try:
        async for item in stream:
            probe.tick()
            if isinstance(item, Prediction):
                result = item
            else:
                await streamify.emit(item)
            if probe.schedule.asyncify:
                await noop_async(0)
    finally:
        await stream.aclose()
    return result


def make_middle(probe: Probe, level: int) -> Program:
    s = probe.schedule

    async def middle_async() -> dict[str, int]:
        probe.enter(level)
        try:
            return lift(await forward_async(probe, open_async_stream(probe, level + 1)))
        finally:
            probe.leave(level)

    def middle_sync() -> dict[str, int]:
        probe.enter(level)
        try:
            stream = open_sync_stream(probe, level + 1)
            result = None
            try:
                for item in stream:
                    probe.tick()
                    if isinstance(item, Prediction):
                        result = item
                    else:
                        streamify.emit_sync(item)
            finally:
                stream.close()
            return lift(result)
        finally:
            probe.leave(level)

    def middle_sync_running_a_loop() -> dict[str, int]:
        probe.enter(level)
        try:
            inner = open_async_stream(probe, level + 1)
            return lift(asyncio.run(forward_async(probe, inner), debug=True))
        finally:
            probe.leave(level)

    if s.levels[level] == "async":
        return middle_async
    if s.inner_consumers[level] == "sync":
        return middle_sync
    return middle_sync_running_a_loop


def _stream_options(probe: Probe, level: int) -> tuple[list[StreamListener], dict[str, Any]]:
    s = probe.schedule
    listeners = []
    if level == s.depth and "l" in s.steps:
        name = f"answer_{s.levels[level]}"
        listeners.append(StreamListener("answer", predict_name=name, allow_reuse=True))
    options: dict[str, Any] = {"buffer_size": s.buffer_size}
    if s.stop == "timeout" and s.timeout_level == level:
        options["timeout"] = TIMEOUT
    if s.stop == "idle_timeout" and s.timeout_level == level:
        options["idle_timeout"] = TIMEOUT
    return listeners, options


def open_async_stream(probe: Probe, level: int) -> AsyncGenerator[Any, None]:
    listeners, options = _stream_options(probe, level)
    program = make_program(probe, level)
    wrapped = streamify.streamify(
        program,
        Provider(probe.schedule),
        listeners,
        buffer_size=options["buffer_size"],
        timeout=options.get("timeout"),
        idle_timeout=options.get("idle_timeout"),
    )
    return wrapped()


def open_sync_stream(probe: Probe, level: int) -> Generator[Any, None, None]:
    listeners, options = _stream_options(probe, level)
    program = make_program(probe, level)
    wrapped = streamify.streamify(
        program,
        Provider(probe.schedule),
        listeners,
        async_streaming=False,
        buffer_size=options["buffer_size"],
        timeout=options.get("timeout"),
        idle_timeout=options.get("idle_timeout"),
    )
    return wrapped()


# ---------------------------------------------------------------------------- the consumers
@dataclasses.dataclass
class Record:
    """What the consumer of one schedule saw and did."""

    items: list[Any] = dataclasses.field(default_factory=list)
    ended: bool = False  # the stream ended by itself
    error: Optional[BaseException] = None  # what the stream raised into the consumer
    stopped: bool = False  # the consumer performed its stop
    stop_error: Optional[BaseException] = None  # what the stop itself raised
    cancelled: bool = False  # cancel stops: the consuming task ended cancelled
    escaped: Optional[BaseException] = None  # raised out of asyncio.run
    where: str = ""  # the point at which the program must have stopped
    running_then: list[int] = dataclasses.field(default_factory=list)
    ticks_then: int = 0
    leftover_tasks: list[str] = dataclasses.field(default_factory=list)
    gc_fallback: bool = False
    gc_blocked: bool = False

    def observe(self, probe: Probe, where: str) -> None:
        self.where = where
        self.running_then = probe.running()
        self.ticks_then = probe.ticks
        if self.running_then:
            note(
                probe,
                violation(
                    "not-stopped",
                    f"program level(s) {self.running_then} still running {where}",
                ),
            )


def items_to_stop_at(s: Schedule) -> int:
    if s.stop == "gc" and s.gc_thread == "program":
        return items_before(s, s.stop_at)
    return s.stop_at


async def settle_async(probe: Probe, rec: Record, where: str) -> None:
    deadline = time.monotonic() + SETTLE
    while probe.running() and time.monotonic() < deadline:
        await asyncio.sleep(POLL)
    rec.observe(probe, where)


def settle_sync(probe: Probe, rec: Record, where: str) -> None:
    probe.wait_stopped(SETTLE)
    rec.observe(probe, where)


def collect_elsewhere() -> None:
    collector = threading.Thread(target=gc.collect, name="adversarial-gc")
    collector.start()
    collector.join()


def collected_elsewhere(probe: Probe, rec: Record) -> None:
    """After the hand-off of a collection in the program's thread: did it happen?"""
    if probe.collected.is_set():
        return
    if probe.collecting.is_set():
        note(
            probe,
            violation(
                "gc-blocked",
                f"the program's own gc.collect() has not returned after {HANDSHAKE}s: "
                "finalising the dropped stream blocks the program's thread",
            ),
        )
        rec.gc_blocked = True
    else:  # the program is stuck before its collection point: collect here instead
        rec.gc_fallback = True
        gc.collect()


async def collect_dropped_async(probe: Probe, rec: Record) -> None:
    how = probe.schedule.gc_thread
    if how == "consumer":
        gc.collect()
    elif how == "other":
        collect_elsewhere()
    else:
        probe.dropped.set()
        deadline = time.monotonic() + HANDSHAKE
        while not probe.collected.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(POLL)
        collected_elsewhere(probe, rec)
    await settle_async(probe, rec, f"{SETTLE}s after the dropped stream was collected ({how})")


def collect_dropped_sync(probe: Probe, rec: Record) -> None:
    how = probe.schedule.gc_thread
    if how == "consumer":
        gc.collect()
    elif how == "other":
        collect_elsewhere()
    else:
        probe.dropped.set()
        probe.collected.wait(HANDSHAKE)
        collected_elsewhere(probe, rec)
    settle_sync(probe, rec, f"{SETTLE}s after the dropped stream was collected ({how})")


async def consume_async(probe: Probe, rec: Record, holder: list[Any]) -> None:
    """The test's ``async for`` consumer, for every stop but the cancellations."""
    s = probe.schedule
    stream = open_async_stream(probe, 0)
    if s.stop == "loop_end":
        holder.append(stream)  # keeps it alive, suspended, past the end of asyncio.run
    stop_after = items_to_stop_at(s) if s.stop not in ("end", *TIMEOUT_STOPS) else -1
    try:
        async for item in stream:
            rec.items.append(item)
            if s.asyncify:
                await noop_async(len(rec.items))
            if len(rec.items) == stop_after:
                rec.stopped = True
                break
    except BaseException as exc:
        rec.error = exc
    else:
        rec.ended = not rec.stopped
    if not rec.stopped:
        rec.observe(probe, "when the consumer got its outcome")
        await stream.aclose()
        return
    if s.stop == "close":
        try:
            await stream.aclose()
        except BaseException as exc:
            rec.stop_error = exc
        rec.observe(probe, "when aclose() returned")
    elif s.stop == "break":
        del stream  # dropped unclosed: the loop's async-generator finaliser closes it
        await settle_async(probe, rec, f"{SETTLE}s after break dropped the stream unclosed")
    elif s.stop == "gc":
        cycle: dict[str, Any] = {"stream": stream}
        cycle["cycle"] = cycle
        # No automatic collection until the one the schedule names: the dropped cycle is
        # young, so any thread's gen-0 collection would free it, and the stream with it, which
        # stops the program; with gc_thread="program" the program then never reaches its
        # hand-off and the consumer waits for a collection that never comes (the harness's
        # hang, not the library's).
        with garbage_collector_off():
            del stream, cycle
            await collect_dropped_async(probe, rec)
    # loop_end: return with the stream suspended; asyncio.run must finish it


async def consume_cancelled(probe: Probe, rec: Record) -> None:
    """The ``cancel`` / ``cancel_twice`` stops: the consuming task is cancelled after k items."""
    s = probe.schedule
    reached = asyncio.Event()

    async def consumer() -> None:
        stream = open_async_stream(probe, 0)
        try:
            async for item in stream:
                rec.items.append(item)
                if len(rec.items) == s.stop_at:
                    reached.set()
                if s.asyncify:
                    await noop_async(len(rec.items))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            rec.error = exc
        else:
            rec.ended = True
        finally:
            await stream.aclose()

    task = asyncio.ensure_future(consumer())
    waiter = asyncio.ensure_future(reached.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if not task.done():
        rec.stopped = True
        task.cancel()
        if s.stop == "cancel_twice":
            await asyncio.sleep(0)
            task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        rec.cancelled = True
    except BaseException as exc:
        rec.stop_error = exc
    await asyncio.gather(waiter, return_exceptions=True)
    rec.observe(probe, "when the consumer task ended" + (" (cancelled)" if rec.stopped else ""))


async def settle_tasks(probe: Probe, rec: Record) -> None:
    current = asyncio.current_task()
    deadline = time.monotonic() + SETTLE
    while True:
        others = [task for task in asyncio.all_tasks() if task is not current]
        if not others or time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL)
    rec.leftover_tasks = [repr(task)[:300] for task in others]
    if others:
        note(probe, violation("leak-task", f"tasks left on the consumer's loop: {others}"))


def run_async_consumer(probe: Probe, rec: Record) -> None:
    s = probe.schedule
    holder: list[Any] = []

    async def main() -> None:
        if s.stop.startswith("cancel"):
            await consume_cancelled(probe, rec)
        else:
            await consume_async(probe, rec, holder)
        if s.stop != "loop_end" or not rec.stopped:
            await settle_tasks(probe, rec)

    try:
        asyncio.run(main(), debug=True)
    except BaseException as exc:
        rec.escaped = exc
    if s.stop == "loop_end" and rec.stopped:
        rec.observe(probe, "when asyncio.run returned")
    holder.clear()


def consume_sync(probe: Probe, rec: Record, holder: list[Any]) -> None:
    s = probe.schedule
    stream = open_sync_stream(probe, 0)
    if s.stop == "loop_end":
        holder.append(stream)
    stop_after = items_to_stop_at(s) if s.stop not in ("end", *TIMEOUT_STOPS) else -1
    try:
        for item in stream:
            rec.items.append(item)
            if len(rec.items) == stop_after:
                rec.stopped = True
                break
    except BaseException as exc:
        rec.error = exc
    else:
        rec.ended = not rec.stopped
    if not rec.stopped:
        rec.observe(probe, "when the consumer got its outcome")
        stream.close()
    elif s.stop == "close":
        try:
            stream.close()
        except BaseException as exc:
            rec.stop_error = exc
        rec.observe(probe, "when close() returned")
    elif s.stop == "break":
        del stream  # dropped unclosed: reference counting finalises it here (what it raises
        # there is printed as "Exception ignored", which the stderr check catches)
        settle_sync(probe, rec, f"{SETTLE}s after break dropped the generator unclosed")
    elif s.stop == "gc":
        cycle: dict[str, Any] = {"stream": stream}
        cycle["cycle"] = cycle
        # No automatic collection until the one the schedule names: the dropped cycle is
        # young, so any thread's gen-0 collection would free it, and the stream with it, which
        # stops the program; with gc_thread="program" the program then never reaches its
        # hand-off and the consumer waits for a collection that never comes (the harness's
        # hang, not the library's).
        with garbage_collector_off():
            del stream, cycle
            collect_dropped_sync(probe, rec)
    # loop_end: the caller's asyncio.run returns with the generator suspended


def run_sync_consumer(probe: Probe, rec: Record) -> None:
    s = probe.schedule
    holder: list[Any] = []
    if s.stop != "loop_end":
        consume_sync(probe, rec, holder)
        return

    async def main() -> None:  # a sync stream iterated from a coroutine (it blocks the loop)
        consume_sync(probe, rec, holder)

    try:
        asyncio.run(main(), debug=True)
    except BaseException as exc:
        rec.escaped = exc
    if rec.stopped:
        holder.clear()  # the last reference: the suspended generator is finalised
        settle_sync(probe, rec, f"{SETTLE}s after the generator left suspended was dropped")
    holder.clear()


# ---------------------------------------------------------------------------- checks
def violation(kind: str, detail: str) -> dict[str, str]:
    return {"kind": kind, "detail": detail}


def note(probe: Probe, found: dict[str, str]) -> None:
    """Report a violation at once: if the rest of the run hangs, it is not lost."""
    write({"event": "note", "sid": probe.schedule.sid, "violation": found})


def key_of(item: Any) -> Key:
    if isinstance(item, StatusMessage):
        return ("status", item.message)
    if isinstance(item, StreamResponse) and item.signature_field_name == "answer":
        return ("token", item.chunk, item.is_last_chunk)
    if isinstance(item, tuple) and len(item) == 2 and item[0] in ("item", "tail"):
        return item
    return ("unexpected", repr(item)[:200])


def describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if len(text) > 4000:
        text = text[:1500] + "\n[...]\n" + text[-2500:]
    return f"{type(exc).__name__}: {exc}\n{text}"


def fault_mismatch(probe: Probe, error: BaseException) -> Optional[str]:
    """``None`` if ``error`` is the program's fault as the contract allows it to arrive."""
    return mismatch(probe.schedule, probe.fault, error)


def mismatch(s: Schedule, fault: Optional[BaseException], error: BaseException) -> Optional[str]:
    if fault is None:
        return "the program raised nothing"
    if error is fault:
        return None
    if s.fault in ("stop_iteration", "stop_async_iteration"):
        seen: set[int] = set()
        cause: Optional[BaseException] = error
        while isinstance(cause, RuntimeError) and id(cause) not in seen:
            seen.add(id(cause))
            cause = cause.__cause__
            if cause is fault:
                return None
    if type(error) is type(fault):
        return f"the same type as the program's {type(fault).__name__} but not the same object"
    return f"not the program's {type(fault).__name__}"


def check_items(s: Schedule, rec: Record) -> tuple[list[dict[str, str]], int, int]:
    """Prefix, duplicates and the Prediction; returns (violations, items, finite items)."""
    found = []
    finite = finite_items(s)
    keys = [key_of(item) for item in rec.items if not isinstance(item, Prediction)]
    for index, key in enumerate(keys):
        want = expected_at(s, finite, index)
        if key != want:
            context = keys[max(0, index - 3) : index + 3]
            found.append(
                violation(
                    "prefix",
                    f"item {index} is {key!r}, expected {want!r} (of {len(keys)} received; "
                    f"around it: {context!r})",
                )
            )
            break
    positions = [i for i, item in enumerate(rec.items) if isinstance(item, Prediction)]
    if len(positions) > 1:
        found.append(violation("prediction", f"{len(positions)} Predictions, at {positions}"))
    if positions:
        prediction = rec.items[positions[-1]]
        if positions[-1] != len(rec.items) - 1:
            found.append(violation("prediction", "the Prediction is not the last item"))
        if s.raises or s.tail != "none":
            found.append(
                violation("prediction", f"a Prediction from a program that never returns: {s}")
            )
        elif len(keys) != len(finite):
            found.append(
                violation(
                    "prediction",
                    f"the Prediction came after {len(keys)} of the {len(finite)} items",
                )
            )
        want_result = {"items": len(s.steps), "levels": s.depth + 1}
        if prediction.raw != want_result:
            found.append(
                violation("prediction", f"result {prediction.raw!r}, expected {want_result!r}")
            )
    return found, len(keys), len(finite)


def check_outcome(probe: Probe, rec: Record, received: int, finite: int) -> list[dict[str, str]]:
    s = probe.schedule
    found = []
    base_fault = s.fault in ("keyboard_interrupt", "system_exit")

    def the_base_fault(exc: BaseException) -> bool:
        return base_fault and probe.fault_raised and exc is probe.fault

    if rec.escaped is not None and not (rec.stopped and the_base_fault(rec.escaped)):
        found.append(violation("escaped", f"raised out of asyncio.run: {describe(rec.escaped)}"))
    has_prediction = any(isinstance(item, Prediction) for item in rec.items)
    if rec.ended:
        if not has_prediction:
            found.append(violation("outcome", "the stream ended without a Prediction"))
        if s.raises:
            found.append(
                violation("outcome", f"the program raised {s.fault} but the stream ended normally")
            )
    elif rec.error is not None:
        error = rec.error
        if isinstance(error, TimeoutError) and s.stop in TIMEOUT_STOPS:
            pass
        elif rec.stopped and the_base_fault(error):
            pass  # the consumer's task was cancelled; stopping re-raised the program's fault
        elif s.raises and probe.fault_raised and fault_mismatch(probe, error) is None:
            if received != finite:
                found.append(
                    violation(
                        "outcome",
                        f"the program's exception came after {received} of the {finite} items "
                        "produced before it",
                    )
                )
        else:
            expected = "TimeoutError" if s.stop in TIMEOUT_STOPS else "no exception"
            if s.raises:
                why = fault_mismatch(probe, error) if probe.fault_raised else "never raised"
                expected = f"the program's {s.fault} ({why})"
            found.append(
                violation(
                    "outcome",
                    f"the consumer got {type(error).__name__}, expected {expected}: "
                    f"{describe(error)}",
                )
            )
    elif not rec.stopped:
        found.append(violation("outcome", "no outcome: no end, no exception and no stop"))
    elif (
        s.stop.startswith("cancel")
        and not rec.cancelled
        and rec.stop_error is None
        and rec.escaped is None
    ):
        found.append(
            violation("outcome", "the cancelled consumer task ended without CancelledError")
        )
    if rec.stop_error is not None and not the_base_fault(rec.stop_error):
        found.append(
            violation("stop-raised", f"the stop ({s.stop}) raised {describe(rec.stop_error)}")
        )
    if rec.gc_blocked:
        found.append(
            violation(
                "gc-blocked",
                f"the program's own gc.collect() had not returned {HANDSHAKE}s after the "
                "consumer dropped the stream: finalising the stream blocks the program's thread",
            )
        )
    if rec.gc_fallback:
        found.append(
            violation(
                "handshake",
                "the program never reached its collection point after the consumer dropped "
                "the stream (collected in the consumer's thread instead)",
            )
        )
    return found


def check_stopping(probe: Probe, rec: Record) -> list[dict[str, str]]:
    found = []
    if rec.running_then:
        found.append(
            violation(
                "not-stopped",
                f"program level(s) {rec.running_then} still running {rec.where}",
            )
        )
        ticks = probe.ticks
        if ticks > rec.ticks_then:
            found.append(
                violation(
                    "kept-running",
                    f"the program made {ticks - rec.ticks_then} more steps after that point "
                    f"(levels still running at the end: {probe.running()})",
                )
            )
    return found


# ---------------------------------------------------------------------------- leaks
def is_pool_thread(thread: threading.Thread) -> bool:
    return thread.name.startswith("streamify-worker")


def _loop_in_frames(frame: Optional[FrameType]) -> Optional[asyncio.AbstractEventLoop]:
    while frame is not None:
        if frame.f_code.co_name == "run_forever":
            candidate = frame.f_locals.get("self")
            if isinstance(candidate, asyncio.AbstractEventLoop):
                return candidate
        frame = frame.f_back
    return None


def _runs_foreign_code(frame: Optional[FrameType]) -> bool:
    quiet = ("threading.py", "queue.py", "selectors.py", "_workers.py", "base_events.py")
    while frame is not None:
        if not frame.f_code.co_filename.endswith(quiet):
            return True
        frame = frame.f_back
    return False


def pool_state() -> tuple[list[str], set[int]]:
    """(the busy pool threads, described; the ids of the loops the pool's threads run)."""
    frames = sys._current_frames()
    idle = getattr(_workers, "_idle", None)
    worker_class = getattr(_workers, "_Worker", None)
    busy = []
    pool_loops: set[int] = set()
    for thread in threading.enumerate():
        if not is_pool_thread(thread) or not thread.is_alive():
            continue
        frame = frames.get(thread.ident or -1)
        loop = _loop_in_frames(frame)
        if loop is not None:
            pool_loops.add(id(loop))
            tasks = asyncio.all_tasks(loop)
            if tasks:
                busy.append(f"{thread.name} runs a loop with tasks left: {tasks}")
        elif isinstance(worker_class, type) and isinstance(thread, worker_class):
            if isinstance(idle, list) and thread not in idle:
                busy.append(f"{thread.name} is still running a job:\n{_stack(frame)}")
        elif _runs_foreign_code(frame):
            busy.append(f"{thread.name} is busy:\n{_stack(frame)}")
    return busy, pool_loops


def _stack(frame: Optional[FrameType]) -> str:
    return "".join(traceback.format_stack(frame)[-12:]) if frame is not None else "(no frame)"


def borrowed_slots() -> int:
    limiter = getattr(_workers, "_shared_limiter", None)
    borrowed = getattr(limiter, "borrowed", 0)
    return borrowed if isinstance(borrowed, int) else 0


def check_leaks(baseline: set[threading.Thread]) -> list[dict[str, str]]:
    found = []
    deadline = time.monotonic() + SETTLE

    def strays() -> list[threading.Thread]:
        return [
            thread
            for thread in threading.enumerate()
            if thread not in baseline and not is_pool_thread(thread) and thread.is_alive()
        ]

    for thread in strays():
        thread.join(max(0.0, deadline - time.monotonic()))
    busy, pool_loops = pool_state()
    while (busy or borrowed_slots()) and time.monotonic() < deadline:
        time.sleep(POLL)
        busy, pool_loops = pool_state()
    frames = sys._current_frames()
    for thread in strays():
        stack = _stack(frames.get(thread.ident or -1))
        found.append(violation("leak-thread", f"thread {thread.name!r} still alive:\n{stack}"))
    for description in busy:
        found.append(violation("leak-worker", description))
    if borrowed_slots():
        found.append(violation("leak-slot", f"{borrowed_slots()} thread-limit slot(s) still taken"))
    for loop in _created_loops:
        if not loop.is_closed() and id(loop) not in pool_loops:
            state = "running" if loop.is_running() else "not running"
            found.append(violation("leak-loop", f"event loop left unclosed ({state}): {loop!r}"))
    _created_loops[:] = [loop for loop in _created_loops if not loop.is_closed()]
    return found


def drain_pool_loops() -> None:
    """A barrier on every loop the pool runs: what they had queued has run when it returns."""
    _, pool_loops = pool_state()
    for loop in _created_loops:
        if id(loop) in pool_loops and not loop.is_closed():
            done = threading.Event()
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(done.set)
                done.wait(SETTLE)


def forget_tracebacks(*errors: Optional[BaseException]) -> None:
    """Drop the frames exceptions keep alive, so that what they hold is finalised now."""
    seen: set[int] = set()
    pending = [error for error in errors if error is not None]
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        error.__traceback__ = None
        pending += [e for e in (error.__cause__, error.__context__) if e is not None]


# ---------------------------------------------------------------------------- noise
class StderrCapture(io.StringIO):
    """Replaces ``sys.stderr``: whatever a schedule writes there is one of its failures."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return super().write(text)

    def take(self) -> str:
        with self._lock:
            text = self.getvalue()
            self.seek(0)
            self.truncate()
            return text


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._lock2 = threading.Lock()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock2:
            self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        with self._lock2:
            records, self.records = self.records, []
            return records


def _record_exception(record: logging.LogRecord) -> Optional[BaseException]:
    info = record.exc_info
    if info and len(info) > 1 and isinstance(info[1], BaseException):
        return info[1]
    return None


@dataclasses.dataclass
class Ending:
    """What the noise check needs to know of a run, once its record has been dropped."""

    schedule: Schedule
    fault: Optional[BaseException]
    left: bool  # the consumer left before the outcome (its stop, or an escaped exception)
    completed: bool  # the stream ended with its Prediction


def check_noise(
    ending: Ending, text: str, records: list[logging.LogRecord]
) -> tuple[list[dict[str, str]], int]:
    """Violations for stderr output and log records; also the number of slow-callback logs."""
    s = ending.schedule
    found = []
    slow = hook_failures = 0
    for record in records:
        exc = _record_exception(record)
        if record.name == "asyncio" and record.msg == SLOW_CALLBACK:
            slow += 1
            continue
        if s.fault in HOOK_FAULTS and isinstance(exc, (CallbackFault, ProviderFault)):
            hook_failures += 1
            continue
        if ending.left and exc is not None and mismatch(s, ending.fault, exc) is None:
            # The program's own exception, logged because its consumer had left (or, for a
            # KeyboardInterrupt / SystemExit re-raised from a stop inside a task, asyncio's
            # "Task exception was never retrieved" about that task).
            continue
        message = logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record)
        found.append(violation("log", late(s, message)[:4000]))
    if s.fault in HOOK_FAULTS and (hook_failures > 1 or (ending.completed and hook_failures != 1)):
        found.append(
            violation(
                "log", f"the failing {s.fault} was logged {hook_failures} times, expected once"
            )
        )
    if text:
        if len(text) > 6000:
            text = text[:2000] + "\n[...]\n" + text[-4000:]
        found.append(violation("stderr", late(s, text)))
    return found, slow


def late(s: Schedule, text: str) -> str:
    """Name the schedule an output belongs to when it is another one's (it came late)."""
    others = sorted({int(sid) for sid in re.findall(r"of schedule #(\d+)", text)} - {s.sid})
    if not others:
        return text
    return f"(late output of schedule(s) {others}, seen while #{s.sid} ran) {text}"


# ---------------------------------------------------------------------------- hangs
class Watchdog(threading.Thread):
    """Shortly before faulthandler's dump of the threads, the stacks of every task of every
    open event loop: the asyncio side of a hang, which faulthandler cannot show."""

    def __init__(self) -> None:
        super().__init__(name="adversarial-watchdog", daemon=True)
        self._changed = threading.Condition()
        self._deadline: Optional[float] = None
        self._sid = -1

    def arm(self, sid: int, after: float) -> None:
        with self._changed:
            self._sid, self._deadline = sid, time.monotonic() + after
            self._changed.notify()

    def disarm(self) -> None:
        with self._changed:
            self._deadline = None
            self._changed.notify()

    def run(self) -> None:
        while True:
            with self._changed:
                if self._deadline is None:
                    self._changed.wait()
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining > 0:
                    self._changed.wait(remaining)
                    continue
                sid, self._deadline = self._sid, None
            dump_tasks(sid)


def dump_tasks(sid: int) -> None:
    out = sys.__stderr__
    assert out is not None
    lines = [f"asyncio tasks while schedule #{sid} hangs (the threads follow):"]
    for loop in list(_created_loops):
        if loop.is_closed():
            continue
        try:
            tasks = list(asyncio.all_tasks(loop))
        except RuntimeError:  # the set changed while it was copied: try once more
            tasks = list(asyncio.all_tasks(loop))
        lines.append(f"  {loop!r}: {len(tasks)} task(s)")
        for task in tasks:
            lines.append(f"    {task!r}"[:400])
            for frame in task.get_stack():
                code = frame.f_code
                lines.append(f"      {code.co_filename}:{frame.f_lineno} in {code.co_name}")
    out.write("\n".join(lines) + "\n\n")
    out.flush()


# ---------------------------------------------------------------------------- running
def write(message: dict[str, Any]) -> None:
    out = sys.__stdout__
    assert out is not None
    out.write(PREFIX + json.dumps(message, default=repr) + "\n")
    out.flush()


def outcome_of(rec: Record) -> str:
    if rec.escaped is not None:
        return f"escaped {type(rec.escaped).__name__}"
    if rec.ended:
        return "end"
    if rec.error is not None:
        return f"raised {type(rec.error).__name__}"
    if rec.stopped:
        return "cancelled" if rec.cancelled else "stopped"
    return "none"


@contextlib.contextmanager
def settings_for(s: Schedule) -> Iterator[None]:
    scoped: dict[str, Any] = {}
    if s.fault == "callback":
        scoped["callbacks"] = [FaultyCallback(s)]
    if s.thread_limit is not None:
        if s.limit_via == "configure":
            streamify.configure(thread_limit=s.thread_limit)
        else:
            scoped["thread_limit"] = s.thread_limit
    try:
        with streamify.context(**scoped):
            yield
    finally:
        streamify.configure(thread_limit=DEFAULT_THREAD_LIMIT)


def run_schedule(
    s: Schedule,
    hang_limit: float,
    capture: StderrCapture,
    logs: LogCapture,
    baseline: set[threading.Thread],
    watchdog: Watchdog,
) -> dict[str, Any]:
    stderr = sys.__stderr__
    assert stderr is not None
    stderr.write(f"{STDERR_MARK} {s.sid}\n")
    stderr.flush()
    write({"event": "start", "sid": s.sid})
    faulthandler.dump_traceback_later(hang_limit, exit=True, file=stderr)
    watchdog.arm(s.sid, max(0.5, hang_limit - 1.5))
    started = time.perf_counter()
    probe = Probe(s)
    rec = Record()
    with settings_for(s):
        if s.consumer == "async":
            run_async_consumer(probe, rec)
        else:
            run_sync_consumer(probe, rec)
    found, received, finite = check_items(s, rec)
    found += check_outcome(probe, rec, received, finite)
    found += check_stopping(probe, rec)
    found += probe.notes
    if rec.leftover_tasks:
        found.append(
            violation("leak-task", f"tasks left on the consumer's loop: {rec.leftover_tasks}")
        )
    leaks = check_leaks(baseline)
    found += leaks
    if probe.running():
        found.append(
            violation(
                "not-stopped",
                f"program level(s) {probe.running()} still running after every bounded wait "
                f"({probe.ticks} steps made)",
            )
        )
    outcome = outcome_of(rec)
    completed = rec.ended and any(isinstance(item, Prediction) for item in rec.items)
    ending = Ending(s, probe.fault, rec.stopped or rec.escaped is not None, completed)
    forget_tracebacks(probe.fault, rec.error, rec.stop_error, rec.escaped)
    del rec, probe
    drain_pool_loops()  # callbacks the pool's loops still had queued have run now
    gc.collect()  # unraisable errors and ResourceWarnings of this schedule show up now
    noise, slow = check_noise(ending, capture.take(), logs.take())
    found += noise
    watchdog.disarm()
    faulthandler.cancel_dump_traceback_later()
    return {
        "event": "result",
        "sid": s.sid,
        "ok": not found,
        "violations": found,
        "outcome": outcome,
        "received": received,
        "slow_callbacks": slow,
        "seconds": round(time.perf_counter() - started, 4),
        "tainted": bool(leaks),
    }


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--hang-limit", type=float, default=8.0, help="seconds per schedule")
    args = parser.parse_args(argv)
    warnings.simplefilter("error")  # as with ``-W error``, also when run by hand
    os.environ.setdefault("PYTHONASYNCIODEBUG", "1")  # read whenever a loop is created
    capture = StderrCapture()
    sys.stderr = capture
    logs = LogCapture()
    root = logging.getLogger()
    root.addHandler(logs)
    root.setLevel(logging.WARNING)
    stderr = sys.__stderr__
    assert stderr is not None
    faulthandler.enable(file=stderr, all_threads=True)
    watchdog = Watchdog()
    watchdog.start()
    baseline = set(threading.enumerate())
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        schedule = Schedule.from_json(line)
        result = run_schedule(schedule, args.hang_limit, capture, logs, baseline, watchdog)
        write(result)
        if result["tainted"]:
            return 3
    trailing = capture.take()
    if trailing:
        write({"event": "trailer", "stderr": trailing})
    return 0


if __name__ == "__main__":
    sys.exit(main())
