"""Adversarial schedules: every combination of program kind, consumer kind, buffer size, thread
limit, nesting, stop, fault and per-item ``asyncify`` ends cleanly.

Each schedule (see ``_schedules.py``) runs in a runner subprocess (``_runner.py``), which checks
it: no hang, the items received are a prefix of what the program produced, exactly one outcome,
the program really stopped, nothing left running (threads, busy workers, thread-limit slots,
tasks, event loops) and nothing printed.  Runner processes run many schedules each, two at a
time; a schedule that hangs gets every thread's stack dumped by ``faulthandler`` in its process,
which exits, and the rest of its batch runs in a fresh process (the hanging schedule is run once
more alone, to tell a hang of its own from one caused by an earlier schedule).

* the default run: 80 seeded schedules and 20 drawn by hypothesis, in a few seconds;
* ``--runslow``: 10,000 seeded schedules, in about four minutes on two cores.

A failure names the seed, the schedule (a one-line summary and its JSON, with the command that
replays it), every violation and, for a hang, the stack of every task and thread; failures are
grouped by what they violated, and the first ones are reduced to a simpler schedule that fails
the same way.  Environment variables, all optional (``STREAMIFY_ADVERSARIAL_`` + name):
``SEED`` / ``SAMPLE`` / ``EXAMPLES`` (the default run), ``SLOW_SEED`` / ``COUNT`` /
``MAX_FAILURES`` (the slow run), ``WORKERS`` (2), ``HANG_LIMIT`` (8 seconds per schedule),
``REDUCE=0`` (no reduction), ``REPORT=path`` (every failure written to ``path`` as JSON),
``NESTED_WAITS=0`` (see ``_schedules.NESTED_WAITS_ARE_CANCELLATION_POINTS``).
``python -m tests.adversarial.test_schedules_adversarial --seed S --count N`` runs a sweep
outside pytest.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Optional

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.adversarial._schedules import (
    PREFIX,
    STDERR_MARK,
    Schedule,
    random_schedules,
    schedules,
    simpler,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
RUNNER = "tests.adversarial._runner"
GRACE = 15.0  # past a schedule's hang limit, the parent kills a runner that did not exit itself
IDLE_LIMIT = 60.0  # the most a runner may take between two schedules (start-up included)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def violation(kind: str, detail: str) -> dict[str, str]:
    return {"kind": kind, "detail": detail}


def replay_command(schedule: Schedule) -> str:
    return (
        f"echo '{schedule.to_json()}' | PYTHONASYNCIODEBUG=1 {Path(sys.executable).name} "
        f"-W error -m {RUNNER}"
    )


@dataclasses.dataclass
class Result:
    """What a runner reported for one schedule (or what the parent saw when it hung)."""

    schedule: Schedule
    violations: list[dict[str, str]]
    outcome: str = ""
    seconds: float = 0.0
    slow_callbacks: int = 0
    stderr: str = ""  # for a hang or a crash: what the process wrote to fd 2 meanwhile
    alone: Optional[Result] = None  # a hang run again alone in a fresh process
    reduced: Optional[Result] = None  # the simplest schedule found that fails the same way

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({v["kind"] for v in self.violations}))

    @property
    def primary(self) -> str:
        kinds = self.kinds
        return "hang" if "hang" in kinds else (self.violations[0]["kind"] if kinds else "")

    def render(self, seed: Optional[int], *, limit: int = 6000) -> str:
        s = self.schedule
        origin = f" (seed {seed})" if seed is not None else ""
        lines = [f"schedule{origin}: {s.describe()}", f"  json: {s.to_json()}"]
        lines.append(f"  replay: {replay_command(s)}")
        lines.append(f"  outcome: {self.outcome or '(none: see below)'}, {self.seconds:.2f}s")
        for found in self.violations:
            detail = found["detail"]
            if len(detail) > limit:
                detail = detail[: limit // 3] + "\n[...]\n" + detail[-2 * limit // 3 :]
            lines.append(f"  VIOLATED {found['kind']}: " + detail.replace("\n", "\n    "))
        if self.stderr:
            dump = self.stderr
            if len(dump) > 3 * limit:
                dump = dump[:limit] + "\n[...]\n" + dump[-2 * limit :]
            lines.append("  stderr of the runner (asyncio tasks, then every thread's stack):")
            lines.append("    " + dump.replace("\n", "\n    "))
        if self.alone is not None:
            again = "fails the same way" if not self.alone.ok else "PASSES"
            lines.append(f"  run again alone in a fresh process: {again} ({self.alone.kinds})")
        if self.reduced is not None:
            lines.append("  reduced to a simpler schedule that fails the same way:")
            lines.append("    " + self.reduced.render(seed, limit=limit).replace("\n", "\n    "))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule.to_dict(),
            "summary": self.schedule.describe(),
            "violations": self.violations,
            "outcome": self.outcome,
            "seconds": self.seconds,
            "stderr": self.stderr,
            "alone": None if self.alone is None else self.alone.to_dict(),
            "reduced": None if self.reduced is None else self.reduced.to_dict(),
        }


# ---------------------------------------------------------------------------- runner processes
class Child:
    """One runner process: fed a batch through a file, or schedules one at a time."""

    def __init__(self, hang_limit: float, batch: Optional[list[Schedule]] = None) -> None:
        self.hang_limit = hang_limit
        self.batch = list(batch or [])
        self.known = {s.sid: s for s in self.batch}
        self.done: set[int] = set()
        self.current: Optional[Schedule] = None
        self.notes: list[dict[str, str]] = []
        self.killed = False
        self.abandoned = False
        self.last: Optional[Schedule] = None
        self._buffer = b""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        stdin: Any = subprocess.PIPE
        self._stdin_file: Optional[IO[bytes]] = None
        if batch is not None:
            self._stdin_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
            self._stdin_file.write("".join(s.to_json() + "\n" for s in batch).encode())
            self._stdin_file.seek(0)
            stdin = self._stdin_file
        env = dict(os.environ, PYTHONASYNCIODEBUG="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-W", "error", "-m", RUNNER, "--hang-limit", str(hang_limit)],
            cwd=ROOT,
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.deadline = time.monotonic() + IDLE_LIMIT

    def fileno(self) -> int:
        assert self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def send(self, schedule: Schedule) -> None:
        assert self.proc.stdin is not None
        self.known[schedule.sid] = schedule
        self.proc.stdin.write((schedule.to_json() + "\n").encode())
        self.proc.stdin.flush()
        self.deadline = time.monotonic() + IDLE_LIMIT

    def read(self) -> Optional[list[dict[str, Any]]]:
        """The messages that arrived (``None`` at the end of the output)."""
        data = os.read(self.fileno(), 1 << 16)
        if not data:
            return None
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        messages = []
        for raw in lines:
            line = raw.decode(errors="replace")
            if line.startswith(PREFIX):
                messages.append(json.loads(line[len(PREFIX) :]))
            elif line.strip():
                messages.append({"event": "stdout", "text": line})
        return messages

    def handle(self, message: dict[str, Any]) -> Optional[Result]:
        """Track a message; returns the result it completes, if any."""
        event = message["event"]
        if event == "start":
            self.current = self.known[message["sid"]]
            self.notes = []
            self.deadline = time.monotonic() + self.hang_limit + GRACE
        elif event == "note":
            self.notes.append(message["violation"])
        elif event == "stdout":
            self.notes.append(violation("stdout", f"printed to stdout: {message['text']!r}"))
        elif event == "result":
            schedule = self.known[message["sid"]]
            self.done.add(schedule.sid)
            self.current, self.last = None, schedule
            self.deadline = time.monotonic() + IDLE_LIMIT
            extra = [note for note in self.notes if note["kind"] == "stdout"]
            self.notes = []
            return Result(
                schedule,
                list(message["violations"]) + extra,
                outcome=message["outcome"],
                seconds=message["seconds"],
                slow_callbacks=message["slow_callbacks"],
            )
        elif event == "trailer" and self.last is not None:
            text = message["stderr"]
            self.notes.append(violation("stderr", f"after the last schedule ran: {text}"))
        return None

    def kill(self) -> None:
        self.killed = True
        self.proc.kill()

    def finish(self) -> Optional[Result]:
        """At the end of the output: the result of a schedule that hung or crashed, if any."""
        rc = self.proc.wait()
        current, self.current = self.current, None
        if self.abandoned:
            return None
        if current is not None:
            dump = self.stderr_of(current.sid)
            if self.killed:
                kind, why = (
                    "hang",
                    (
                        f"no result {self.hang_limit + GRACE:.0f}s after it started; the parent "
                        "killed the runner (faulthandler did not fire)"
                    ),
                )
            elif "Timeout (" in dump:
                kind, why = "hang", f"did not finish within {self.hang_limit:.0f}s"
            else:
                kind, why = "crash", f"the runner died while running it (exit status {rc})"
            return Result(current, [*self.notes, violation(kind, why)], stderr=dump)
        if self.notes and self.last is not None:  # the runner's trailer: output after the end
            return Result(self.last, self.notes)
        if rc not in (0, 3):
            after = self.last or (self.batch[0] if self.batch else None)
            if after is not None:
                text = self._stderr_text()[-4000:]
                return Result(after, [violation("crash", f"runner exit status {rc}: {text}")])
        return None

    def remaining(self) -> list[Schedule]:
        return [s for s in self.batch if s.sid not in self.done]

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stderr_of(self, sid: int) -> str:
        text = self._stderr_text()
        mark = f"{STDERR_MARK} {sid}\n"
        start = text.rfind(mark)
        if start < 0:
            return text[-20000:]
        text = text[start + len(mark) :]
        end = text.find(STDERR_MARK)
        return (text if end < 0 else text[:end]).strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.abandoned = True
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()
        if self._stdin_file is not None:
            self._stdin_file.close()


class Session:
    """A runner process for schedules sent one at a time (restarted after a hang or a leak)."""

    def __init__(self, hang_limit: float) -> None:
        self.hang_limit = hang_limit
        self._child: Optional[Child] = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None

    def run(self, schedule: Schedule) -> Result:
        if self._child is None or self._child.proc.poll() is not None:
            self.close()
            self._child = Child(self.hang_limit)
        child = self._child
        child.send(schedule)
        with selectors.DefaultSelector() as selector:
            selector.register(child, selectors.EVENT_READ)
            while True:
                if not selector.select(max(0.0, child.deadline - time.monotonic())):
                    child.kill()
                messages = child.read()
                if messages is None:
                    result = child.finish()
                    self.close()
                    if result is None:
                        result = Result(schedule, [violation("crash", "the runner ended")])
                    return result
                for message in messages:
                    result = child.handle(message)
                    if result is not None and message["event"] == "result":
                        if message.get("tainted"):
                            self.close()
                        return result


# ---------------------------------------------------------------------------- campaigns
@dataclasses.dataclass
class Report:
    seed: Optional[int]
    count: int
    seconds: float = 0.0
    ran: int = 0
    failures: list[Result] = dataclasses.field(default_factory=list)
    stopped_early: bool = False
    slow_callbacks: int = 0

    def groups(self) -> dict[tuple[str, ...], list[Result]]:
        grouped: dict[tuple[str, ...], list[Result]] = collections.defaultdict(list)
        for failure in self.failures:
            grouped[failure.kinds].append(failure)
        return dict(sorted(grouped.items(), key=lambda item: -len(item[1])))

    def render(self, *, details: int = 8) -> str:
        lines = [
            f"{len(self.failures)} of {self.ran} schedules failed (seed {self.seed}, "
            f"{self.count} planned, {self.seconds:.1f}s"
            + (", stopped early: too many failures" if self.stopped_early else "")
            + ")",
            "by what they violated:",
        ]
        for kinds, members in self.groups().items():
            sids = ", ".join(f"#{m.schedule.sid}" for m in members[:12])
            lines.append(f"  {' + '.join(kinds)}: {len(members)} ({sids})")
        shown = 0
        for members in self.groups().values():
            for member in members[:2]:
                if shown < details:
                    lines += ["", member.render(self.seed)]
                    shown += 1
        return "\n".join(lines)

    def write(self, path: str) -> None:
        data = {
            "seed": self.seed,
            "count": self.count,
            "ran": self.ran,
            "seconds": self.seconds,
            "stopped_early": self.stopped_early,
            "failures": [failure.to_dict() for failure in self.failures],
        }
        Path(path).write_text(json.dumps(data, indent=1))


def _batches(items: list[Schedule], size: int) -> Iterator[list[Schedule]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_campaign(
    planned: list[Schedule],
    *,
    seed: Optional[int],
    workers: int = 2,
    batch_size: int = 250,
    hang_limit: float = 8.0,
    max_failures: int = 50,
    confirm_hangs: int = 3,
    progress: Optional[Callable[[Report], None]] = None,
) -> Report:
    """Run ``planned`` in runner processes, ``workers`` at a time; see the module docstring."""
    report = Report(seed, len(planned))
    started = time.monotonic()
    queue = collections.deque(_batches(planned, batch_size))
    children: list[Child] = []
    hangs: dict[int, Result] = {}  # sid of a hang waiting for its run alone
    confirmations = 0

    def record(result: Result) -> None:
        nonlocal confirmations
        first = hangs.pop(result.schedule.sid, None)
        if first is not None:  # the run alone of an earlier hang
            first.alone = result
            return
        report.ran += 1
        report.slow_callbacks += result.slow_callbacks
        if progress is not None:
            progress(report)
        if result.ok:
            return
        report.failures.append(result)
        if result.primary == "hang" and confirmations < confirm_hangs:
            confirmations += 1
            hangs[result.schedule.sid] = result
            queue.append([result.schedule])

    with selectors.DefaultSelector() as selector:
        try:
            while queue or children:
                if len(report.failures) >= max_failures and not report.stopped_early:
                    report.stopped_early = True
                    queue.clear()
                    for child in children:
                        child.abandoned = True
                        child.kill()
                while queue and len(children) < workers:
                    child = Child(hang_limit, queue.popleft())
                    children.append(child)
                    selector.register(child, selectors.EVENT_READ)
                wait = min(child.deadline for child in children) - time.monotonic()
                for key, _ in selector.select(max(0.0, wait)):
                    owner = key.fileobj
                    assert isinstance(owner, Child)
                    child = owner
                    messages = child.read()
                    if messages is None:
                        selector.unregister(child)
                        children.remove(child)
                        result = child.finish()
                        if result is not None:
                            record(result)
                        rest = child.remaining()
                        if result is not None:
                            rest = [s for s in rest if s.sid != result.schedule.sid]
                        if rest and not report.stopped_early:
                            queue.appendleft(rest)
                        child.close()
                        continue
                    for message in messages:
                        result = child.handle(message)
                        if result is not None:
                            record(result)
                now = time.monotonic()
                for child in children:
                    if now > child.deadline and not child.killed:
                        child.kill()
        finally:
            for child in children:
                child.close()
    report.seconds = time.monotonic() - started
    return report


def reduce_failures(report: Report, *, groups: int, budget: float, hang_limit: float) -> None:
    """Reduce the first failure of the first ``groups`` groups to simpler schedules."""
    deadline = time.monotonic() + budget * groups
    with Session(hang_limit) as session:
        for members in list(report.groups().values())[:groups]:
            first = members[0]
            first.reduced = reduce(first, session, min(deadline, time.monotonic() + budget))


def reduce(failure: Result, session: Session, deadline: float) -> Optional[Result]:
    """Greedy reduction: take any simpler schedule that fails the same primary way."""
    primary = failure.primary
    current: Optional[Result] = None
    schedule = failure.schedule
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        for candidate in simpler(schedule):
            if time.monotonic() >= deadline:
                break
            result = session.run(candidate)
            if any(v["kind"] == primary for v in result.violations):
                current, schedule, improved = result, candidate, True
                break
    return current


# ---------------------------------------------------------------------------- the tests
SAMPLE_SEED = _env_int("STREAMIFY_ADVERSARIAL_SEED", 20261201)
SAMPLE_SIZE = _env_int("STREAMIFY_ADVERSARIAL_SAMPLE", 80)
EXAMPLES = _env_int("STREAMIFY_ADVERSARIAL_EXAMPLES", 20)
SLOW_SEED = _env_int("STREAMIFY_ADVERSARIAL_SLOW_SEED", 10_000)
SLOW_COUNT = _env_int("STREAMIFY_ADVERSARIAL_COUNT", 10_000)
WORKERS = _env_int("STREAMIFY_ADVERSARIAL_WORKERS", 2)
HANG_LIMIT = float(os.environ.get("STREAMIFY_ADVERSARIAL_HANG_LIMIT", "8"))


def _finish(report: Report, *, reduce_groups: int, budget: float) -> None:
    if report.failures and reduce_groups and os.environ.get("STREAMIFY_ADVERSARIAL_REDUCE") != "0":
        reduce_failures(report, groups=reduce_groups, budget=budget, hang_limit=HANG_LIMIT)
    path = os.environ.get("STREAMIFY_ADVERSARIAL_REPORT")
    if path:
        report.write(path)
    if report.failures:
        pytest.fail(report.render(), pytrace=False)


@pytest.mark.timeout(240)
def test_a_seeded_sample_of_schedules_ends_cleanly() -> None:
    planned = random_schedules(SAMPLE_SEED, SAMPLE_SIZE)
    report = run_campaign(
        planned,
        seed=SAMPLE_SEED,
        workers=WORKERS,
        batch_size=-(-SAMPLE_SIZE // WORKERS),
        hang_limit=HANG_LIMIT,
        max_failures=6,
        confirm_hangs=1,
    )
    _finish(report, reduce_groups=1, budget=45.0)


@pytest.mark.timeout(240)
def test_hypothesis_schedules_end_cleanly() -> None:
    reduced: dict[Schedule, Optional[Result]] = {}  # hypothesis replays a failing example
    with Session(HANG_LIMIT) as session:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            phases=(Phase.explicit, Phase.reuse, Phase.generate),  # no shrinking: see below
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(schedule=schedules())
        def check(schedule: Schedule) -> None:
            # Hypothesis's shrinker would run a hanging schedule's variants for minutes; the
            # failure is reduced (bounded) by this suite's own reducer instead.
            result = session.run(schedule)
            if not result.ok:
                if schedule not in reduced:
                    with Session(HANG_LIMIT) as reducing:
                        reduced[schedule] = reduce(result, reducing, time.monotonic() + 45.0)
                result.reduced = reduced[schedule]
            if not result.ok:
                pytest.fail(result.render(None), pytrace=False)

        check()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_ten_thousand_seeded_schedules_end_cleanly() -> None:
    planned = random_schedules(SLOW_SEED, SLOW_COUNT)
    report = run_campaign(
        planned,
        seed=SLOW_SEED,
        workers=WORKERS,
        hang_limit=HANG_LIMIT,
        max_failures=_env_int("STREAMIFY_ADVERSARIAL_MAX_FAILURES", 40),
    )
    print(
        f"{report.ran} schedules in {report.seconds:.1f}s, {report.slow_callbacks} tolerated "
        "slow-callback warnings"
    )
    _finish(report, reduce_groups=4, budget=40.0)


def main(argv: Optional[list[str]] = None) -> int:
    """A sweep outside pytest: ``python -m tests.adversarial.test_schedules_adversarial``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--seed", type=int, default=SLOW_SEED)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--first", type=int, default=0, help="skip this many schedules")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--hang-limit", type=float, default=HANG_LIMIT)
    parser.add_argument("--max-failures", type=int, default=1000)
    parser.add_argument("--reduce", type=int, default=0, help="groups to reduce")
    parser.add_argument("--report", help="write every failure to this JSON file")
    args = parser.parse_args(argv)
    planned = random_schedules(args.seed, args.first + args.count)[args.first :]

    def progress(report: Report) -> None:
        if report.ran % 250 == 0:
            elapsed = time.monotonic() - started
            print(f"{report.ran} run, {len(report.failures)} failed, {elapsed:.0f}s", flush=True)

    started = time.monotonic()
    report = run_campaign(
        planned,
        seed=args.seed,
        workers=args.workers,
        hang_limit=args.hang_limit,
        max_failures=args.max_failures,
        progress=progress,
    )
    if args.reduce:
        reduce_failures(report, groups=args.reduce, budget=40.0, hang_limit=args.hang_limit)
    if args.report:
        report.write(args.report)
    print(report.render() if report.failures else f"{report.ran} schedules, no failures")
    print(f"{report.seconds:.1f}s, {report.slow_callbacks} tolerated slow-callback warnings")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
