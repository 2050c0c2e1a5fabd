"""Load, leaks and event loops: many streams, many threads, big chunks, long streams.

The heaviest cases are marked ``slow``: ``.ci/run`` runs them (``--runslow``); the default
test command stays quick.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import threading
import tracemalloc
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from streamify import (
    Prediction,
    StreamListener,
    StreamResponse,
    emit,
    emit_sync,
    lm,
    module,
    streamify,
    streaming_response,
    tool,
)


@lm
async def tagged_lm(tag: int) -> AsyncIterator[str]:
    text = f"[[ ## answer ## ]]\nanswer for stream {tag}\n\n[[ ## completed ## ]]"
    for i in range(0, len(text), 5):
        yield text[i : i + 5]


@tool
async def tagged_tool(tag: int) -> int:
    await asyncio.sleep(0)
    return tag


@module(outputs=("answer",))
async def tagged_program(tag: int) -> int:
    await emit(("start", tag))
    await tagged_tool(tag)
    await tagged_lm(tag)
    await emit(("end", tag))
    return tag


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_thousand_concurrent_streams_with_listeners_each_get_exactly_their_own_items() -> (
    None
):
    stream = streamify(tagged_program, stream_listeners=[StreamListener("answer")], buffer_size=2)

    async def one(tag: int) -> None:
        items = [item async for item in stream(tag)]
        custom = [item for item in items if isinstance(item, tuple)]
        assert custom == [("start", tag), ("end", tag)]
        chunks = "".join(i.chunk for i in items if isinstance(i, StreamResponse))
        assert chunks == f"answer for stream {tag}"
        assert isinstance(items[-1], Prediction) and items[-1].raw == tag

    await asyncio.gather(*(one(tag) for tag in range(1000)))


async def test_sixteen_threads_of_the_programs_own_pool_emit_into_one_stream_losslessly() -> None:
    per_thread = 500

    def program() -> int:
        # Threads the program starts itself do not inherit contextvars: copy the context in.
        context = contextvars.copy_context()

        def worker(thread_no: int) -> None:
            for i in range(per_thread):
                emit_sync((thread_no, i))

        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(context.copy().run, worker, n) for n in range(16)]
            for future in futures:
                future.result()
        return 16 * per_thread

    items = [item async for item in streamify(program, buffer_size=4)()]
    custom = [item for item in items if isinstance(item, tuple)]
    assert len(custom) == len(set(custom)) == 16 * per_thread
    for thread_no in range(16):
        mine = [i for n, i in custom if n == thread_no]
        assert mine == list(range(per_thread)), "each thread's items keep their order"


async def test_a_ten_megabyte_chunk_streams_through_listener_and_sse_intact() -> None:
    big = "x" * (10 * 1024 * 1024 - 7) + "\n\ny\r\nz"

    @lm
    def huge_lm() -> str:
        return f"[[ ## answer ## ]]\n{big}\n\n[[ ## completed ## ]]"

    @module(outputs=("answer",))
    def huge_program() -> str:
        emit_sync(big)
        return huge_lm()

    stream = streamify(huge_program, stream_listeners=[StreamListener("answer")])
    items = [item async for item in stream()]
    assert items[0] == big
    assert "".join(i.chunk for i in items if isinstance(i, StreamResponse)) == big.strip()
    frames = [frame async for frame in streaming_response(streamify(huge_program)())]
    assert len(frames) == 3 and frames[-1] == "data: [DONE]\n\n"
    assert all(frame.count("\n") == 2 for frame in frames)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_million_items_through_a_buffer_of_one_arrive_complete_and_in_order() -> None:
    n = 1_000_000

    async def program() -> int:
        for i in range(n):
            await emit(i)
        return n

    async def consume() -> int:
        expected = 0
        async for item in streamify(program, buffer_size=1)():
            if isinstance(item, int):
                assert item == expected
                expected += 1
        return expected

    # Without asyncio debug mode: it records a traceback for every future, which makes a
    # million hand-offs take minutes instead of seconds.  The other tests run in debug mode.
    assert asyncio.run(consume(), debug=False) == n


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ten_thousand_streams_in_a_row_leak_no_threads_tasks_or_memory() -> None:
    # Without debug mode, which keeps a creation traceback on every future and task.
    asyncio.run(_ten_thousand_streams(), debug=False)


async def _ten_thousand_streams() -> None:
    async def async_program(i: int) -> int:
        await emit(i)
        await tagged_tool(i)
        return i

    def sync_program(i: int) -> int:
        emit_sync(i)
        return i

    streams = [streamify(async_program), streamify(sync_program)]

    async def batch(count: int) -> None:
        for i in range(count):
            stream = streams[i % 2](i)
            async for _item in stream:
                if i % 3 == 0:  # a third of the streams are abandoned half-way
                    break
            await stream.aclose()

    await batch(500)  # warm-up: worker pool, caches, interned strings
    gc.collect()
    threads = threading.active_count()
    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    await batch(10_000)
    gc.collect()
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert threading.active_count() <= threads + 1  # at most one more idle pooled worker
    assert asyncio.all_tasks() == {asyncio.current_task()}
    # Noise (free lists, logging, hypothesis caches) stays far below a leak of even 64 bytes
    # per stream, which would be 640 kB.
    assert end - start < 256 * 1024, f"memory grew by {end - start} bytes over 10,000 streams"


async def program_for_loops(n: int) -> int:
    for i in range(n):
        await emit(i)
        await tagged_tool(i)
    return n


def run_with_loop(loop: asyncio.AbstractEventLoop) -> list[Any]:
    async def consume() -> list[Any]:
        return [item async for item in streamify(program_for_loops, buffer_size=2)(50)]

    try:
        return loop.run_until_complete(consume())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager task factory is new in 3.12")
def test_streams_work_with_the_eager_task_factory() -> None:
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    items = run_with_loop(loop)
    assert [i for i in items if isinstance(i, int)] == list(range(50))
    assert items[-1].raw == 50


def test_streams_work_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    items = run_with_loop(loop)
    assert [i for i in items if isinstance(i, int)] == list(range(50))
    assert items[-1].raw == 50


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager task factory is new in 3.12")
def test_stopping_works_with_the_eager_task_factory() -> None:
    loop = asyncio.new_event_loop()
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
    stopped = threading.Event()

    async def endless() -> None:
        try:
            while True:
                await emit(1)
        finally:
            stopped.set()

    async def consume() -> None:
        stream = streamify(endless, buffer_size=1)()
        await stream.__anext__()
        await stream.aclose()

    try:
        loop.run_until_complete(consume())
    finally:
        loop.close()
    assert stopped.is_set()
