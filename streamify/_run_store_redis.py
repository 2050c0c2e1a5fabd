"""The Redis Streams run store: runs readable and cancellable from every process sharing a Redis.

Keys of a run (the ``{run_id}`` hash tag keeps them in one Redis Cluster slot):

* ``<prefix>{<run_id>}:log`` -- a stream: one entry per event, fields ``t`` (type), ``d``
  (data), ``n`` (seq), ``e`` (``1`` on the terminal); ``XADD MAXLEN ~ max_events``;
* ``<prefix>{<run_id>}:meta`` -- a hash: ``status``, ``n`` (last seq written), ``readers``,
  ``cwu`` (cancel when unread), ``keep`` (ms), ``max``;
* ``<prefix>{<run_id>}:lease`` -- set with ``PX lease`` by the producer's heartbeat;
* ``<prefix>{<run_id>}:cancel`` -- set by a cancel request.

Every write that must be exactly-once is one Lua script (atomic in Redis): ``append`` checks the
status and the seq (a retried batch is skipped), ``finish`` checks the status (and the lease
for ``only_if_dead``).  While the run is running, each heartbeat extends the keys' expiry to
``keep_for + lease`` (a run whose producer died is forgotten even if nobody reads it); the
terminal sets it to ``keep_for``.  Readers tail with ``XREAD BLOCK``; the producer polls the
cancel key every ``_CANCEL_POLL`` seconds.  Redis errors (connection, timeout) become
:class:`RunStoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import functools
import re
from typing import TYPE_CHECKING, Any, Optional

from ._run_store import RunEvent, RunNotFound, RunStore, RunStoreUnavailable, StoredEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ("RedisRunStore",)

_CANCEL_POLL = 0.2
_ID = re.compile(r"(\d{1,20})-(\d{1,20})")

_CREATE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[2], 'status', 'running', 'n', 0, 'readers', 0, 'cwu', ARGV[1],
           'keep', ARGV[2], 'max', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[5])
return 1
"""

_APPEND = """
local status = redis.call('HGET', KEYS[2], 'status')
if not status then return -1 end
if status ~= 'running' then return -2 end
local n = tonumber(redis.call('HGET', KEYS[2], 'n'))
local start = tonumber(ARGV[1])
local count = (#ARGV - 1) / 2
if n >= start + count - 1 then return n end
local maxlen = redis.call('HGET', KEYS[2], 'max')
for i = 0, count - 1 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*',
             't', ARGV[2 + 2 * i], 'd', ARGV[3 + 2 * i], 'n', start + i)
end
redis.call('HSET', KEYS[2], 'n', start + count - 1)
return start + count - 1
"""

_FINISH = """
local status = redis.call('HGET', KEYS[2], 'status')
if not status then return -1 end
if status ~= 'running' then return 0 end
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local n = redis.call('HINCRBY', KEYS[2], 'n', 1)
local maxlen = redis.call('HGET', KEYS[2], 'max')
redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 't', ARGV[2], 'd', ARGV[3], 'n', n, 'e', 1)
redis.call('HSET', KEYS[2], 'status', ARGV[1])
local keep = redis.call('HGET', KEYS[2], 'keep')
redis.call('DEL', KEYS[3])
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)
redis.call('PEXPIRE', KEYS[4], keep)
return 1
"""

_CANCEL = """
local status = redis.call('HGET', KEYS[2], 'status')
if not status then return -1 end
if status ~= 'running' then return 0 end
redis.call('SET', KEYS[4], '1', 'PX', redis.call('PTTL', KEYS[2]))
return 1
"""

_HEARTBEAT = """
local status = redis.call('HGET', KEYS[2], 'status')
if not status then return -1 end
if status == 'running' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
  local ttl = tonumber(redis.call('HGET', KEYS[2], 'keep')) + tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return redis.call('EXISTS', KEYS[4])
"""

