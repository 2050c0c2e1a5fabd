"""Guarantee 5: when the consumer stops (break, aclose(), task cancelled), the program is
cancelled: an async program at its next await, a sync program in its worker thread at its next
emit or callback.  Nothing is printed, nothing outlives the stream, and ``aclose()`` returns
once the program has stopped."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from typing import TYPE_CHECKING

import pytest

from streamify import emit, emit_sync, streamify, tool

from .helpers import wait_until

if TYPE_CHECKING:
    from types import CodeType


def running_code(thread: threading.Thread) -> set[CodeType]:
    frame = sys._current_frames().get(thread.ident or -1)
    codes = set()
    while frame is not None:
        codes.add(frame.f_code)
        frame = frame.f_back
    return codes


class AsyncProbe:
    """An async program that emits forever and records how it ended."""

    def __init__(self) -> None:
        self.cancelled = False
        self.stopped = threading.Event()  # not asyncio.Event: 3.9 binds those to a loop
        self.emitted = 0

    async def __call__(self) -> None:
        try:
            while True:
                await emit(self.emitted)
                self.emitted += 1
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.stopped.set()


class SyncProbe:
    """A sync program that emits (or calls a tool) forever in its worker thread."""

    def __init__(self, use_tool: bool = False) -> None:
        self.use_tool = use_tool
        self.raised: BaseException | None = None
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def __call__(self) -> None:
        self.thread = threading.current_thread()
        try:
            i = 0
            while True:
                if self.use_tool:
                    ping(i)
                else:
                    emit_sync(i)
                i += 1
        except BaseException as exc:
            self.raised = exc
            raise
        finally:
            self.stopped.set()


@tool
def ping(i: int) -> int:
    return i


async def test_aclose_cancels_an_async_program_and_returns_once_it_stopped(
    capfd: pytest.CaptureFixture[str],
) -> None:
    probe = AsyncProbe()
    stream = streamify(probe, buffer_size=2)()
    assert await stream.__anext__() == 0
    await stream.aclose()
    assert probe.stopped.is_set(), "aclose() returned before the program stopped"
    assert probe.cancelled
    assert capfd.readouterr() == ("", "")


async def test_break_cancels_an_async_program_without_printing_anything(
    capfd: pytest.CaptureFixture[str],
) -> None:
    probe = AsyncProbe()
    async for item in streamify(probe, buffer_size=2)():
        if item == 3:
            break
    gc.collect()  # the loop's async generator hook closes the abandoned stream
    await wait_until(probe.stopped.is_set, "the abandoned stream's program stops")
    assert probe.cancelled
    assert capfd.readouterr() == ("", "")


async def test_cancelling_the_consumer_task_cancels_the_program() -> None:
    probe = AsyncProbe()
    started = asyncio.Event()

    async def consumer() -> None:
        async for _ in streamify(probe, buffer_size=1)():
            started.set()

    task = asyncio.ensure_future(consumer())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert probe.stopped.is_set() and probe.cancelled


@pytest.mark.parametrize("use_tool", [False, True], ids=["emit_sync", "tool_call"])
async def test_aclose_stops_a_sync_program_at_its_next_emit_or_callback_in_its_thread(
    use_tool: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    probe = SyncProbe(use_tool)
    stream = streamify(probe, buffer_size=1)()
    await stream.__anext__()
    await stream.aclose()
    assert probe.stopped.is_set(), "aclose() returned while the program still ran"
    assert isinstance(probe.raised, asyncio.CancelledError)
    assert probe.thread is not None
    assert probe.__call__.__code__ not in running_code(probe.thread)
    assert capfd.readouterr() == ("", "")


async def test_a_sync_program_blocked_on_a_full_buffer_is_released_when_the_consumer_leaves() -> (
    None
):
    probe = SyncProbe()
    stream = streamify(probe, buffer_size=1)()
    await stream.__anext__()
    # The worker is now blocked in emit_sync on the full buffer; leaving must release it.
    await stream.aclose()
    assert probe.stopped.is_set()
    assert isinstance(probe.raised, asyncio.CancelledError)


async def test_cancelling_the_consumer_of_a_sync_program_waits_for_its_thread() -> None:
    probe = SyncProbe()
    started = asyncio.Event()

    async def consumer() -> None:
        async for _ in streamify(probe, buffer_size=1)():
            started.set()

    task = asyncio.ensure_future(consumer())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert probe.stopped.is_set(), "the consumer task ended while the thread still ran"


async def test_aclose_of_an_unstarted_stream_starts_nothing() -> None:
    ran = False

    async def program() -> None:
        nonlocal ran
        ran = True

    stream = streamify(program)()
    await stream.aclose()
    assert not ran


async def test_aclose_after_the_program_finished_is_quiet(
    capfd: pytest.CaptureFixture[str],
) -> None:
    async def program() -> int:
        await emit("only")
        return 1

    stream = streamify(program)()
    assert await stream.__anext__() == "only"
    await stream.aclose()
    assert capfd.readouterr() == ("", "")


def test_closing_a_sync_consumer_stops_the_program_and_joins_its_threads(
    capfd: pytest.CaptureFixture[str],
) -> None:
    probe = SyncProbe()
    stream = streamify(probe, buffer_size=1, async_streaming=False)()
    assert next(stream) == 0
    stream.close()
    assert probe.stopped.is_set(), "close() returned while the program still ran"
    assert isinstance(probe.raised, asyncio.CancelledError)
    assert not [t for t in threading.enumerate() if t.name == "streamify-sync-host"]
    assert capfd.readouterr() == ("", "")


def test_break_out_of_a_sync_consumer_stops_an_async_program() -> None:
    probe = AsyncProbe()
    for item in streamify(probe, buffer_size=1, async_streaming=False)():
        if item == 5:
            break
    gc.collect()
    # The generator was dropped, not closed: it stops the program without waiting for it
    # (docs/sync-code.md), so the cancellation lands a moment later, in the loop's thread.
    assert probe.stopped.wait(10), "the program still ran 10 s after the consumer left"
    assert probe.cancelled
    assert not [t for t in threading.enumerate() if t.name == "streamify-sync-host"]


async def test_a_program_error_during_cancellation_is_logged_not_raised_into_aclose(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def program() -> None:
        try:
            while True:
                await emit(1)
        finally:
            raise ValueError("cleanup failed")

    stream = streamify(program, buffer_size=1)()
    await stream.__anext__()
    await stream.aclose()
    (record,) = caplog.records
    assert "after its consumer had left" in record.getMessage()


async def test_worker_threads_are_idle_once_many_streams_were_abandoned() -> None:
    probes = [SyncProbe() for _ in range(10)]
    streams = [streamify(probe, buffer_size=1)() for probe in probes]
    for stream in streams:
        await stream.__anext__()
    for stream in streams:
        await stream.aclose()
    assert all(probe.stopped.is_set() for probe in probes)
    await wait_until(
        lambda: all(
            p.thread is not None and p.__call__.__code__ not in running_code(p.thread)
            for p in probes
        ),
        "no worker runs a program",
    )
