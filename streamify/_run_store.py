"""The run log: where a run's events are kept, and the interface another engine implements.

A *run* (see ``_runs.py``) appends its events to a log kept by a :class:`RunStore`; readers
replay the log from an id and tail it.  This module holds the records, the interface, and the
default engine, :class:`MemoryRunStore` (one process, nothing to install).  Redis Streams are
in ``_run_store_redis.py``.

The interface (an abstract base class: implement every method to add an engine, such as NATS
JetStream, where a run is a subject, ``seq`` the stream sequence and the lease a KV entry with
a TTL).  A store keeps, per run:

* the **log**: entries ``StoredEvent(seq, event, last)`` with ``seq`` 1, 2, 3, ... without
  holes, and ``event.id`` increasing in :meth:`RunStore.parse_id` order.  At most about
  ``max_events`` entries are kept, the oldest dropped first; the terminal entry
  (``last=True``) is the newest, so it is never dropped;
* the **status**: ``"running"`` until exactly one terminal entry is written, then the
  terminal's status (``"done"``, ``"error"``, ``"cancelled"``);
* a **cancel flag**, set by :meth:`RunStore.request_cancel` from any process and seen by the
  producer's :meth:`RunStore.watch`;
* a **lease**, renewed by the producer's :meth:`RunStore.watch`; a reader that finds it
  expired ends the run with :meth:`RunStore.finish` (``only_if_dead=True``);
* a **reader count**, for ``cancel_when_unread``.

Invariants every engine keeps:

1. Appends and the terminal are atomic per call and exactly-once: :meth:`RunStore.append` with
   a ``start`` already written is a no-op (a retried batch is never doubled), and
   :meth:`RunStore.finish` writes a terminal only while the status is ``"running"``; once a
   terminal is written, appends are refused (they return False).
2. A finished run is forgotten ``keep_for`` seconds after its terminal entry; then every method
   raises :class:`RunNotFound` for it, like for an id that never existed.
3. Nothing a reader does slows the producer: reads never wait for or lock out appends.
"""

from __future__ import annotations

import abc
import asyncio
import heapq
import re
import time
from collections import deque
from typing import TYPE_CHECKING, NamedTuple, Optional

from ._exceptions import StreamifyError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = (
    "MemoryRunStore",
    "RunEvent",
    "RunNotFound",
    "RunStore",
    "RunStoreUnavailable",
    "StoredEvent",
    "check_run_id",
)

TERMINAL_STATUSES = ("done", "error", "cancelled")

_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class RunEvent(NamedTuple):
    """One event of a run's log, as a reader gets it.

    ``id`` is the log id (increasing; the SSE ``id:``), ``type`` the protocol event's type (or
    ``"done"``, ``"cancelled"``, ``"gap"`` ...), ``data`` its JSON text, or a marker such as
    ``"[DONE]"``: what SSE writes as ``data:``.
    """

    id: str
    type: str
    data: str


class StoredEvent(NamedTuple):
    """A log entry as a store returns it: ``seq`` counts from 1 without holes; ``last`` marks
    the terminal entry."""

    seq: int
    event: RunEvent
    last: bool


class RunNotFound(LookupError):
    """No run with this id: it never existed, or it was forgotten after it ended (HTTP 404)."""


class RunStoreUnavailable(StreamifyError):
    """The run store cannot be reached (Redis down, wrong URL); the message says which."""


def check_run_id(run_id: object) -> str:
    """``run_id`` if it is a valid run id (1-128 of ``A-Z a-z 0-9 _ -``); else ``RunNotFound``
    for a ``str`` (no run can have that id) or ``TypeError``."""
    if not isinstance(run_id, str):
        raise TypeError(f"a run id is a str, got {type(run_id).__name__}")
    if _RUN_ID.fullmatch(run_id) is None:
        raise RunNotFound(f"no run {run_id[:140]!r}: run ids are 1-128 of A-Z a-z 0-9 _ -")
    return run_id


