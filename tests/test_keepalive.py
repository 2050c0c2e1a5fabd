"""Keepalive at the cost of a timer: streamify streams tick, other iterables use one helper.

Also the sync (WSGI) keepalive and the SSE ``retry:`` field.  The frame-level endings with
keepalive are in tests/test_encoding.py; a real WSGI server noticing a departed client is in
tests/test_transports.py.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from typing import TYPE_CHECKING, Any

import pytest

from streamify import emit, streamify
from streamify._idle import BUFFERS, IDLE, TICKS
from streamify._responses import (
    ndjson_response,
    ndjson_response_sync,
    streaming_response,
    streaming_response_sync,
)
from tests.test_encoding import collect, parse_sse

if TYPE_CHECKING:
    from collections.abc import Iterator

KEEPALIVE = ": keepalive\n\n"


def data_of(frames: list[str]) -> list[Any]:
    events = parse_sse("".join(frames)).events
    return [event.data if event.data == "[DONE]" else json.loads(event.data) for event in events]


async def test_a_streamify_stream_ticks_in_the_consumer_task_without_a_helper_task() -> None:
    resume = asyncio.Event()

    async def program() -> str:
        await emit("first")
        await resume.wait()
        await emit("second")
        return "done"

    frames = streaming_response(streamify(program)(), keepalive=0.01)
    assert "first" in await frames.__anext__()
    assert await frames.__anext__() == KEEPALIVE
    # Only the consumer (this task) and the program's producer task exist: no stepping task.
    assert len(asyncio.all_tasks()) == 2
    assert await frames.__anext__() == KEEPALIVE
    resume.set()
    rest = [frame for frame in await collect(frames) if frame != KEEPALIVE]
    assert [d if d == "[DONE]" else d.get("raw", d["data"]) for d in data_of(rest)] == [
        "second",
        "done",
        "[DONE]",
    ]
    assert not TICKS  # the response unregistered its stream
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_idle_timeout_counts_from_the_start_of_the_wait_across_ticks() -> None:
    async def program() -> None:
        await asyncio.Event().wait()  # never emits

    stream = streamify(program, idle_timeout=0.2)()
    frames = await asyncio.wait_for(collect(streaming_response(stream, keepalive=0.02)), 10)
    assert frames.count(KEEPALIVE) >= 2
    (error,) = data_of([frame for frame in frames if frame != KEEPALIVE])
    assert error["error"]["type"] == "TimeoutError"
    assert "idle_timeout=0.2s" in error["message"]


async def test_an_inner_stream_never_sees_the_ticks_of_the_response_serving_the_outer() -> None:
    resume = asyncio.Event()
    seen: list[Any] = []

    async def inner() -> str:
        await emit("inner item")
        await resume.wait()
        return "inner done"

    async def outer() -> str:
        async for item in streamify(inner)():
            seen.append(item)
        return "outer done"

    frames = streaming_response(streamify(outer)(), keepalive=0.01)
    assert await frames.__anext__() == KEEPALIVE
    assert await frames.__anext__() == KEEPALIVE
    resume.set()
    await collect(frames)
    assert IDLE not in seen
    assert seen[0] == "inner item"
    assert len(seen) == 2  # the item, then the inner prediction


async def test_ndjson_keepalive_is_a_blank_line() -> None:
    resume = asyncio.Event()

    async def program() -> str:
        await resume.wait()
        return "ok"

    frames = ndjson_response(streamify(program)(), keepalive=0.01)
    assert await frames.__anext__() == "\n"
    resume.set()
    lines = [line for line in "".join(await collect(frames)).splitlines() if line]
    assert [json.loads(line)["type"] for line in lines] == ["prediction", "done"]


def test_a_sync_streamify_stream_ticks_while_its_program_is_quiet() -> None:
    resume = threading.Event()

    async def program() -> str:
        await emit("first")
        while not resume.is_set():  # quiet, polling a thread's event
            await asyncio.sleep(0.005)
        return "done"

    frames = streaming_response_sync(streamify(program, async_streaming=False)(), keepalive=0.01)
    assert "first" in next(frames)
    assert next(frames) == KEEPALIVE
    assert next(frames) == KEEPALIVE
    assert not [t for t in threading.enumerate() if t.name == "streamify-keepalive"]
    resume.set()
    rest = [frame for frame in frames if frame != KEEPALIVE]
    assert data_of(rest)[-1] == "[DONE]"
    assert not TICKS


def test_a_plain_iterator_is_stepped_in_one_helper_thread_in_one_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="caller")
    var.set("response's context")
    resume = threading.Event()
    threads: list[int] = []
    closed = threading.Event()

    def source() -> Iterator[str]:
        try:
            threads.append(threading.get_ident())
            yield var.get()
            resume.wait()
            threads.append(threading.get_ident())
            yield "second"
        finally:
            threads.append(threading.get_ident())
            closed.set()

    frames = ndjson_response_sync(source(), keepalive=0.01)
    assert json.loads(next(frames))["data"] == "response's context"
    assert next(frames) == "\n"
    assert next(frames) == "\n"
    resume.set()
    lines = [json.loads(line) for line in "".join(frames).splitlines() if line]
    assert [line["type"] for line in lines] == ["item", "done"]
    assert closed.is_set()
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()


def test_closing_a_sync_keepalive_response_waits_for_the_pending_step_then_closes() -> None:
    entered, resume = threading.Event(), threading.Event()
    log: list[str] = []

    def source() -> Iterator[int]:
        try:
            entered.set()
            resume.wait()
            log.append("step returned")
            yield 1
            log.append("stepped too far")
        finally:
            log.append("closed")

    frames = streaming_response_sync(source(), keepalive=0.01)
    assert next(frames) == KEEPALIVE
    assert entered.is_set()
    threading.Timer(0.05, resume.set).start()
    frames.close()
    assert log == ["step returned", "closed"]
    assert not [t for t in threading.enumerate() if t.name == "streamify-keepalive"]


def test_a_plain_iterators_exception_reaches_the_sync_response_as_an_error_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("broken source")

    with caplog.at_level("ERROR", logger="streamify"):
        frames = list(streaming_response_sync(source(), keepalive=5.0))
    *_, error = data_of(frames)
    assert error["error"]["type"] == "ValueError"
    assert error["message"] == "broken source"


def test_retry_is_sent_once_first_and_is_no_event() -> None:
    frames = list(streaming_response_sync([1, 2], retry=3000))
    assert frames[0].startswith("retry: 3000\n\n")
    assert "".join(frames).count("retry:") == 1
    assert [d if d == "[DONE]" else d["data"] for d in data_of(frames)] == [1, 2, "[DONE]"]


@pytest.mark.parametrize(
    ("retry", "error", "message"),
    [
        (-1, ValueError, "retry must be 0 or more milliseconds"),
        (1.5, TypeError, "retry must be a whole number of milliseconds"),
        (True, TypeError, "retry must be a whole number of milliseconds"),
        ("3000", TypeError, "retry must be a whole number of milliseconds"),
    ],
)
def test_a_bad_retry_is_refused_when_wrapping(retry: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        streaming_response_sync([1], retry=retry)
    with pytest.raises(error, match=message):
        streaming_response(streamify(lambda: 1)(), retry=retry)


@pytest.mark.parametrize("api", [streaming_response_sync, ndjson_response_sync])
def test_a_bad_sync_keepalive_is_refused_when_wrapping(api: Any) -> None:
    with pytest.raises(ValueError, match=f"{api.__name__}\\(\\) keepalive must be a positive"):
        api([1], keepalive=0)
    with pytest.raises(TypeError, match="keepalive must be a number of seconds"):
        api([1], keepalive="1")


# -- batching ------------------------------------------------------------------------------------


async def test_the_frames_of_items_already_buffered_go_out_in_one_string_in_order() -> None:
    async def program() -> str:
        for index in range(5):
            await emit(index)  # the buffer holds 16: all five wait for the consumer
        return "done"

    for keepalive in (None, 10.0):
        chunks = await collect(streaming_response(streamify(program)(), keepalive=keepalive))
        assert len(chunks) == 3  # the five items, the prediction, [DONE]
        assert [event["data"] for event in data_of(chunks[:1])] == [0, 1, 2, 3, 4]
        assert data_of(chunks[1:]) == [{"type": "prediction", "data": {}, "raw": "done"}, "[DONE]"]


async def test_batching_never_holds_a_frame_back_while_the_program_works_on() -> None:
    resume = asyncio.Event()

    async def program() -> None:
        await emit("a")
        await emit("b")
        await resume.wait()  # nothing more is buffered: "a" and "b" must be out already
        await emit("c")

    frames = streaming_response(streamify(program)())
    assert [event["data"] for event in data_of([await frames.__anext__()])] == ["a", "b"]
    resume.set()
    rest = data_of(await collect(frames))
    assert [event if event == "[DONE]" else event["type"] for event in rest] == [
        "item",
        "prediction",
        "[DONE]",
    ]
    assert not BUFFERS
