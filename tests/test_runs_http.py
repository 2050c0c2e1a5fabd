"""Runs over HTTP: the example app's ``/runs`` endpoints, served by real uvicorn servers.

Each property is checked on two set-ups (the ``site`` fixture):

* ``memory``: one app in this process (a thread running uvicorn), the in-memory run store;
  "process A" and "process B" are that one server;
* ``redis``: two uvicorn *processes* of the example app (``python -m examples.web.app
  --store redis://...``) sharing one real ``redis-server`` started here; runs are started in A
  and read or cancelled through B.

Both apps run with ``--user-header X-User``: a run belongs to the user who started it (the
authorization hook).  Whether a program ran once is read from each app's ``GET /stats``
(its own counter of assistant runs).  Killing a process with ``kill -9`` is a ``slow`` case.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

import pytest

from streamify import Runs, last_event_id

from .redis_support import RedisServer, free_port, redis_server

# First: without the web extras, importing web_support skips this module.
from .web_support import ANSWER, SSEEvent, SSEReader, create_app, http_client, serve

# isort: split
from examples.web.app import Activity, build_programs, owner_key

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

pytestmark = pytest.mark.web

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER = {"X-User": "alice"}
GUIDE = "docs/runs.md"  # its "Over HTTP" routes are run by a test below
_ROUTES_BLOCK = re.compile(
    r"<!-- tested by tests/test_runs_http\.py -->\n```python\n(.*?)```", re.S
)
DELAY = 0.02  # the LM waits DELAY / 5 before each chunk: a run lasts about 0.2 s
START_TIMEOUT = 30.0


class Site(NamedTuple):
    """Where the test talks to: ``a`` starts runs, ``b`` reads and cancels them."""

    name: str
    a: str
    b: str

    def asked(self, client: httpx.Client) -> int:
        """How many times the assistant program ran, over the site's processes."""
        bases = {self.a, self.b}
        return sum(client.get(f"{base}/stats").json()["asked"] for base in bases)


# -- the app in other processes --------------------------------------------------------------