_READER = """
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local count = redis.call('HINCRBY', KEYS[2], 'readers', ARGV[1])
return {count, tonumber(redis.call('HGET', KEYS[2], 'cwu'))}
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisRunStore(RunStore):
    """Runs in Redis Streams (needs ``pip install 'streamify[redis]'``, Redis >= 6.2).

    ``url`` is a ``redis://HOST:PORT/DB`` URL (``rediss://`` for TLS), used with
    ``redis.asyncio.from_url``; or pass your own ``redis.asyncio.Redis`` as ``client`` (it is
    then not closed by :meth:`aclose`).  ``prefix`` starts every key.  Each tailing read holds
    one connection while it waits (``XREAD BLOCK``; the readers of a run in one ``Runs``
    share one): ``max_connections`` bounds the pool.  Raises ``ImportError``
    saying what to install when redis is missing.  See the module docstring for the keys.

    The store may be built anywhere (at import time, say): its client is made on first use,
    in the event loop that uses it, and the store then belongs to that loop.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        client: Any = None,
        prefix: str = "streamify:run:",
        max_connections: int = 10_000,
    ) -> None:
        try:
            import redis.asyncio as aioredis
            import redis.exceptions
        except ImportError as missing:
            raise ImportError(
                "RedisRunStore needs the redis package: pip install 'streamify[redis]'"
            ) from missing
        if not isinstance(prefix, str):
            raise TypeError("RedisRunStore() prefix must be a str")
        self.url = url if client is None else repr(client)
        self._owned = client is None
        if client is None and (not isinstance(url, str) or "://" not in url):
            raise ValueError(
                f"RedisRunStore() url must look like redis://HOST:PORT/DB, got {url!r}"
            )
        # The client is made on first use, inside the event loop that uses it: redis.asyncio
        # binds its locks to the loop current when they are made (on Python 3.9 even outside
        # a running loop), so a store built at import time would fail in asyncio.run's loop.
        self._make_client = functools.partial(
            aioredis.from_url,
            url,
            socket_connect_timeout=2.0,
            socket_timeout=10.0,
            health_check_interval=10,
            max_connections=max_connections,
        )
        self._client: Any = client
        self._script_objects: Optional[dict[str, Any]] = None
        self._prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            OSError,
        )

    @property
    def _redis(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    @property
    def _scripts(self) -> dict[str, Any]:
        if self._script_objects is None:
            client = self._redis
            self._script_objects = {
                name: client.register_script(text)
                for name, text in (
                    ("create", _CREATE),
                    ("append", _APPEND),
                    ("finish", _FINISH),
                    ("cancel", _CANCEL),
                    ("heartbeat", _HEARTBEAT),
                    ("reader", _READER),
                )
            }
        return self._script_objects

    def _keys(self, run_id: str) -> list[str]:
        base = f"{self._prefix}{{{run_id}}}"
        return [f"{base}:log", f"{base}:meta", f"{base}:lease", f"{base}:cancel"]

    async def _call(self, name: str, run_id: str, *args: Any) -> Any:
        try:
            result = await self._scripts[name](keys=self._keys(run_id), args=list(args))
        except self._errors as error:
            raise self._unavailable(error) from error
        if result == -1:
            raise RunNotFound(f"no run {run_id!r}: it never existed or was forgotten")
        return result

    def _unavailable(self, error: BaseException) -> RunStoreUnavailable:
        return RunStoreUnavailable(
            f"cannot reach Redis at {self.url}: {type(error).__name__}: {error}; start "
            "redis-server or fix the URL (RedisRunStore(url=...), the app's --store)"
        )

    def parse_id(self, event_id: str) -> object:
        found = _ID.fullmatch(event_id) if isinstance(event_id, str) else None
        if found is None:
            raise ValueError(
                f"not an event id of this run store: {str(event_id)[:40]!r} (Redis stream ids "
                "look like '1700000000000-0'; pass the id of an event you received)"
            )
        return (int(found[1]), int(found[2]))

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
        keep = _ms(keep_for)
        created = await self._call(
            "create",
            run_id,
            int(cancel_when_unread),
            keep,
            max_events,
            keep + _ms(lease),
            _ms(lease),
        )
        if not created:
            raise ValueError(f"a run with id {run_id!r} exists already")

    async def append(self, run_id: str, start: int, events: Sequence[tuple[str, str]]) -> bool:
        args: list[Any] = [start]
        for kind, data in events:
            args += (kind, data)
        return int(await self._call("append", run_id, *args)) >= 0

    async def finish(
        self, run_id: str, status: str, event: tuple[str, str], *, only_if_dead: bool = False
    ) -> bool:
        done = await self._call("finish", run_id, status, event[0], event[1], int(only_if_dead))
        return int(done) == 1

    def _entries(self, raw: Any) -> list[StoredEvent]:
        entries = []
        for entry_id, fields in raw:
            values = {_text(key): _text(value) for key, value in fields.items()}
            entries.append(
                StoredEvent(
                    int(values["n"]),
                    RunEvent(_text(entry_id), values["t"], values["d"]),
                    values.get("e") == "1",
                )
            )
        return entries

    async def read(
        self, run_id: str, after: Optional[str], *, inclusive: bool, block: float, count: int
    ) -> Sequence[StoredEvent]:
        log, meta = self._keys(run_id)[:2]
        try:
            if block > 0 and not inclusive:  # tailing: one round trip while entries come
                reply = await self._redis.xread(
                    {log: after or "0-0"}, count=count, block=_ms(block)
                )
                raw = reply[0][1] if reply else []
                exists = bool(raw) or bool(await self._redis.exists(meta))
            else:
                start = "-" if after is None else (after if inclusive else f"({after}")
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.exists(meta)
                    pipe.xrange(log, start, "+", count=count)
                    exists, raw = await pipe.execute()
        except self._errors as error:
            raise self._unavailable(error) from error
        if not exists and not raw:
            raise RunNotFound(f"no run {run_id!r}: it never existed or was forgotten")
        return self._entries(raw)

    async def status(self, run_id: str) -> str:
        try:
            status = await self._redis.hget(self._keys(run_id)[1], "status")
        except self._errors as error:
            raise self._unavailable(error) from error
        if status is None:
            raise RunNotFound(f"no run {run_id!r}: it never existed or was forgotten")
        return _text(status)

    async def request_cancel(self, run_id: str) -> bool:
        return int(await self._call("cancel", run_id)) == 1

    async def watch(self, run_id: str, *, lease: float, timeout: float) -> bool:
        if int(await self._call("heartbeat", run_id, _ms(lease))):
            return True
        cancel = self._keys(run_id)[3]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(_CANCEL_POLL, left))
            try:
                if await self._redis.exists(cancel):
                    return True
            except self._errors as error:
                raise self._unavailable(error) from error
        return False

    async def add_reader(self, run_id: str, delta: int) -> tuple[int, bool]:
        count, cancel_when_unread = await self._call("reader", run_id, delta)
        return int(count), bool(int(cancel_when_unread))

    async def aclose(self) -> None:
        """Close the connection pool (not a client you passed in)."""
        if self._owned and self._client is not None:
            await self._client.aclose()
