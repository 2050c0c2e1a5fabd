"""Scenarios that used to hang, leak or print: each runs in a subprocess (see ``run_scenario``).

Each scenario is a function that returns normally when the property holds and raises (or
hangs, which the parent turns into a failure after a hard timeout) when it does not.  The
parent also fails on anything written to stderr: a traceback printed by a finalizer, an
``Exception ignored`` line, a never-retrieved task exception.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

import streamify
from streamify import asyncify, emit, emit_sync
from streamify import streamify as wrap

ROOT = Path(__file__).resolve().parent.parent
WAIT = 10.0  # generous bound for hand-offs inside a scenario; never reached when it works

# Debug-mode asyncio reports callbacks slower than 0.1 s; on a loaded 2-core machine that is
# noise, not a finding.
_NOISE = ("Executing <", "took ")


def run_scenario(name: str, timeout: float = 60.0) -> None:
    """Run ``scenarios.<name>()`` in a fresh interpreter; fail on hang, error or stderr."""
    env = dict(os.environ, PYTHONASYNCIODEBUG="1", PYTHONDONTWRITEBYTECODE="1")
    code = f"import tests.scenarios as s; s.{name}()"
    try:
        done = subprocess.run(
            [sys.executable, "-W", "error", "-X", "faulthandler", "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as hang:
        raise AssertionError(f"scenario {name} hung for {timeout}s: {hang.stderr!r}") from None
    stderr = "\n".join(
        line
        for line in done.stderr.splitlines()
        if not all(part in line for part in _NOISE) and line.strip()
    )
    assert done.returncode == 0, f"scenario {name} failed ({done.returncode}):\n{done.stderr}"
    assert stderr == "", f"scenario {name} printed to stderr:\n{done.stderr}"


def _wait(event: threading.Event, what: str) -> None:
    if not event.wait(WAIT):
        raise AssertionError(f"timed out waiting for: {what}")


class _Endless:
    """A sync program that emits forever, and records whether it is still running."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.count = 0

    def __call__(self) -> None:
        try:
            while True:
                emit_sync(self.count)
                self.count += 1
        finally:
            self.stopped.set()


# -- 1. a timeout stops a sync program --------------------------------------------------------
def timeout_stops_endless_sync_program_async_consumer() -> None:
    program = _Endless()

    async def main() -> None:
        try:
            async for _ in wrap(program, timeout=0.2)():
                pass
        except TimeoutError:
            pass
        else:
            raise AssertionError("no TimeoutError")
        assert program.stopped.is_set(), "the stream ended before its program stopped"

    asyncio.run(main())
    count = program.count
    assert program.count == count


def timeout_stops_endless_sync_program_sync_consumer() -> None:
    program = _Endless()
    try:
        for _ in wrap(program, timeout=0.2, async_streaming=False)():
            pass
    except TimeoutError:
        pass
    else:
        raise AssertionError("no TimeoutError")
    assert program.stopped.is_set(), "the stream ended before its program stopped"


# -- 2. thread limits, nesting and backpressure --------------------------------------------------
def _numbers(n: int) -> int:
    for i in range(n):
        emit_sync(i)
    return n


def asyncify_per_item_with_thread_limit_one() -> None:
    streamify.configure(thread_limit=1)
    double = asyncify(lambda x: 2 * x)

    async def main() -> list[Any]:
        out = []
        async for item in wrap(_numbers, buffer_size=1)(50):
            if isinstance(item, int):
                out.append(await double(item))
        return out

    assert asyncio.run(main()) == [2 * i for i in range(50)]


def asyncify_emitter_lends_its_slot_to_the_consumer() -> None:
    # The program's own asyncify call blocks on the full buffer while the consumer needs the
    # only slot for its asyncify call per item.
    streamify.configure(thread_limit=1)
    double = asyncify(lambda x: 2 * x)

    async def program() -> int:
        return await asyncify(_numbers)(50)

    async def main() -> list[Any]:
        out = []
        async for item in wrap(program, buffer_size=1)():
            if isinstance(item, int):
                out.append(await double(item))
        return out

    assert asyncio.run(main()) == [2 * i for i in range(50)]


