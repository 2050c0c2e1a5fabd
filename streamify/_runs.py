"""Runs: a streamified call detached from any request, its events kept in a log readers resume.

``Runs.start(stream)`` starts a *producer* (three tasks of this process) and returns a run id:

* the **pump** iterates the stream, encodes each item with the protocol (the same
  ``_Framing`` as the responses, so the events are those a response would send) and hands
  the events to the writer;
* the **writer** appends them to the store in batches: while one append is in flight, new
  events queue and go in the next one (one round trip per batch).  The pump waits only when
  ``_BATCH`` events are queued, so the program is paced by the log writer, never by readers;
* the **watch** renews the lease (every ``lease / 3`` s) and returns when a cancel was
  requested, from any process.

Invariants:

1. Exactly one terminal entry ends every log: ``done`` (after the protocol's finish events;
   data = its done marker, or ``{"type":"done"}``), ``error`` (the protocol's fail events; the
   last of them is the terminal), or ``cancelled`` (``{"type":"cancelled"}``).  The store
   writes a terminal only while the run is running, so a producer and readers that declare it
   dead cannot both write one.
2. The stream is closed (``aclose()``: the program stops) before the terminal is written, on
   every path: end, failure, an item that cannot be encoded, cancel, store lost, ``aclose()``.
3. Store failures are retried ``_RETRIES`` times with backoff (about 1.5 s), then the run ends
   in ``error`` (written if the store comes back in time; always logged).
4. A reader gets every kept entry after its id once, in order, then the terminal, then stops.
   Entries it cannot get (trimmed, or its id is not in the log) are replaced by one ``gap``
   event ``{"type":"gap","after":<its id or null>,"first":<first id it gets>}``: never a
   silent loss.  A reader that sees no new entry for a poll interval and finds the lease
   expired writes the terminal ``error`` "the run's producer stopped".
5. Readers of one run in one ``Runs`` that have caught up share one tailing loop (``_Tail``):
   one store read per wake for all of them.  A reader only takes entries from it by ``seq``,
   so sharing changes nothing a reader gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import itertools
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar, Union

from ._encoding import Default, _EncodeFailure, _to_json
from ._protocol import error_payload
from ._protocol_registry import ProtocolArg, get_protocol
from ._responses import KEEPALIVE_FRAME, _aclose, _check_default, _check_keepalive, _Framing
from ._run_store import (
    MemoryRunStore,
    RunEvent,
    RunNotFound,
    RunStore,
    RunStoreUnavailable,
    StoredEvent,
    check_run_id,
)

if TYPE_CHECKING:
    from ._messages import StreamItem
    from ._protocol import StreamProtocol

__all__ = ("Runs",)

logger = logging.getLogger("streamify")

_T = TypeVar("_T")

_BATCH = 512
"""Most events per append and per read; the pump waits when that many are queued."""
_RETRIES = 6
_CANCELLED = '{"type":"cancelled"}'
_LOST = "the run's producer stopped (its process died or lost the run store)"

Authorize = Callable[[str, str, Any], Union[bool, Awaitable[bool]]]


class _RunEnded(Exception):
    """The store refused an append: the run was ended elsewhere (declared dead, expired)."""


class _LogFraming(_Framing):
    """The protocol's events of one step as ``(type, json text)`` pairs, in ``out``."""

    __slots__ = ("out",)

    def __init__(self, default: Optional[Default], protocol: StreamProtocol, run_id: str) -> None:
        super().__init__("Runs.start", default, protocol, run_id)
        self.out: list[tuple[str, str]] = []

    def frame(self, kind: str, data: str) -> str:
        self.out.append((kind, data))
        return ""

    def done(self) -> Optional[str]:
        self._step(self.protocol.finish)
        return None


async def _retry(call: Callable[[], Awaitable[_T]]) -> _T:
    delay = 0.05
    for attempt in range(_RETRIES):
        try:
            return await call()
        except RunStoreUnavailable:
            if attempt == _RETRIES - 1:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


