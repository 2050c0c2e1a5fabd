"""Runs and their logs, on the in-memory store and on a real Redis (started by the tests).

Most properties are checked on both stores (the ``make_store`` fixture); the cross-process
ones (a second connection cancelling, a producer process killed with ``kill -9``, Redis
stopped mid-run) need Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamify
from streamify import (
    MemoryRunStore,
    RunEvent,
    RunNotFound,
    Runs,
    RunStore,
    RunStoreUnavailable,
    emit,
)

from .redis_support import RedisServer, free_port, redis_server, require_redis

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

StoreFactory = Callable[[], RunStore]
T = TypeVar("T")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    """A factory of stores that share one log: several ``Runs`` on it act as processes."""
    if request.param == "memory":
        shared = MemoryRunStore()
        return lambda: shared
    server: RedisServer = request.getfixturevalue("redis")
    prefix = f"test:{uuid.uuid4().hex}:"
    return lambda: streamify.RedisRunStore(server.url, prefix=prefix)


def test_a_redis_store_built_outside_the_event_loop_works_inside_it(redis: RedisServer) -> None:
    store = streamify.RedisRunStore(redis.url, prefix=f"test:{uuid.uuid4().hex}:")

    async def main() -> list[str]:
        runs = Runs(store)
        try:
            run_id = await runs.start(streamify.streamify(_count)(2))
            return [event.type for event in await collect(runs.events(run_id))]
        finally:
            await runs.aclose()

    assert asyncio.run(main())[-1] == "done"


# -- programs ------------------------------------------------------------------------------------


async def _count(n: int) -> str:
    for i in range(n):
        await emit({"i": i})
    return "ok"


counting = streamify.streamify(_count)


class Endless:
    """A program that emits until it is stopped; ``count`` stops growing once it has."""

    def __init__(self) -> None:
        self.count = 0
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.stream = streamify.streamify(self._run)

    async def _run(self) -> None:
        try:
            while True:
                self.count += 1
                await emit({"i": self.count})
                self.started.set()
                await asyncio.sleep(0.005)
        finally:
            self.stopped.set()


async def collect(events: AsyncIterator[T]) -> list[T]:
    return [event async for event in events]


def items(events: list[RunEvent]) -> list[int]:
    return [json.loads(e.data)["data"]["i"] for e in events if e.type == "item"]


async def wait_for(check: Callable[[], Any], timeout: float) -> float:
    """Poll an awaitable-returning ``check`` until truthy; the seconds it took."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < timeout, "condition not met in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


# -- reading -------------------------------------------------------------------------------------


async def test_reader_gets_every_event_in_order_then_the_terminal(make_store: StoreFactory) -> None:
    runs = Runs(make_store())
    run_id = await runs.start(counting(20))
    events = await collect(runs.events(run_id))
    assert items(events) == list(range(20))
    assert [e.type for e in events[-2:]] == ["prediction", "done"]
    assert events[-1].data == "[DONE]"
    keys = [runs.store.parse_id(e.id) for e in events]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)  # type: ignore[type-var]
    assert await runs.status(run_id) == "done"
    await runs.aclose()


async def test_reader_joining_after_the_end_sees_the_log_and_the_terminal(
    make_store: StoreFactory,
) -> None:
    runs = Runs(make_store())
    run_id = await runs.start(counting(5))
    first = await collect(runs.events(run_id))
    assert await collect(runs.events(run_id)) == first
    assert await collect(runs.events(run_id, after=first[-1].id)) == []  # saw the end already
    await runs.aclose()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(0, 12), cut=st.integers(0, 14), live=st.booleans())
def test_resuming_from_any_id_loses_and_repeats_nothing(
    make_store: StoreFactory, n: int, cut: int, live: bool
) -> None:
    async def check() -> None:
        gate = asyncio.Event()

        async def program() -> str:
            for i in range(n):
                await emit({"i": i})
                if i == cut and live:
                    await gate.wait()  # the reader resumes while the run is live
            return "ok"

        runs = Runs(make_store())
        run_id = await runs.start(streamify.streamify(program)())
        seen: list[RunEvent] = []
        async for event in runs.events(run_id):
            seen.append(event)
            if len(seen) > cut:
                break
        gate.set()
        after = seen[-1].id
        if seen[-1].type != "done":
            seen += await collect(runs.events(run_id, after=after))
        full = await collect(runs.events(run_id))
        assert seen == full
        assert items(full) == list(range(n))
        await runs.aclose()

    asyncio.run(check(), debug=True)