def _inner_sync(n: int) -> int:
    for i in range(n):
        emit_sync(i)
    return n


def _outer_sync(n: int) -> int:
    inner = wrap(_inner_sync, buffer_size=1, async_streaming=False)
    total = 0
    for item in inner(n):
        if isinstance(item, int):
            emit_sync(item)
            total += 1
    return total


def forty_nested_sync_streams_at_the_default_limit() -> None:
    outer = wrap(_outer_sync, buffer_size=1)

    async def request() -> int:
        return len([item async for item in outer(5)])

    async def main() -> list[int]:
        return await asyncio.gather(*(request() for _ in range(60)))

    assert asyncio.run(main()) == [6] * 60


def nested_stream_on_the_outer_loop_at_the_default_limit() -> None:
    # Each outer sync program hands an inner sync-program stream to the outer event loop and
    # waits for it: with outer programs holding thread-limit slots, the inner ones could
    # never start once 40 outer programs ran.
    async def consume_inner() -> int:
        return len([item async for item in wrap(_inner_sync, buffer_size=1)(3)])

    def outer(loop: asyncio.AbstractEventLoop) -> int:
        count = asyncio.run_coroutine_threadsafe(consume_inner(), loop).result(WAIT)
        emit_sync(count)
        return count

    async def request() -> list[Any]:
        loop = asyncio.get_running_loop()
        return [item async for item in wrap(outer, buffer_size=1)(loop)]

    async def main() -> list[list[Any]]:
        return await asyncio.gather(*(request() for _ in range(41)))

    assert [items[0] for items in asyncio.run(main())] == [4] * 41


def nested_sync_streams_with_thread_limit_one() -> None:
    streamify.configure(thread_limit=1)
    forty_nested_sync_streams_at_the_default_limit()


def asyncified_sync_consumer_lends_its_slot_to_the_inner_stream() -> None:
    # An asyncify call (holding the only slot) iterates a sync stream whose async program
    # needs an asyncify slot of its own for every item.
    streamify.configure(thread_limit=1)
    triple = asyncify(lambda x: 3 * x)

    async def inner() -> int:
        for i in range(5):
            await emit(await triple(i))
        return 5

    def consume() -> list[Any]:
        return list(wrap(inner, buffer_size=1, async_streaming=False)())

    items = asyncio.run(asyncify(consume)())
    assert items[:-1] == [0, 3, 6, 9, 12]


# -- 3. the event loop ends while a sync-program stream is suspended --------------------------
_kept: list[Any] = []


def loop_end_with_a_suspended_sync_stream_returns() -> None:
    program = _Endless()

    async def main() -> None:
        stream = wrap(program, buffer_size=1)()
        _kept.append(stream)  # still referenced when asyncio.run ends
        await stream.__anext__()

    asyncio.run(main())
    _wait(program.stopped, "the program stopped when the loop ended")


# -- 4. fork ------------------------------------------------------------------------------------
def _sync_program_once() -> int:
    emit_sync("x")
    return 7


def _run_sync_stream_in_both_consumers() -> None:
    items = list(wrap(_sync_program_once, async_streaming=False)())
    assert items[0] == "x" and isinstance(items[-1], streamify.Prediction) and items[-1].raw == 7

    async def main() -> list[Any]:
        return [item async for item in wrap(_sync_program_once)()]

    assert asyncio.run(main())[-1].raw == 7


def fork_after_streaming_gives_the_child_a_working_pool() -> None:
    from streamify._instrument import new_call_id

    _run_sync_stream_in_both_consumers()  # the parent now has idle workers and a loop thread
    parent_prefix = new_call_id().split("-")[0]
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            done = threading.Event()

            def check() -> None:
                _run_sync_stream_in_both_consumers()
                done.set()

            from streamify._instrument import new_call_id

            assert new_call_id().split("-")[0] != parent_prefix, "the child reuses call ids"
            watchdog = threading.Thread(target=check, daemon=True)
            watchdog.start()
            code = 0 if done.wait(WAIT) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"the child failed: {status}"
    _run_sync_stream_in_both_consumers()  # and the parent still works