class _Writer:
    """Appends events in batches; one append in flight at a time (see the module docstring)."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self._store = store
        self._run_id = run_id
        self._pending: list[tuple[str, str]] = []
        self._task: Optional[asyncio.Task[None]] = None
        self.written = 0
        self.failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def add(self, events: Sequence[tuple[str, str]]) -> None:
        self._pending.extend(events)
        if self._task is None and self._pending and not self.failed.done():
            written = self._store.append_now(self._run_id, self.written + 1, self._pending)
            if written is None:  # the store needs a round trip: append in a task
                self._task = asyncio.get_running_loop().create_task(self._flush())
            elif written:
                self.written += len(self._pending)
                self._pending = []
            else:
                self.failed.set_exception(_RunEnded(self._run_id))
                self.failed.exception()

    @property
    def full(self) -> bool:
        return len(self._pending) >= _BATCH

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:_BATCH], self._pending[_BATCH:]
                start = self.written + 1
                ok = await _retry(functools.partial(self._store.append, self._run_id, start, batch))
                if not ok:
                    raise _RunEnded(self._run_id)
                self.written += len(batch)
        except Exception as error:  # kept for the producer, which reads it from ``failed``
            if not self.failed.done():
                self.failed.set_exception(error)
            self.failed.exception()  # marked as retrieved
        finally:
            self._task = None

    async def wait(self) -> None:
        """Until nothing is in flight; raises what made the writer fail."""
        while self._task is not None:
            await asyncio.wait((self._task,))
        error = self.failed.exception() if self.failed.done() else None
        if error is not None:
            raise error


class _Producer:
    """One run of this process: its pump, writer and watch (see the module docstring)."""

    def __init__(self, runs: Runs, run_id: str, iterator: AsyncIterator[Any]) -> None:
        self.runs = runs
        self.run_id = run_id
        self.iterator = iterator
        self.framing = _LogFraming(runs._default, runs._protocol, run_id)
        self.writer = _Writer(runs._store, run_id)
        self.closing = False
        self.pump: Optional[asyncio.Task[Optional[Exception]]] = None

    async def _pump(self) -> Optional[Exception]:
        """Iterate the stream into the writer; the failure that ended it, or None at its end."""
        framing, writer = self.framing, self.writer
        try:
            framing.start()
            anext = self.iterator.__anext__
            while True:
                if framing.out:
                    writer.add(framing.out)
                    framing.out = []
                    if writer.full:
                        await writer.wait()
                try:
                    item = await anext()
                except StopAsyncIteration:
                    return None
                except Exception as error:
                    return error
                framing.item(item)
        except _EncodeFailure as error:
            return error
        finally:
            await _aclose(self.iterator)

    async def _watch(self) -> bool:
        store, run_id, lease = self.runs._store, self.run_id, self.runs._lease
        while True:
            if await _retry(lambda: store.watch(run_id, lease=lease, timeout=lease / 3)):
                return True

    async def main(self) -> None:
        loop = asyncio.get_running_loop()
        if self.closing:  # Runs.aclose() before this task ever ran
            await _aclose(self.iterator)
            await self._end("cancelled", ("cancelled", _CANCELLED))
            return
        pump = self.pump = loop.create_task(self._pump())
        watch = loop.create_task(self._watch())
        await asyncio.wait((pump, watch, self.writer.failed), return_when=asyncio.FIRST_COMPLETED)
        if not pump.done():
            pump.cancel()
            await asyncio.wait((pump,))
        while not watch.done():  # again: redis-py can swallow a cancel (see _swallowed_cancel)
            watch.cancel()
            await asyncio.wait((watch,), timeout=0.05)
        lost = self.writer.failed.exception() if self.writer.failed.done() else None
        if lost is None and not watch.cancelled():
            lost = watch.exception()
        if lost is not None:
            self._store_lost(lost)
        elif pump.cancelled() or not watch.cancelled():
            await self._end("cancelled", ("cancelled", _CANCELLED))
        else:
            await self._pumped(pump)

    async def _pumped(self, pump: asyncio.Task[Optional[Exception]]) -> None:
        """End the log after the pump finished on its own: done, failed, or store lost."""
        error = pump.exception()
        if error is not None and not isinstance(error, Exception):
            await self._end_with(RuntimeError(f"the program raised {type(error).__name__}"))
            raise error  # KeyboardInterrupt, SystemExit
        failure = error if error is not None else pump.result()
        if isinstance(failure, (RunStoreUnavailable, _RunEnded)):
            self._store_lost(failure)
        else:
            await self._end_with(failure)

    async def _end_with(self, error: Optional[Exception]) -> None:
        """Write the end of the log: the protocol's finish or fail events, then the terminal."""
        framing = self.framing
        terminal = ("done", self.runs._done_data)
        if error is None:
            try:
                framing.done()
            except _EncodeFailure as encode_error:
                error = encode_error
        if error is not None:
            framing.out = []
            framing.error(error)
            *events, terminal = framing.out or [("error", '{"type":"error"}')]
            framing.out = events
        self.writer.add(framing.out)
        await self._end("done" if error is None else "error", terminal)

    async def _end(self, status: str, event: tuple[str, str]) -> None:
        store, run_id = self.runs._store, self.run_id
        try:
            await self.writer.wait()
            await _retry(lambda: store.finish(run_id, status, event))
        except (RunStoreUnavailable, _RunEnded, RunNotFound) as lost:
            self._store_lost(lost)

    def _store_lost(self, error: BaseException) -> None:
        if isinstance(error, _RunEnded):
            logger.warning(
                "run %s was ended by another process; its program was stopped", self.run_id
            )
            return
        logger.error(
            "run %s lost its run store; its program was stopped", self.run_id, exc_info=error
        )
        try:
            asyncio.get_running_loop().create_task(self._last_try(error))
        except RuntimeError:  # pragma: no cover - loop closing
            pass

    async def _last_try(self, error: BaseException) -> None:
        """One more try at the terminal: readers elsewhere see it if the store comes back."""
        data = _to_json(
            {"type": "error", "error": type(error).__name__, "message": f"run store lost: {error}"}
        )
        with contextlib.suppress(Exception):
            await _retry(lambda: self.runs._store.finish(self.run_id, "error", ("error", data)))