async def test_hundred_readers_each_get_the_whole_log_in_order(make_store: StoreFactory) -> None:
    gate = asyncio.Event()

    async def program() -> str:
        await emit({"i": 0})
        await gate.wait()  # every reader is tailing the live run from here on
        for i in range(1, 10):
            await emit({"i": i})
        return "ok"

    runs = Runs(make_store())
    run_id = await runs.start(streamify.streamify(program)())
    readers = [runs.events(run_id) for _ in range(100)]
    firsts = [await reader.__anext__() for reader in readers]
    gate.set()
    results = await asyncio.gather(*(collect(reader) for reader in readers))
    full = await collect(runs.events(run_id))
    assert items(full) == list(range(10)) and full[-1].type == "done"
    assert all([first, *rest] == full for first, rest in zip(firsts, results))
    await runs.aclose()


async def test_unknown_run_raises_run_not_found(make_store: StoreFactory) -> None:
    runs = Runs(make_store())
    for run_id in ("no-such-run", "bad id/with?chars"):
        with pytest.raises(RunNotFound):
            await runs.status(run_id)
        with pytest.raises(RunNotFound):
            await runs.cancel(run_id)
        with pytest.raises(RunNotFound):
            await collect(runs.events(run_id))
        with pytest.raises(RunNotFound):
            await collect(runs.sse(run_id))
    await runs.aclose()


async def test_malformed_event_id_raises_value_error_before_reading(
    make_store: StoreFactory,
) -> None:
    runs = Runs(make_store())
    run_id = await runs.start(counting(1))
    for bad in ("abc", "-1", "1-2-3", "1.5", " 7"):
        with pytest.raises(ValueError, match="not an event id"):
            runs.events(run_id, after=bad)
        with pytest.raises(ValueError, match="not an event id"):
            runs.sse(run_id, last_event_id=bad)
    await runs.aclose()


async def test_trimmed_log_gives_a_gap_event_never_a_silent_loss(make_store: StoreFactory) -> None:
    gate = asyncio.Event()

    async def program() -> str:
        await emit({"i": 0})
        await gate.wait()  # the first event's id is read before anything is trimmed
        for i in range(1, 1000):
            await emit({"i": i})
        return "ok"

    runs = Runs(make_store(), max_events=50)
    run_id = await runs.start(streamify.streamify(program)())
    first_id = None
    async for event in runs.events(run_id):
        first_id = event.id
        break
    assert first_id
    gate.set()
    assert await wait_for(lambda: _ended(runs, run_id), 10) >= 0
    for after in (None, first_id):
        events = await collect(runs.events(run_id, after=after))
        gap = json.loads(events[0].data)
        assert events[0].type == "gap"
        assert gap == {"type": "gap", "after": after, "first": events[1].id}
        assert events[0].id == (after or "")
        kept = items(events)
        assert kept == list(range(kept[0], 1000))  # contiguous to the end
        assert len(events) < 300  # bounded: about max_events (Redis trims whole nodes)
        assert events[-1].type == "done"
    await runs.aclose()


async def _ended(runs: Runs, run_id: str) -> bool:
    return await runs.status(run_id) != "running"


async def test_slow_reader_does_not_slow_the_producer(make_store: StoreFactory) -> None:
    gate = asyncio.Event()

    async def program() -> str:
        await emit({"i": 0})
        await gate.wait()
        for i in range(1, 3000):
            await emit({"i": i})
        return "ok"

    runs = Runs(make_store(), max_events=100)
    run_id = await runs.start(streamify.streamify(program)())
    reader = runs.events(run_id)
    first = await reader.__anext__()  # the reader pauses here, holding its place
    gate.set()
    await wait_for(lambda: _ended(runs, run_id), 20)  # the program finished meanwhile
    rest = [event async for event in reader]  # what it had read ahead, a gap, the kept end
    gaps = [i for i, event in enumerate(rest) if event.type == "gap"]
    assert len(gaps) == 1
    before, gap, after = [first, *rest[: gaps[0]]], rest[gaps[0]], rest[gaps[0] + 1 :]
    assert json.loads(gap.data) == {"type": "gap", "after": before[-1].id, "first": after[0].id}
    assert items(before) == list(range(len(before)))
    assert items(after) == list(range(items(after)[0], 3000))
    assert len(after) < 300 and after[-1].type == "done"
    await runs.aclose()