class RunStore(abc.ABC):
    """Where runs keep their logs; see the module docstring for what an engine must keep.

    Every method but :meth:`parse_id` is a coroutine; those taking a ``run_id`` raise
    :class:`RunNotFound` for an unknown or forgotten run, and :class:`RunStoreUnavailable`
    when the engine cannot be reached.
    """

    @abc.abstractmethod
    def parse_id(self, event_id: str) -> object:
        """A key ordering ``event_id`` among this store's ids; ``ValueError`` if it is not an id
        this store makes (HTTP 400)."""

    @abc.abstractmethod
    async def create(
        self,
        run_id: str,
        *,
        max_events: int,
        keep_for: float,
        lease: float,
        cancel_when_unread: bool,
    ) -> None:
        """Register ``run_id`` as a new running run and take its lease for ``lease`` seconds;
        ``max_events``, ``keep_for`` and ``cancel_when_unread`` are the run's bounds (see the
        module docstring).  Raises ``ValueError`` if the id is taken."""

    @abc.abstractmethod
    async def append(self, run_id: str, start: int, events: Sequence[tuple[str, str]]) -> bool:
        """Append ``(type, data)`` events as entries ``start``, ``start + 1``, ...; trims the
        log to about ``max_events``.  A batch whose ``start`` is already written is skipped.
        Returns False (writing nothing) if the run has ended."""

    def append_now(
        self, run_id: str, start: int, events: Sequence[tuple[str, str]]
    ) -> Optional[bool]:
        """:meth:`append` of ``events`` from ``start`` to run ``run_id`` without a round trip,
        for a store that can (the memory store); the default returns None: use
        :meth:`append`."""
        return None

    @abc.abstractmethod
    async def finish(
        self, run_id: str, status: str, event: tuple[str, str], *, only_if_dead: bool = False
    ) -> bool:
        """Write the terminal entry and set ``status`` if the run is still running (and, with
        ``only_if_dead``, its lease has expired); start the ``keep_for`` countdown.
        Returns whether this call wrote it."""

    @abc.abstractmethod
    async def read(
        self, run_id: str, after: Optional[str], *, inclusive: bool, block: float, count: int
    ) -> Sequence[StoredEvent]:
        """Up to ``count`` entries after ``after`` (from the oldest kept when None; with
        ``inclusive``, the entry ``after`` too if it is kept).  When there are none, waits up
        to ``block`` seconds for one."""

    @abc.abstractmethod
    async def status(self, run_id: str) -> str:
        """The status of run ``run_id``: ``"running"``, ``"done"``, ``"error"`` or
        ``"cancelled"``."""

    @abc.abstractmethod
    async def request_cancel(self, run_id: str) -> bool:
        """Set the cancel flag of the running run ``run_id``; returns True, or False if it
        has already ended."""

    @abc.abstractmethod
    async def watch(self, run_id: str, *, lease: float, timeout: float) -> bool:
        """Renew the producer's lease for ``lease`` seconds, then return True as soon as a
        cancel is requested, or False after at most ``timeout`` seconds."""

    @abc.abstractmethod
    async def add_reader(self, run_id: str, delta: int) -> tuple[int, bool]:
        """Count a reader of ``run_id`` in (``delta`` +1) or out (-1); returns the new count
        and the run's ``cancel_when_unread``."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the engine's connections."""


def parse_memory_id(event_id: str) -> int:
    if not (isinstance(event_id, str) and event_id.isascii() and event_id.isdigit()):
        raise ValueError(
            f"not an event id of this run store: {str(event_id)[:40]!r} (ids are positive "
            "integers such as '17'; pass the id of an event you received)"
        )
    return int(event_id)