def _child_streams_and_runs_its_own_program() -> None:
    """What a forked child must still be able to do: both consumers, and a run read whole."""
    _run_sync_stream_in_both_consumers()

    async def answer() -> int:
        await emit("child")
        return 42

    async def child_run() -> list[Any]:
        runs = streamify.Runs()
        run_id = await runs.start(wrap(answer)())
        events = [event async for event in runs.events(run_id)]
        await runs.aclose()
        return events

    assert asyncio.run(child_run())[-1].type == "done"


def fork_while_a_stream_and_a_run_are_live_leaves_both_processes_working() -> None:
    """Fork while a sync program is blocked on a full buffer (its sync consumer paused
    mid-stream) and a run's producer emits on another thread's loop: the child streams and
    runs programs of its own, and the parent's stream and run then end as they should."""

    def chatty() -> int:
        for i in range(200):
            emit_sync(i)
        return 200

    paused = wrap(chatty, async_streaming=False, buffer_size=1)()
    assert next(paused) == 0  # the program now waits in emit_sync for room

    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, daemon=True)
    loop_thread.start()
    emitting = threading.Event()

    async def endless() -> None:
        count = 0
        while True:
            await emit(count)
            count += 1
            if count == 5:
                emitting.set()
            await asyncio.sleep(0.001)

    async def start() -> tuple[streamify.Runs, str]:
        runs = streamify.Runs()
        return runs, await runs.start(wrap(endless)())

    runs, run_id = asyncio.run_coroutine_threadsafe(start(), loop).result(WAIT)
    _wait(emitting, "the run's program emits")
    pid = os.fork()
    if pid == 0:  # the child: a watchdog thread, so that a hang exits instead of blocking
        code = 1
        try:
            done = threading.Event()

            def check() -> None:
                _child_streams_and_runs_its_own_program()
                done.set()

            threading.Thread(target=check, daemon=True).start()
            code = 0 if done.wait(WAIT) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"the child failed or hung: {status}"

    rest = list(paused)  # the parent's paused stream resumes and ends whole
    assert rest[:-1] == list(range(1, 200)) and isinstance(rest[-1], streamify.Prediction)

    async def cancel() -> list[Any]:
        await runs.cancel(run_id)
        events = [event async for event in runs.events(run_id)]
        await runs.aclose()
        return events

    assert asyncio.run_coroutine_threadsafe(cancel(), loop).result(WAIT)[-1].type == "cancelled"
    loop.call_soon_threadsafe(loop.stop)
    loop_thread.join(WAIT)
    loop.close()


def _pool_job(n: int) -> int:
    _run_sync_stream_in_both_consumers()
    return n


def multiprocessing_fork_pool_after_streaming() -> None:
    import multiprocessing

    _run_sync_stream_in_both_consumers()
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        assert pool.map_async(_pool_job, range(4)).get(WAIT) == [0, 1, 2, 3]


# -- 5. a sync stream generator collected by the cyclic GC -------------------------------------
def _drop_in_a_cycle(generator: Any) -> None:
    cycle: list[Any] = [generator]
    cycle.append(cycle)


def gc_of_sync_stream_in_its_own_worker_thread() -> None:
    gc.disable()
    dropped = threading.Event()
    stopped = threading.Event()

    def program() -> None:
        try:
            emit_sync(1)
            _wait(dropped, "the consumer dropped the generator")
            gc.collect()  # the generator is finalized here, in its own program's thread
            emit_sync(2)  # the cancellation point
            emit_sync(3)
        finally:
            stopped.set()

    generator = wrap(program, buffer_size=1, async_streaming=False)()
    assert next(generator) == 1
    _drop_in_a_cycle(generator)
    del generator
    dropped.set()
    _wait(stopped, "the program stopped")