# -- endings -------------------------------------------------------------------------------------


async def test_program_error_ends_the_log_with_an_error_event(
    make_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def failing() -> None:
        await emit({"i": 0})
        raise KeyError("boom")

    runs = Runs(make_store())
    with caplog.at_level(logging.ERROR, "streamify"):
        run_id = await runs.start(streamify.streamify(failing)())
        events = await collect(runs.events(run_id))
    assert items(events) == [0]
    assert events[-1].type == "error"
    assert json.loads(events[-1].data) == {
        "type": "error",
        "error": {"type": "KeyError", "message": "'boom'"},
        "message": "'boom'",
    }
    assert await runs.status(run_id) == "error"
    assert "KeyError" in caplog.text
    await runs.aclose()


async def test_unencodable_item_stops_the_program_and_ends_in_error(
    make_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    stopped = asyncio.Event()

    async def program() -> None:
        try:
            await emit({"fine": 1})
            await emit({"bad": object()})
            await asyncio.Event().wait()
        finally:
            stopped.set()

    runs = Runs(make_store())
    with caplog.at_level(logging.ERROR, "streamify"):
        run_id = await runs.start(streamify.streamify(program)())
        events = await collect(runs.events(run_id))
    assert stopped.is_set()
    assert [e.type for e in events] == ["item", "error"]
    assert "cannot encode" in json.loads(events[-1].data)["message"]
    await runs.aclose()


async def test_cancel_stops_the_program_and_readers_get_cancelled(
    make_store: StoreFactory,
) -> None:
    runs = Runs(make_store())
    program = Endless()
    run_id = await runs.start(program.stream())
    reader = asyncio.ensure_future(collect(runs.events(run_id)))
    await program.started.wait()
    await runs.cancel(run_id)
    await asyncio.wait_for(program.stopped.wait(), 5)
    count = program.count
    events = await reader
    assert events[-1] == RunEvent(events[-1].id, "cancelled", '{"type":"cancelled"}')
    assert await runs.status(run_id) == "cancelled"
    await runs.cancel(run_id)  # an ended run is left as it is
    assert program.count == count
    assert await collect(runs.events(run_id)) == events
    await runs.aclose()


async def test_cancel_from_another_runs_on_the_store_is_seen_within_a_second(
    make_store: StoreFactory,
) -> None:
    producer, other = Runs(make_store()), Runs(make_store())
    program = Endless()
    run_id = await producer.start(program.stream())
    await program.started.wait()
    start = time.monotonic()
    await other.cancel(run_id)
    await asyncio.wait_for(program.stopped.wait(), 5)
    assert time.monotonic() - start < 1.0
    assert (await collect(other.events(run_id)))[-1].type == "cancelled"
    await producer.aclose()
    await other.aclose()


@pytest.mark.parametrize("cancel_when_unread", [False, True])
async def test_last_reader_leaving_cancels_only_with_cancel_when_unread(
    make_store: StoreFactory, cancel_when_unread: bool
) -> None:
    runs = Runs(make_store())
    program = Endless()
    run_id = await runs.start(program.stream(), cancel_when_unread=cancel_when_unread)
    readers = [runs.events(run_id) for _ in range(2)]
    for reader in readers:
        await reader.__anext__()
    await readers[0].aclose()
    assert await runs.status(run_id) == "running"  # one reader left: goes on
    await readers[1].aclose()
    if cancel_when_unread:
        await asyncio.wait_for(program.stopped.wait(), 5)
        assert (await collect(runs.events(run_id)))[-1].type == "cancelled"
    else:
        count = program.count
        while program.count < count + 5:  # still running with nobody reading
            await asyncio.sleep(0.01)
        assert await runs.status(run_id) == "running"
    await runs.aclose()
    assert program.stopped.is_set()


async def test_aclose_cancels_this_process_runs_and_waits_for_their_programs(
    make_store: StoreFactory,
) -> None:
    runs = Runs(make_store())
    program = Endless()
    run_id = await runs.start(program.stream())
    await program.started.wait()
    await runs.aclose()
    assert program.stopped.is_set()
    reader = Runs(make_store())
    assert (await collect(reader.events(run_id)))[-1].type == "cancelled"
    await reader.aclose()


async def test_finished_run_is_forgotten_after_keep_for(make_store: StoreFactory) -> None:
    runs = Runs(make_store(), keep_for=0.3)
    run_id = await runs.start(counting(3))
    assert (await collect(runs.events(run_id)))[-1].type == "done"

    async def forgotten() -> bool:
        try:
            await runs.status(run_id)
        except RunNotFound:
            return True
        return False

    assert await wait_for(forgotten, 5) < 2.0
    await runs.aclose()


async def test_dead_producer_gives_readers_one_terminal_error_within_the_lease(
    make_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A run registered in the store whose producer never renews its lease: what readers see
    # of a producer whose process died (the kill -9 case is tested below, on Redis).
    store = make_store()
    await store.create("orphan", max_events=100, keep_for=60, lease=0.5, cancel_when_unread=False)
    assert await store.append("orphan", 1, [("item", '{"type":"item","data":1}')])
    runs = Runs(store, lease=0.5)
    start = time.monotonic()
    with caplog.at_level(logging.ERROR, "streamify"):
        results = await asyncio.gather(*(collect(runs.events("orphan")) for _ in range(10)))
    assert time.monotonic() - start < 0.5 + 2.0  # the lease, a poll, and slack for a busy machine
    for events in results:
        assert [e.type for e in events] == ["item", "error"]
        assert json.loads(events[-1].data)["error"]["type"] == "RunProducerLost"
    assert all(result == results[0] for result in results)  # the same terminal for all
    log = await store.read("orphan", None, inclusive=False, block=0, count=100)
    assert [entry.last for entry in log] == [False, True]  # exactly one terminal entry
    assert not await store.append("orphan", 2, [("item", "{}")])  # no append after the end
    assert await runs.status("orphan") == "error"
    await runs.aclose()


# -- bad input -----------------------------------------------------------------------------------


async def test_bad_arguments_are_refused_with_what_to_do() -> None:
    with pytest.raises(TypeError, match="RunStore"):
        Runs(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_events"):
        Runs(max_events=1)
    with pytest.raises(ValueError, match="lease"):
        Runs(lease=0)
    runs = Runs()
    with pytest.raises(TypeError, match="async iterable"):
        await runs.start([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="run ids are"):
        await runs.start(counting(1), run_id="no spaces")
    await runs.start(counting(1), run_id="mine")
    with pytest.raises(ValueError, match="exists already"):
        await runs.start(counting(1), run_id="mine")
    await runs.aclose()


async def test_authorize_hook_decides_sync_or_async() -> None:
    async def only_alice(action: str, run_id: str, request: Any) -> bool:
        return bool(request == "alice" or action == "read")

    runs = Runs(authorize=only_alice)
    assert await runs.authorized("cancel", "r", "alice")
    assert not await runs.authorized("cancel", "r", "bob")
    assert await runs.authorized("read", "r", "bob")
    assert await Runs(authorize=lambda *_: False).authorized("read", "r", None) is False
    assert await Runs().authorized("cancel", "r", None)


async def test_sse_frames_have_ids_and_resume_from_last_event_id() -> None:
    runs = Runs()
    run_id = await runs.start(counting(3))
    frames = await collect(runs.sse(run_id))
    assert frames[0] == 'id: 1\ndata: {"type":"item","data":{"i":0}}\n\n'
    assert frames[-1] == "id: 5\ndata: [DONE]\n\n"
    assert await collect(runs.sse(run_id, last_event_id="3")) == frames[3:]
    await runs.aclose()


class Named(streamify.StreamProtocol):
    """A protocol that names its events and adds a finish event."""

    event_names = True

    def on_item(self, item: Any) -> list[streamify.Event]:
        return [streamify.Event("thing", {"value": item["i"], "run": self.run_id})]

    def finish(self) -> list[streamify.Event]:
        return [streamify.Event("bye", {})]


async def test_sse_names_events_when_the_protocol_does_and_ids_derive_from_the_run() -> None:
    runs = Runs(protocol=Named)
    run_id = await runs.start(counting(2), run_id="named-run")
    frames = await collect(runs.sse(run_id))
    assert frames == [
        'id: 1\nevent: thing\ndata: {"value":0,"run":"named-run"}\n\n',
        'id: 2\nevent: thing\ndata: {"value":1,"run":"named-run"}\n\n',
        "id: 3\nevent: bye\ndata: {}\n\n",
        'id: 4\nevent: done\ndata: {"type":"done"}\n\n',
    ]
    await runs.aclose()


async def test_sse_sends_keepalive_while_the_run_is_idle() -> None:
    gate = asyncio.Event()

    async def slow() -> None:
        await gate.wait()

    runs = Runs(lease=0.4)
    run_id = await runs.start(streamify.streamify(slow)())
    frames = runs.sse(run_id, keepalive=0.2)
    assert await frames.__anext__() == ": keepalive\n\n"
    gate.set()
    rest = [frame async for frame in frames]
    assert rest[-1].endswith("data: [DONE]\n\n")
    await runs.aclose()


# -- Redis only ----------------------------------------------------------------------------------


async def test_redis_unavailable_at_start_raises_a_clear_error() -> None:
    require_redis()
    url = f"redis://127.0.0.1:{free_port()}/0"
    runs = Runs(streamify.RedisRunStore(url))
    stream = Endless()
    with pytest.raises(RunStoreUnavailable, match=f"cannot reach Redis at {url}"):
        await runs.start(stream.stream())
    await runs.aclose()


@pytest.mark.slow
async def test_redis_stopped_mid_run_ends_the_run_in_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with redis_server() as server:
        runs = Runs(streamify.RedisRunStore(server.url))
        program = Endless()
        run_id = await runs.start(program.stream())
        reader = runs.events(run_id)
        await reader.__anext__()
        with caplog.at_level(logging.ERROR, "streamify"):
            await asyncio.to_thread(server.stop)
            start = time.monotonic()
            await asyncio.wait_for(program.stopped.wait(), 10)
            assert time.monotonic() - start < 5.0  # bounded retries, then the run ends
            with pytest.raises(RunStoreUnavailable, match="cannot reach Redis"):
                await collect(reader)
            await runs.aclose()
    assert f"run {run_id} lost its run store" in caplog.text


PRODUCER = """
import asyncio, sys
import streamify

async def program():
    await streamify.emit({"i": 0})
    await asyncio.Event().wait()

async def main():
    runs = streamify.Runs(streamify.RedisRunStore(sys.argv[1]), lease=1.0)
    run_id = await runs.start(streamify.streamify(program)())
    print(run_id, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_killed_producer_process_gives_readers_a_terminal_error(
    redis: RedisServer,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        textwrap.dedent(PRODUCER),
        redis.url,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        run_id = (await asyncio.wait_for(process.stdout.readline(), 20)).decode().strip()
        runs = Runs(streamify.RedisRunStore(redis.url), lease=1.0)
        readers = [runs.events(run_id) for _ in range(5)]
        firsts = [await reader.__anext__() for reader in readers]
        assert all(first.type == "item" for first in firsts)
        os.kill(process.pid, signal.SIGKILL)
        start = time.monotonic()
        rests = await asyncio.gather(*(collect(reader) for reader in readers))
        assert time.monotonic() - start < 1.0 + 2.0  # the lease, a poll, slack for a busy machine
        for rest in rests:
            assert [e.type for e in rest] == ["error"]
            assert json.loads(rest[0].data)["error"]["type"] == "RunProducerLost"
        assert len({rest[0].id for rest in rests}) == 1  # exactly one terminal
        await runs.aclose()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def test_import_streamify_without_redis_installed() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["redis"] = None  # import redis now raises ImportError
        import streamify
        streamify.Runs()
        try:
            streamify.RedisRunStore()
        except ImportError as error:
            print(error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'streamify[redis]'" in done.stdout