class AppProcess:
    """``python -m examples.web.app`` on a free port, with its output in ``log``."""

    def __init__(self, log: str, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "examples.web.app", "--port", str(self.port), *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        with http_client() as client:
            while True:
                with contextlib.suppress(Exception):
                    if client.get(f"{self.url}/stats", timeout=1.0).status_code == 200:
                        return
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    with open(log) as text:
                        raise RuntimeError(f"the app did not start:\n{text.read()}")
                time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9``: the process ends at once, its runs' producers with it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def app_args(redis: RedisServer, *extra: str) -> tuple[str, ...]:
    return ("--store", redis.url, "--delay", str(DELAY), "--user-header", "X-User", *extra)


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as server:
        yield server


@pytest.fixture(scope="module", params=["memory", "redis"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    if request.param == "memory":
        app = create_app(delay=DELAY, tick=0.02, user_header="X-User")
        with serve(app) as base:
            yield Site("memory", base, base)
        return
    server: RedisServer = request.getfixturevalue("redis")
    logs = tmp_path_factory.mktemp("apps")
    a = AppProcess(str(logs / "a.log"), *app_args(server, "--tick", "0.02"))
    try:
        b = AppProcess(str(logs / "b.log"), *app_args(server))
        try:
            yield Site("redis", a.url, b.url)
        finally:
            b.stop()
    finally:
        a.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with http_client() as client:
        yield client


# -- reading runs --------------------------------------------------------------------------


def start(client: httpx.Client, base: str, **body: Any) -> str:
    response = client.post(f"{base}/runs", json={"question": "Why?", **body}, headers=USER)
    assert response.status_code == 201, response.text
    run_id = response.json()["run_id"]
    assert isinstance(run_id, str)
    return run_id


class Read(NamedTuple):
    status: int
    events: list[SSEEvent]
    ended: bool  # the server ended the body (False: the reader dropped it)


def read(
    client: httpx.Client,
    base: str,
    run_id: str,
    *,
    last_id: Optional[str] = None,
    via: str = "header",
    stop_at_token: bool = False,
    user: dict[str, str] = USER,
) -> Read:
    """Read a run's events; with ``stop_at_token`` drop the connection after the first token
    of the answer."""
    headers, params = dict(user), {}
    if last_id is not None:
        if via == "header":
            headers["Last-Event-ID"] = last_id
        else:
            params["last_event_id"] = last_id
    url = f"{base}/runs/{run_id}/events"
    with client.stream("GET", url, headers=headers, params=params) as response:
        if response.status_code != 200:
            response.read()
            return Read(response.status_code, [], True)
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SSEReader()
        events: list[SSEEvent] = []
        for chunk in response.iter_bytes():
            for event in reader.feed(chunk):
                events.append(event)
                if stop_at_token and is_answer_token(event):
                    return Read(200, events, False)  # leaving the block drops the connection
        events += reader.close()
        return Read(200, events, True)


def payload(event: SSEEvent) -> Any:
    return event.data if event.data == "[DONE]" else json.loads(event.data)


def is_answer_token(event: SSEEvent) -> bool:
    data = payload(event)
    return isinstance(data, dict) and data.get("signature_field_name") == "answer"


def answer_of(events: list[SSEEvent]) -> str:
    return "".join(payload(event)["chunk"] for event in events if is_answer_token(event))


def log_of(events: list[SSEEvent]) -> list[tuple[str, str]]:
    return [(event.last_event_id, event.data) for event in events]


def check_whole(events: list[SSEEvent]) -> None:
    """A whole run: every event has its own id, the answer once, the terminal last."""
    ids = [event.last_event_id for event in events]
    assert all(ids) and len(set(ids)) == len(ids)
    assert answer_of(events) == ANSWER
    assert payload(events[-2])["type"] == "prediction"
    assert events[-1].data == "[DONE]"


# -- the properties --------------------------------------------------------------------------


def test_a_run_started_in_one_process_is_read_whole_from_another(
    site: Site, client: httpx.Client
) -> None:
    before = site.asked(client)
    run_id = start(client, site.a)
    got = read(client, site.b, run_id)
    assert got.status == 200 and got.ended
    check_whole(got.events)
    assert site.asked(client) == before + 1


@pytest.mark.parametrize("via", ["header", "query"])
def test_a_dropped_reader_resumes_from_its_last_id_without_loss_or_duplicate(
    site: Site, client: httpx.Client, via: str
) -> None:
    before = site.asked(client)
    run_id = start(client, site.a)
    first = read(client, site.b, run_id, stop_at_token=True)
    assert first.status == 200 and not first.ended
    assert 0 < len(answer_of(first.events)) < len(ANSWER)  # dropped mid-answer
    rest = read(client, site.b, run_id, last_id=first.events[-1].last_event_id, via=via)
    assert rest.status == 200 and rest.ended
    check_whole(first.events + rest.events)
    whole = read(client, site.a, run_id)  # a late reader from the start: the same log
    assert log_of(first.events + rest.events) == log_of(whole.events)
    assert site.asked(client) == before + 1  # the program ran once


def test_a_reader_that_saw_the_end_is_told_not_to_reconnect(
    site: Site, client: httpx.Client
) -> None:
    run_id = start(client, site.a)
    whole = read(client, site.b, run_id)
    check_whole(whole.events)
    again = read(client, site.b, run_id, last_id=whole.events[-1].last_event_id)
    assert again.status == 204  # an EventSource stops on 204: a finished run is not reopened


@pytest.mark.slow
def test_a_hundred_readers_each_get_the_whole_run_in_order(
    site: Site, client: httpx.Client
) -> None:
    before = site.asked(client)
    run_id = start(client, site.a)

    async def reader(base: str) -> list[tuple[str, str]]:
        import httpx

        url = f"{base}/runs/{run_id}/events"
        session = httpx.AsyncClient(trust_env=False, timeout=30.0)
        async with session, session.stream("GET", url, headers=USER) as response:
            assert response.status_code == 200
            parser = SSEReader()
            events: list[SSEEvent] = []
            async for chunk in response.aiter_bytes():
                events += parser.feed(chunk)
            return log_of(events + parser.close())

    async def readers() -> list[list[tuple[str, str]]]:
        bases = [site.a, site.b] * 50
        return await asyncio.gather(*(reader(base) for base in bases))

    logs = asyncio.run(readers())
    whole = read(client, site.b, run_id)
    check_whole(whole.events)
    assert all(log == log_of(whole.events) for log in logs)
    assert site.asked(client) == before + 1


def test_cancel_through_another_process_stops_the_program(site: Site, client: httpx.Client) -> None:
    run_id = start(client, site.a, endless=True)
    url = f"{site.b}/runs/{run_id}/events"
    with client.stream("GET", url, headers=USER) as response:
        assert response.status_code == 200
        parser = SSEReader()
        events: list[SSEEvent] = []
        chunks = response.iter_bytes()
        while len(events) < 3:  # three heartbeats: the program runs
            events += parser.feed(next(chunks))
        stats = client.get(f"{site.a}/stats").json()
        assert not stats["cancelled"]
        cancel = client.post(f"{site.b}/runs/{run_id}/cancel", headers=USER)
        assert cancel.status_code == 202
        for chunk in chunks:
            events += parser.feed(chunk)
        events += parser.close()
    assert payload(events[-1]) == {"type": "cancelled"}
    assert {payload(event)["type"] for event in events[:-1]} == {"status", "item"}
    deadline = time.monotonic() + 10
    while not client.get(f"{site.a}/stats").json()["finished"]:  # the program left its finally
        assert time.monotonic() < deadline, "the program did not stop"
        time.sleep(0.05)
    assert client.get(f"{site.a}/stats").json()["cancelled"]
    assert client.get(f"{site.b}/runs/{run_id}/events", headers=USER).text.endswith(
        'data: {"type":"cancelled"}\n\n'
    )


def test_an_unknown_run_is_404_and_a_malformed_id_400(site: Site, client: httpx.Client) -> None:
    mine = owner_key(USER["X-User"])
    for run_id in (f"{mine}_no-such-run", f"{mine}_not%20an%20id"):
        got = client.get(f"{site.b}/runs/{run_id}/events", headers=USER)
        assert got.status_code == 404
        assert got.json()["error"] == "not_found"
        assert client.post(f"{site.b}/runs/{run_id}/cancel", headers=USER).status_code == 404
    # The hook is asked first: a request it refuses learns nothing about which runs exist.
    assert client.get(f"{site.b}/runs/no-such-run/events", headers=USER).status_code == 403
    run_id = start(client, site.a)
    for bad in ("not-an-id", "1\x7f"):
        got = client.get(
            f"{site.b}/runs/{run_id}/events", params={"last_event_id": bad}, headers=USER
        )
        assert got.status_code == 400
        assert got.json()["error"] == "bad_event_id"
    check_whole(read(client, site.b, run_id).events)


def test_the_authorization_hook_lets_only_the_owner_read_or_cancel(
    site: Site, client: httpx.Client
) -> None:
    assert client.post(f"{site.a}/runs", json={"question": "Why?"}).status_code == 401
    run_id = start(client, site.a)
    for user in ({"X-User": "mallory"}, {}):
        assert read(client, site.b, run_id, user=user).status == 403
        refused = client.post(f"{site.b}/runs/{run_id}/cancel", headers=user)
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"
    check_whole(read(client, site.b, run_id).events)  # not cancelled: the owner reads it all


def test_an_unreachable_store_fails_the_start_clearly(client: httpx.Client, tmp_path: Any) -> None:
    nothing = f"redis://127.0.0.1:{free_port()}/0"  # no server listens there
    app = AppProcess(str(tmp_path / "app.log"), "--store", nothing, "--user-header", "X-User")
    try:
        response = client.post(f"{app.url}/runs", json={"question": "Why?"}, headers=USER)
    finally:
        app.stop()
    assert response.status_code == 503
    assert response.json()["error"] == "store_unavailable"
    assert "127.0.0.1" in response.json()["message"]  # it names the store


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_killing_the_producer_process_gives_readers_an_error_in_time(
    redis: RedisServer, client: httpx.Client, tmp_path: Any
) -> None:
    lease = 1.0
    a = AppProcess(str(tmp_path / "a.log"), *app_args(redis, "--lease", str(lease)))
    try:
        b = AppProcess(str(tmp_path / "b.log"), *app_args(redis))
        try:
            run_id = start(client, a.url, endless=True)
            with client.stream("GET", f"{b.url}/runs/{run_id}/events", headers=USER) as got:
                parser = SSEReader()
                events: list[SSEEvent] = []
                chunks = got.iter_bytes()
                while len(events) < 3:
                    events += parser.feed(next(chunks))
                a.kill()
                killed = time.monotonic()
                for chunk in chunks:
                    events += parser.feed(chunk)
                ended = time.monotonic() - killed
                events += parser.close()
        finally:
            b.stop()
    finally:
        a.stop()
    last = payload(events[-1])
    assert last["type"] == "error" and "producer stopped" in last["message"]
    assert ended < lease + 3.0, f"the readers waited {ended:.1f} s"


# -- the helpers themselves, and the guide's routes -----------------------------------------


def test_last_event_id_prefers_the_header_and_reads_it_in_any_case() -> None:
    assert last_event_id({"Last-Event-ID": "7"}, {"last_event_id": "3"}) == "7"
    assert last_event_id({"last-event-id": "7"}) == "7"
    assert last_event_id({"LAST-EVENT-ID": ""}, {"last_event_id": "3"}) == "3"
    assert last_event_id({}, {"last_event_id": ""}) is None
    assert last_event_id() is None


@pytest.mark.parametrize("bad", ["1\n2", "1\x00", "x" * 257])
def test_last_event_id_refuses_what_no_store_makes(bad: str) -> None:
    with pytest.raises(ValueError, match="Last-Event-ID"):
        last_event_id({"Last-Event-ID": bad})


def test_the_guides_starlette_routes_start_resume_and_cancel_runs(client: httpx.Client) -> None:
    from starlette.applications import Starlette

    with open(os.path.join(ROOT, GUIDE), encoding="utf-8") as guide:
        (code,) = _ROUTES_BLOCK.findall(guide.read())
    activity = Activity()
    ask, _ = build_programs(delay=DELAY, tick=0.02, pace=None, activity=activity)
    namespace: dict[str, Any] = {"runs": Runs(), "ask": ask}
    exec(compile(code, GUIDE, "exec"), namespace)
    with serve(Starlette(routes=namespace["routes"])) as base:
        run_id = start(client, base)
        first = read(client, base, run_id, stop_at_token=True)
        rest = read(client, base, run_id, last_id=first.events[-1].last_event_id)
        check_whole(first.events + rest.events)
        assert activity.asked == 1
        assert read(client, base, "nope").status == 404
        assert client.post(f"{base}/runs/{run_id}/cancel").status_code == 202  # ended: kept
        assert read(client, base, run_id).events[-1].data == "[DONE]"