def gc_of_sync_stream_on_its_loop_thread() -> None:
    gc.disable()
    stopped = threading.Event()
    loops: list[asyncio.AbstractEventLoop] = []
    events: list[asyncio.Event] = []  # made on the program's loop (3.9 binds at creation)

    async def program() -> None:
        dropped = asyncio.Event()
        events.append(dropped)
        loops.append(asyncio.get_running_loop())
        try:
            await emit(1)
            await dropped.wait()
            gc.collect()  # finalized here, on the loop that runs the producer task
            await emit(2)
            await emit(3)
        finally:
            stopped.set()

    generator = wrap(program, buffer_size=1, async_streaming=False)()
    assert next(generator) == 1
    _drop_in_a_cycle(generator)
    del generator
    loops[0].call_soon_threadsafe(events[0].set)
    _wait(stopped, "the program stopped")


def gc_of_sync_stream_in_the_consumer_thread() -> None:
    gc.disable()
    stopped = threading.Event()

    def program() -> None:
        try:
            while True:
                emit_sync(1)
        finally:
            stopped.set()

    generator = wrap(program, buffer_size=1, async_streaming=False)()
    assert next(generator) == 1
    _drop_in_a_cycle(generator)
    del generator
    gc.collect()
    _wait(stopped, "the program stopped")


# -- 8. no event loop outlives its use ----------------------------------------------------------
def event_loops_are_not_kept_alive_by_the_thread_limit() -> None:
    streamify.configure(thread_limit=1)
    refs: list[weakref.ref[asyncio.AbstractEventLoop]] = []
    double = asyncify(lambda x: 2 * x)

    async def main() -> None:
        refs.append(weakref.ref(asyncio.get_running_loop()))
        # Reach the limit: two calls for one slot.
        assert list(await asyncio.gather(double(1), double(2))) == [2, 4]
        assert [i async for i in wrap(_numbers)(3)][:3] == [0, 1, 2]

    for _ in range(5):
        asyncio.run(main())
    for _ in range(5):
        list(wrap(_numbers, async_streaming=False)(3))
    gc.collect()
    alive = [ref for ref in refs if ref() is not None]
    assert not alive, f"{len(alive)} event loops outlived asyncio.run"


# -- 3b. the loop ends while an async program's asyncify call is blocked on the stream ---------
def loop_end_with_an_asyncify_emitter_blocked_on_the_stream_returns() -> None:
    stopped = threading.Event()

    def emitter() -> None:
        try:
            while True:
                emit_sync("x")
        finally:
            stopped.set()

    async def program() -> None:
        await asyncify(emitter)()

    async def main() -> None:
        stream = wrap(program, buffer_size=1)()
        _kept.append(stream)
        await stream.__anext__()

    asyncio.run(main())
    _wait(stopped, "the asyncify thread stopped when the loop ended")


def cancelled_asyncify_call_blocked_on_a_full_buffer_raises_in_its_thread() -> None:
    # asyncio.wait_for inside the program cancels one asyncify call; only that call's thread
    # stops (at its blocked emit), the stream goes on.
    reached: list[str] = []

    def emitter() -> None:
        try:
            while True:
                emit_sync("x")
        except asyncio.CancelledError:
            reached.append("cancelled in the thread")
            raise

    events: list[asyncio.Event] = []  # made inside the loop (3.9 binds it at creation)

    async def program() -> str:
        try:
            await asyncio.wait_for(asyncify(emitter)(), 0.05)
        except asyncio.TimeoutError:
            reached.append("timed out")
        events[0].set()
        await emit("after")
        return "done"

    async def main() -> list[Any]:
        timed_out = asyncio.Event()
        events.append(timed_out)
        items = []
        async for item in wrap(program, buffer_size=1)():
            items.append(item)
            if len(items) == 1:
                await timed_out.wait()  # meanwhile the emitter blocks on the full buffer
        return items

    items = asyncio.run(main())
    assert reached == ["cancelled in the thread", "timed out"], reached
    assert items[-2] == "after" and items[-1].raw == "done"