class Runs:
    """Start streamified calls as *runs*: detached, resumable, readable by any number of readers.

    Parameters:

    * ``store`` -- where the logs live: :class:`MemoryRunStore` (the default, this process
      only) or :class:`RedisRunStore` (any process sharing the Redis);
    * ``protocol``, ``default`` -- how items become events, as for ``streaming_response``;
    * ``keep_for`` -- seconds a finished run's log is kept (then :class:`RunNotFound`);
    * ``max_events`` -- about how many entries a run's log keeps, the oldest dropped first
      (readers behind them get a ``gap`` event);
    * ``lease`` -- seconds without a sign of life from a producer after which readers end its
      run with an ``error`` event (its process died);
    * ``authorize`` -- ``authorize(action, run_id, request) -> bool`` (or awaitable),
      ``action`` ``"read"`` or ``"cancel"``; see :meth:`authorized`.

    Raises ``TypeError`` / ``ValueError`` for bad arguments.  Use it on one event loop.
    """

    def __init__(
        self,
        store: Optional[RunStore] = None,
        *,
        protocol: ProtocolArg = "streamify",
        default: Optional[Default] = None,
        keep_for: float = 600.0,
        max_events: int = 10_000,
        lease: float = 10.0,
        authorize: Optional[Authorize] = None,
    ) -> None:
        if store is not None and not isinstance(store, RunStore):
            raise TypeError(
                f"Runs() store must be a streamify.RunStore (MemoryRunStore, RedisRunStore), "
                f"got {type(store).__name__}"
            )
        _check_default("Runs", default)
        self._protocol: StreamProtocol = get_protocol(protocol)
        self._keep_for = _seconds("keep_for", keep_for)
        self._lease = _seconds("lease", lease)
        if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 2:
            raise ValueError(f"Runs() max_events must be an int >= 2, got {max_events!r}")
        if authorize is not None and not callable(authorize):
            raise TypeError("Runs() authorize must be a callable (action, run_id, request)")
        self._store: RunStore = store if store is not None else MemoryRunStore()
        self._default = default
        self._max_events = max_events
        self._authorize = authorize
        self._done_data = self._protocol.done_marker or '{"type":"done"}'
        self._poll = min(1.0, self._lease / 4)
        self._producers: dict[str, _Producer] = {}
        self._tails: dict[str, _Tail] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def store(self) -> RunStore:
        """The run store."""
        return self._store

    async def start(
        self,
        stream: AsyncIterable[StreamItem],
        *,
        run_id: Optional[str] = None,
        cancel_when_unread: bool = False,
    ) -> str:
        """Start iterating ``stream`` (what a streamified program returns) as a run; its id.

        The run goes on when the caller leaves.  ``run_id`` defaults to an unguessable
        ``secrets.token_urlsafe(16)``; with ``cancel_when_unread`` the run is cancelled when
        its last reader leaves.  Raises ``TypeError`` for a stream that is not async,
        ``ValueError`` for a taken or malformed ``run_id``, :class:`RunStoreUnavailable` if the
        store cannot be reached (the stream is then closed).
        """
        if not isinstance(stream, AsyncIterable):
            raise TypeError(
                "Runs.start() needs an async iterable, such as the stream a streamified "
                f"program returns; got {type(stream).__name__}"
            )
        if not isinstance(cancel_when_unread, bool):
            raise TypeError("Runs.start() cancel_when_unread must be True or False")
        if run_id is None:
            run_id = secrets.token_urlsafe(16)
        else:
            try:
                check_run_id(run_id)
            except RunNotFound as error:
                raise ValueError(f"Runs.start(): {error}") from None
        iterator = stream.__aiter__()
        try:
            await self._store.create(
                run_id,
                max_events=self._max_events,
                keep_for=self._keep_for,
                lease=self._lease,
                cancel_when_unread=cancel_when_unread,
            )
        except BaseException:
            await _aclose(iterator)
            raise
        producer = self._producers[run_id] = _Producer(self, run_id, iterator)
        task = asyncio.get_running_loop().create_task(producer.main())
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._forget(run_id, done))
        return run_id

    def _forget(self, run_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._producers.pop(run_id, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("run %s: its producer failed", run_id, exc_info=task.exception())

    def _after(self, after: Optional[str]) -> Optional[str]:
        if after is None or after == "":
            return None
        if not isinstance(after, str):
            raise TypeError(f"an event id is a str, got {type(after).__name__}")
        self._store.parse_id(after)
        return after

    def events(self, run_id: str, *, after: Optional[str] = None) -> AsyncGenerator[RunEvent, None]:
        """The run's events after the event id ``after`` (from the start when None): the kept
        log, then live ones, then the terminal event; then it stops.

        A malformed ``after`` raises ``ValueError`` here; an unknown run raises
        :class:`RunNotFound` from the first ``__anext__`` (``await runs.status(run_id)``
        checks first).  :class:`RunStoreUnavailable` ends it if the store is lost.
        """
        check_run_id(run_id)
        return self._events(run_id, self._after(after))

    async def _events(self, run_id: str, after: Optional[str]) -> AsyncGenerator[RunEvent, None]:
        events = self._read(run_id, after)
        try:
            async for event in events:
                if event is not None:
                    yield event
        finally:
            await events.aclose()

    def sse(
        self, run_id: str, *, last_event_id: Optional[str] = None, keepalive: Optional[float] = 15.0
    ) -> AsyncGenerator[str, None]:
        """:meth:`events` as Server-Sent Events: ``id: <id>\\n[event: <type>\\n]data: <data>\\n\\n``
        (``event:`` when the protocol names events; a ``gap`` from the start has no ``id:``),
        and ``: keepalive\\n\\n`` after ``keepalive`` idle seconds (about: checked each poll).
        ``last_event_id`` is the reader's last id (see :func:`last_event_id`); raises as
        :meth:`events` does, and ``TypeError`` / ``ValueError`` for a bad ``keepalive``."""
        check_run_id(run_id)
        seconds = _check_keepalive("Runs.sse", keepalive)
        return self._sse(run_id, self._after(last_event_id), seconds)

    async def _sse(
        self, run_id: str, after: Optional[str], keepalive: Optional[float]
    ) -> AsyncGenerator[str, None]:
        names = self._protocol.event_names
        idle_since = time.monotonic()
        events = self._read(run_id, after)
        try:
            async for event in events:
                now = time.monotonic()
                if event is None:
                    if keepalive is not None and now - idle_since >= keepalive:
                        idle_since = now
                        yield KEEPALIVE_FRAME
                    continue
                idle_since = now
                head = f"id: {event.id}\n" if event.id else ""
                if names:
                    head += f"event: {event.type}\n"
                yield f"{head}data: {event.data}\n\n"
        finally:
            await events.aclose()

    async def _read(
        self, run_id: str, after: Optional[str]
    ) -> AsyncGenerator[Optional[RunEvent], None]:
        """The reader (invariant 4); yields None after each poll without a new entry."""
        store = self._store
        await store.add_reader(run_id, 1)
        joined: Optional[_Tail] = None
        try:
            entries = await store.read(
                run_id, after, inclusive=after is not None, block=0.0, count=_BATCH
            )
            expected: Optional[int] = 1 if after is None else None
            if after is not None and entries and entries[0].event.id == after:
                if entries[0].last:
                    return  # this reader saw the end already
                expected, entries = entries[0].seq + 1, entries[1:]
            cursor = after
            while True:
                if entries:
                    if entries[0].seq > (1 if expected is None else expected):
                        yield _gap(cursor, entries[0])
                    for entry in entries:
                        yield entry.event
                        if entry.last:
                            return
                    cursor, expected = entries[-1].event.id, entries[-1].seq + 1
                else:
                    yield None
                if expected is None:  # its position is not in the log: straight from the store
                    entries = await self._poll_store(run_id, cursor)
                    continue
                if joined is None or joined.done:
                    if joined is not None:
                        joined.users -= 1
                    joined = self._tail(run_id, cursor, expected - 1)
                    joined.users += 1
                entries = await joined.after(expected, cursor)
                _swallowed_cancel()
        finally:
            if joined is not None:
                joined.users -= 1
            await self._reader_left(run_id)

    async def _poll_store(self, run_id: str, cursor: Optional[str]) -> Sequence[StoredEvent]:
        entries = await self._store.read(
            run_id, cursor, inclusive=False, block=self._poll, count=_BATCH
        )
        _swallowed_cancel()
        if not entries:
            await self._end_if_dead(run_id)
        return entries

    def _tail(self, run_id: str, cursor: Optional[str], seq: int) -> _Tail:
        tail = self._tails.get(run_id)
        if tail is None or tail.done:
            tail = self._tails[run_id] = _Tail(self, run_id, cursor, seq)
        return tail

    async def _end_if_dead(self, run_id: str) -> None:
        data = _to_json(error_payload("RunProducerLost", _LOST))
        if await self._store.finish(run_id, "error", ("error", data), only_if_dead=True):
            logger.error("run %s: %s; its readers got an error event", run_id, _LOST)

    async def _reader_left(self, run_id: str) -> None:
        try:
            count, cancel_when_unread = await self._store.add_reader(run_id, -1)
            if count <= 0 and cancel_when_unread:
                await self._store.request_cancel(run_id)
        except (RunNotFound, RunStoreUnavailable):
            pass  # expired or unreachable: nothing to count any more

    async def cancel(self, run_id: str) -> None:
        """Ask run ``run_id`` to stop, from any process: its program stops at its next
        cancellation point and its log ends with ``cancelled``.  Returns at once; a run that
        has already ended is left as it is.  Raises :class:`RunNotFound` for an unknown or
        forgotten run, :class:`RunStoreUnavailable` if the store cannot be reached."""
        check_run_id(run_id)
        store = self._store
        if await store.request_cancel(run_id):
            await store.finish(run_id, "cancelled", ("cancelled", _CANCELLED), only_if_dead=True)

    async def status(self, run_id: str) -> str:
        """The status of run ``run_id``: ``"running"``, ``"done"``, ``"error"`` or
        ``"cancelled"`` (a run whose producer died reads as ``"error"``).  Raises
        :class:`RunNotFound` for an unknown or forgotten run, :class:`RunStoreUnavailable` if
        the store cannot be reached."""
        check_run_id(run_id)
        status = await self._store.status(run_id)
        if status == "running":
            await self._end_if_dead(run_id)
            status = await self._store.status(run_id)
        return status

    async def authorized(self, action: str, run_id: str, request: Any = None) -> bool:
        """Whether ``authorize`` lets ``request`` do ``action`` (``"read"``, ``"cancel"``) on
        ``run_id``; True without a hook."""
        if self._authorize is None:
            return True
        verdict = self._authorize(action, run_id, request)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        return verdict is True

    async def aclose(self) -> None:
        """Cancel this process's runs (each log ends with ``cancelled``), wait until their
        programs stopped, then close the store."""
        for producer in list(self._producers.values()):
            producer.closing = True
            if producer.pump is not None:
                producer.pump.cancel()
        while self._tasks:
            await asyncio.wait(tuple(self._tasks))
        for tail in list(self._tails.values()):
            await tail.stop()
        await self._store.aclose()


class _Tail:
    """One tailing loop per run and ``Runs``, shared by the readers of this process that have
    caught up: one store read per wake for all of them, not one each.

    ``entries`` holds the newest entries read, contiguous in ``seq`` (cleared when the store
    skipped some: a trimmed log), at most ``2 * _BATCH``; ``seq`` and ``cursor`` are the newest
    entry's.  A reader behind the window reads the store itself until it catches up; the
    seq arithmetic then finds gaps as usual.  The loop ends once no reader uses it, or at the
    terminal entry, or when the store fails (``error``, raised to each reader).
    """

    def __init__(self, runs: Runs, run_id: str, cursor: Optional[str], seq: int) -> None:
        self.runs = runs
        self.run_id = run_id
        self.cursor = cursor
        self.seq = seq
        self.entries: deque[StoredEvent] = deque(maxlen=2 * _BATCH)
        self.users = 0
        self.error: Optional[Exception] = None
        self._changed = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    @property
    def done(self) -> bool:
        return self.task.done()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _run(self) -> None:
        runs, run_id = self.runs, self.run_id
        try:
            await asyncio.sleep(0)  # the reader that made it joins first
            while self.users > 0:
                entries = await runs._store.read(
                    run_id, self.cursor, inclusive=False, block=runs._poll, count=_BATCH
                )
                if entries:
                    if entries[0].seq != self.seq + 1:
                        self.entries.clear()
                    self.entries.extend(entries)
                    self.cursor, self.seq = entries[-1].event.id, entries[-1].seq
                else:
                    await runs._end_if_dead(run_id)
                self._notify()
                if entries and entries[-1].last:
                    return
        except Exception as error:
            self.error = error
        finally:
            self._notify()
            if runs._tails.get(run_id) is self:
                del runs._tails[run_id]

    async def after(self, expected: int, cursor: Optional[str]) -> Sequence[StoredEvent]:
        """Entries from ``seq == expected`` on (the reader's last id is ``cursor``); waits up
        to one poll for new ones."""
        found = self._window(expected)
        if found is None and expected > self.seq and not self.done:
            await self._changed.wait()  # set after every poll of the loop
            found = self._window(expected)
        if found is not None:
            return found
        if self.error is not None:
            raise self.error
        if expected <= self.seq or self.done:  # behind the window, or the loop has ended
            return await self.runs._poll_store(self.run_id, cursor)
        return ()

    def _window(self, expected: int) -> Optional[list[StoredEvent]]:
        entries = self.entries
        if not entries or not entries[0].seq <= expected <= entries[-1].seq:
            return None
        start = expected - entries[0].seq
        return list(itertools.islice(entries, start, start + _BATCH))

    async def stop(self) -> None:
        self.users = 0
        while not self.task.done():  # redis-py can swallow a cancel (see _swallowed_cancel)
            self.task.cancel()
            await asyncio.wait((self.task,), timeout=0.05)


def _swallowed_cancel() -> None:
    """Raise the ``CancelledError`` a store's client swallowed (redis-py 8 can, when the cancel
    lands in a narrow window of a command); Python < 3.11 cannot tell."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    if cancelling is not None and cancelling():
        raise asyncio.CancelledError()


def _gap(cursor: Optional[str], first: StoredEvent) -> RunEvent:
    data = _to_json({"type": "gap", "after": cursor, "first": first.event.id})
    return RunEvent(cursor or "", "gap", data)


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Runs() {name} must be a number of seconds, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"Runs() {name} must be a positive number of seconds, got {value!r}")
    return float(value)