class _MemoryRun:
    __slots__ = (
        "cancel",
        "cancel_when_unread",
        "changed",
        "keep_for",
        "lease_until",
        "log",
        "max_events",
        "readers",
        "status",
    )

    def __init__(self, max_events: int, keep_for: float, cancel_when_unread: bool) -> None:
        self.log: deque[StoredEvent] = deque(maxlen=max_events)
        self.max_events = max_events
        self.keep_for = keep_for
        self.status = "running"
        self.cancel = asyncio.Event()
        self.changed = asyncio.Event()  # replaced after each write: readers wait on the old one
        self.lease_until = 0.0
        self.readers = 0
        self.cancel_when_unread = cancel_when_unread

    def next_seq(self) -> int:
        return self.log[-1].seq + 1 if self.log else 1

    def write(self, entries: Sequence[StoredEvent]) -> None:
        self.log.extend(entries)
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class MemoryRunStore(RunStore):
    """The default store: runs of this process, in memory, on one event loop.

    The log of a run keeps its newest ``max_events`` entries exactly (``seq`` is the id:
    ``"1"``, ``"2"``, ...).  A finished run is forgotten ``keep_for`` seconds after it ended
    (swept on the next call).  The lease is kept too, so readers treat a producer that stopped
    renewing it (its event loop blocked for ``lease`` seconds) as dead, as with Redis.
    """

    def __init__(self) -> None:
        self._runs: dict[str, _MemoryRun] = {}
        self._expiry: list[tuple[float, str]] = []

    def _sweep(self) -> None:
        now = time.monotonic()
        while self._expiry and self._expiry[0][0] <= now:
            _, run_id = heapq.heappop(self._expiry)
            self._runs.pop(run_id, None)

    def _run(self, run_id: str) -> _MemoryRun:
        self._sweep()
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFound(f"no run {run_id!r}: it never existed or was forgotten")
        return run

    def parse_id(self, event_id: str) -> object:
        return parse_memory_id(event_id)

    # The keyword-only signature restates RunStore.create's, as each store's must.
    async def create(
        self,
        run_id: str,
        *,
        max_events: int,
        keep_for: float,
        lease: float,
        cancel_when_unread: bool,
    ) -> None:
        self._sweep()
        if run_id in self._runs:
            raise ValueError(f"a run with id {run_id!r} exists already")
        run = _MemoryRun(max_events, keep_for, cancel_when_unread)
        run.lease_until = time.monotonic() + lease
        self._runs[run_id] = run

    async def append(self, run_id: str, start: int, events: Sequence[tuple[str, str]]) -> bool:
        return self.append_now(run_id, start, events)

    def append_now(self, run_id: str, start: int, events: Sequence[tuple[str, str]]) -> bool:
        run = self._run(run_id)
        if run.status != "running":
            return False
        seq = run.next_seq()
        if start < seq:
            return True  # written already
        run.write(
            [
                StoredEvent(n, RunEvent(str(n), kind, data), False)
                for n, (kind, data) in enumerate(events, seq)
            ]
        )
        return True

    async def finish(
        self, run_id: str, status: str, event: tuple[str, str], *, only_if_dead: bool = False
    ) -> bool:
        run = self._run(run_id)
        if run.status != "running" or (only_if_dead and time.monotonic() < run.lease_until):
            return False
        seq = run.next_seq()
        run.status = status
        run.write([StoredEvent(seq, RunEvent(str(seq), *event), True)])
        heapq.heappush(self._expiry, (time.monotonic() + run.keep_for, run_id))
        return True

    async def read(
        self, run_id: str, after: Optional[str], *, inclusive: bool, block: float, count: int
    ) -> Sequence[StoredEvent]:
        run = self._run(run_id)
        changed = run.changed
        found = self._after(run, after, inclusive, count)
        if found or block <= 0 or run.status != "running":
            return found
        try:
            await asyncio.wait_for(changed.wait(), block)
        except asyncio.TimeoutError:
            return ()
        return self._after(self._run(run_id), after, inclusive, count)

    @staticmethod
    def _after(
        run: _MemoryRun, after: Optional[str], inclusive: bool, count: int
    ) -> Sequence[StoredEvent]:
        log = run.log
        if not log:
            return ()
        first = log[0].seq
        start = first if after is None else parse_memory_id(after) + (0 if inclusive else 1)
        index = max(start - first, 0)
        if index >= len(log):
            return ()
        return [log[i] for i in range(index, min(index + count, len(log)))]

    async def status(self, run_id: str) -> str:
        return self._run(run_id).status

    async def request_cancel(self, run_id: str) -> bool:
        run = self._run(run_id)
        if run.status != "running":
            return False
        run.cancel.set()
        return True

    async def watch(self, run_id: str, *, lease: float, timeout: float) -> bool:
        run = self._run(run_id)
        run.lease_until = time.monotonic() + lease
        if not run.cancel.is_set():
            try:
                await asyncio.wait_for(run.cancel.wait(), timeout)
            except asyncio.TimeoutError:
                return False
        return True

    async def add_reader(self, run_id: str, delta: int) -> tuple[int, bool]:
        run = self._run(run_id)
        run.readers += delta
        return run.readers, run.cancel_when_unread

    async def aclose(self) -> None:
        """Nothing to release: the runs stay until they expire."""
