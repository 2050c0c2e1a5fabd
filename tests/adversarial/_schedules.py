"""The schedule model of the adversarial suite.

A :class:`Schedule` describes one run completely and is JSON-serialisable, so that a failing
run can be printed, pasted and replayed (``echo '<json>' | python -m tests.adversarial._runner``).
It combines, for one streamified call:

* ``levels``: the kind (``"async"`` / ``"sync"``) of each program from the outermost to the
  innermost; more than one level is *nesting*: level ``j`` runs the streamified program of level
  ``j + 1`` and re-emits every item it gets from it (``inner_consumers[j]`` says how it iterates
  it: an async level with ``async for``; a sync level with a sync generator, or with
  ``asyncio.run`` over ``async for`` in its worker thread);
* ``consumer``: how the test consumes the outermost stream (``async for``, or ``for`` over
  ``async_streaming=False``);
* ``buffer_size`` (of every level) and ``thread_limit`` (``None``: the default), set with
  ``configure()`` or ``context()`` (``limit_via``);
* ``steps``: what the innermost program does, one character a step: ``e`` emits an item,
  ``t`` calls a ``@tool`` (two status messages), ``l`` calls an ``@lm`` generator inside a
  ``@module(outputs=("answer",))`` that a ``StreamListener("answer")`` follows;
* ``tail``: what the innermost program does after its steps: return (``"none"``), emit forever
  (``"spin"``), or wait forever at a cancellation point (``"block"``);
* ``stop`` and ``stop_at``: how the consumer ends: run to the end, ``break`` (dropping the
  generator without closing it), ``aclose()``/``close()``, cancel the consuming task (once or
  twice), ``timeout=`` / ``idle_timeout=`` (on the stream of level ``timeout_level``), drop the
  generator in a reference cycle and collect it (``gc_thread``: in the consumer's thread,
  another thread, or the innermost program's own thread), or let ``asyncio.run`` return while
  the stream is suspended; ``stop_at`` is the number of items received first (for
  ``gc_thread="program"``: the step before which the program collects, once the consumer has
  received everything produced before it);
* ``fault`` at step ``fault_at``: the program raises an ``Exception`` (``error``,
  ``stop_iteration``, ``stop_async_iteration``) or a ``BaseException``
  (``keyboard_interrupt``, ``system_exit``), or a callback / the status provider raises at the
  tool call of that step;
* ``asyncify``: every async consumer (the test's and the nested ones) awaits an ``asyncify``
  call per item, which needs a thread-limit slot.

:func:`normalise` maps any combination onto a meaningful one (a sync consumer cannot be
cancelled as a task, a timeout needs an endless program, ...), so that the random generator,
the hypothesis strategy and the reducer only ever produce runnable schedules.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import random
from typing import TYPE_CHECKING, Any, Optional

from streamify import StreamListener

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hypothesis.strategies import SearchStrategy

__all__ = (
    "PREFIX",
    "STDERR_MARK",
    "Key",
    "Schedule",
    "expected_at",
    "finite_items",
    "items_before",
    "lm_chunks",
    "normalise",
    "random_schedule",
    "random_schedules",
    "schedules",
    "simpler",
)

# The runner's protocol: stdout lines that start with PREFIX are JSON messages; on fd 2, a line
# "STDERR_MARK <sid>" precedes whatever is written there while that schedule runs.
PREFIX = "@@adversarial "
STDERR_MARK = "@@adversarial-stderr start"

KINDS = ("async", "sync")
BUFFER_SIZES = (1, 2, 16)
THREAD_LIMITS: tuple[Optional[int], ...] = (1, 2, None)
LIMIT_VIA = ("configure", "context")
STOPS = (
    "end",
    "break",
    "close",
    "cancel",
    "cancel_twice",
    "timeout",
    "idle_timeout",
    "gc",
    "loop_end",
)
SYNC_CONSUMER_STOPS = tuple(stop for stop in STOPS if not stop.startswith("cancel"))
TIMEOUT_STOPS = ("timeout", "idle_timeout")
GC_THREADS = ("consumer", "other", "program")
TAILS = ("none", "spin", "block")
RAISING_FAULTS = (
    "error",
    "stop_iteration",
    "stop_async_iteration",
    "keyboard_interrupt",
    "system_exit",
)
HOOK_FAULTS = ("callback", "provider")
FAULTS = ("none", *RAISING_FAULTS, *HOOK_FAULTS)
STEP_KINDS = "etl"
# A stop reaches the innermost program through every level above it.  A *sync* level that is
# waiting on its inner stream (nothing arrives there: the innermost program blocks) is at none
# of its own cancellation points (emit_sync, an instrumented call).  The contract says nesting
# never hangs, so the suite expects those waits to be cancellation points too; set this to
# False (STREAMIFY_ADVERSARIAL_NESTED_WAITS=0) to leave such schedules out (normalise() then
# makes the tail spin instead of block, or starts the timeout below the waiting levels).
NESTED_WAITS_ARE_CANCELLATION_POINTS = os.environ.get("STREAMIFY_ADVERSARIAL_NESTED_WAITS") != "0"
MAX_STEPS = 50
SPIN_EXTRA = 8  # how far past its finite items a consumer may stop a spinning program

# A normalised item as the consumer sees it: ("item", step), ("tail", n), ("status", message),
# ("token", chunk, is_last_chunk).
Key = tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Schedule:
    """One run; see the module docstring for the fields."""

    sid: int = 0
    levels: tuple[str, ...] = ("async",)
    inner_consumers: tuple[str, ...] = ()
    consumer: str = "async"
    buffer_size: int = 16
    thread_limit: Optional[int] = None
    limit_via: str = "configure"
    steps: str = ""
    tail: str = "none"
    stop: str = "end"
    stop_at: int = 0
    gc_thread: str = "consumer"
    timeout_level: int = 0
    fault: str = "none"
    fault_at: int = 0
    asyncify: bool = False

    @property
    def depth(self) -> int:
        return len(self.levels) - 1

    @property
    def raises(self) -> bool:
        return self.fault in RAISING_FAULTS

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown schedule fields: {unknown}")
        values = dict(data)
        for name in ("levels", "inner_consumers"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a schedule is a JSON object")
        return cls.from_dict(data)

    def describe(self) -> str:
        """A one-line summary for reports (the JSON is the exact form)."""
        nesting = self.levels[0]
        for inner_consumer, level in zip(self.inner_consumers, self.levels[1:]):
            nesting += f" >{inner_consumer}> {level}"
        stop = self.stop
        if self.stop in ("break", "close", "cancel", "cancel_twice", "loop_end"):
            stop += f"@{self.stop_at}"
        elif self.stop == "gc":
            stop += f"@{self.stop_at}[{self.gc_thread}]"
        elif self.stop in TIMEOUT_STOPS:
            stop += f"[level {self.timeout_level}]"
        fault = self.fault if self.fault == "none" else f"{self.fault}@{self.fault_at}"
        limit = "default" if self.thread_limit is None else f"{self.thread_limit}/{self.limit_via}"
        return (
            f"#{self.sid} program {nesting}, {self.consumer} consumer, buffer {self.buffer_size},"
            f" thread_limit {limit}, steps {self.steps!r} tail {self.tail}, stop {stop},"
            f" fault {fault}, asyncify {'on' if self.asyncify else 'off'}"
        )


# ---------------------------------------------------------------------------- what runs produce
def lm_chunks(step: int) -> list[str]:
    """The raw chunks the ``@lm`` generator of ``step`` yields (markers split on purpose)."""
    if step % 2:
        return ["[[ ## ans", f"wer ## ]]\nodd {step}", " and", "\n\n[[ ## completed ## ]]"]
    return ["[[ ## answer ## ]]\n", f"even {step}", "\n\n[[ ## comp", "leted ## ]]"]


@functools.cache
def lm_tokens(step: int) -> tuple[Key, ...]:
    """What a listener makes of :func:`lm_chunks`: a standalone listener is the oracle."""
    listener = StreamListener("answer", allow_reuse=True)
    responses = []
    for chunk in lm_chunks(step):
        responses.extend(listener.feed(chunk))
    responses.extend(listener.flush())
    return tuple(("token", response.chunk, response.is_last_chunk) for response in responses)


def step_keys(schedule: Schedule, step: int) -> list[Key]:
    kind = schedule.steps[step]
    if kind == "e":
        return [("item", step)]
    if kind == "t":
        keys: list[Key] = []
        if not (schedule.fault == "provider" and schedule.fault_at == step):
            keys.append(("status", f"start step {step}"))
        keys.append(("status", f"end step-{step}"))
        return keys
    return list(lm_tokens(step))


def finite_items(schedule: Schedule) -> list[Key]:
    """Every item the innermost program produces before its tail (or before it raises)."""
    end = schedule.fault_at if schedule.raises else len(schedule.steps)
    items: list[Key] = []
    for step in range(end):
        items.extend(step_keys(schedule, step))
    return items


def items_before(schedule: Schedule, step: int) -> int:
    return sum(len(step_keys(schedule, j)) for j in range(step))


def expected_at(schedule: Schedule, finite: list[Key], index: int) -> Optional[Key]:
    """The item at ``index`` of the (possibly endless) stream, ``None`` past its end."""
    if index < len(finite):
        return finite[index]
    if schedule.tail == "spin" and not schedule.raises:
        return ("tail", index - len(finite))
    return None


# ---------------------------------------------------------------------------- normalisation
def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def normalise(schedule: Schedule) -> Schedule:
    """The meaningful schedule nearest to ``schedule`` (see the module docstring)."""
    s = schedule
    levels = tuple(kind if kind in KINDS else "async" for kind in s.levels[:3]) or ("async",)
    inner = list(s.inner_consumers[: len(levels) - 1])
    inner += ["sync"] * (len(levels) - 1 - len(inner))
    inner = [
        "async" if level == "async" or kind not in KINDS else kind
        for level, kind in zip(levels, inner)
    ]
    consumer = s.consumer if s.consumer in KINDS else "async"
    stop = s.stop if s.stop in STOPS else "end"
    if consumer == "sync" and stop.startswith("cancel"):
        stop = "close"
    steps = "".join(c for c in s.steps if c in STEP_KINDS)[:MAX_STEPS]
    fault = s.fault if s.fault in FAULTS else "none"
    if stop in TIMEOUT_STOPS and fault in RAISING_FAULTS:
        fault = "none"  # a program that raises is not endless: its timeout would never fire
    fault_at = s.fault_at
    if fault in HOOK_FAULTS:
        tools = [j for j, c in enumerate(steps) if c == "t"]
        if not tools:
            fault, fault_at = "none", 0
        elif fault_at not in tools:
            fault_at = min(tools, key=lambda j: (abs(j - s.fault_at), j))
    elif fault in RAISING_FAULTS:
        fault_at = _clamp(fault_at, 0, len(steps))
    else:
        fault_at = 0
    tail = s.tail if s.tail in TAILS else "none"
    if stop == "end" or fault in RAISING_FAULTS:
        tail = "none"
    elif stop == "timeout" and tail == "none":
        tail = "spin"
    elif stop == "idle_timeout":
        tail = "block"
    timeout_level = _clamp(s.timeout_level, 0, len(levels) - 1) if stop in TIMEOUT_STOPS else 0
    if tail == "block" and not NESTED_WAITS_ARE_CANCELLATION_POINTS:
        waiting = [j for j in range(timeout_level, len(levels) - 1) if levels[j] == "sync"]
        if waiting and stop in TIMEOUT_STOPS:
            timeout_level = max(waiting) + 1  # the timeout starts below the waiting levels
        elif waiting:
            tail = "spin"
    gc_thread = s.gc_thread if stop == "gc" and s.gc_thread in GC_THREADS else "consumer"
    buffer_size = max(1, s.buffer_size)
    thread_limit = None if s.thread_limit is None else max(1, s.thread_limit)
    limit_via = (
        s.limit_via if thread_limit is not None and s.limit_via in LIMIT_VIA else "configure"
    )
    has_async_consumer = consumer == "async" or "async" in inner
    draft = dataclasses.replace(
        s,
        levels=levels,
        inner_consumers=tuple(inner),
        consumer=consumer,
        buffer_size=buffer_size,
        thread_limit=thread_limit,
        limit_via=limit_via,
        steps=steps,
        tail=tail,
        stop=stop,
        gc_thread=gc_thread,
        timeout_level=timeout_level,
        fault=fault,
        fault_at=fault_at,
        asyncify=s.asyncify and has_async_consumer,
    )
    return dataclasses.replace(draft, **_stop_point(draft))


def _stop_point(s: Schedule) -> dict[str, Any]:
    """``stop_at`` (and, where needed, ``tail`` / ``gc_thread``) for a drafted schedule."""
    if s.stop == "end" or s.stop in TIMEOUT_STOPS:
        return {"stop_at": 0}
    if s.stop == "gc" and s.gc_thread == "program":
        # The program waits before step g until the consumer has received what it produced so
        # far, so that must be at least one item (the stream starts at the first item).
        last = s.fault_at if s.raises else len(s.steps)
        candidates = [g for g in range(last + 1) if items_before(s, g) >= 1]
        if candidates:
            return {"stop_at": min(candidates, key=lambda g: (abs(g - s.stop_at), g))}
        s = dataclasses.replace(s, gc_thread="consumer")
    n = len(finite_items(s))
    tail = s.tail
    if tail == "block" and n == 0:
        tail = "spin"  # nothing would ever arrive to stop at
    high = {"none": n + 1, "spin": n + SPIN_EXTRA, "block": n}[tail]
    return {"stop_at": _clamp(s.stop_at, 1, high), "tail": tail, "gc_thread": s.gc_thread}


# ---------------------------------------------------------------------------- generators
def random_schedule(rng: random.Random, sid: int) -> Schedule:
    """One schedule drawn from ``rng``; the same seed gives the same sequence of schedules."""
    depth = rng.choices((0, 1, 2), weights=(5, 3, 2))[0]
    consumer = rng.choice(KINDS)
    n = rng.choice((0, 1, 2, 3, 4, 6, 9, 14, 20, 30, 50))
    fault = rng.choices(FAULTS, weights=(6, 2, 1, 1, 1, 1, 2, 2))[0]
    stops = STOPS if consumer == "async" else SYNC_CONSUMER_STOPS
    return normalise(
        Schedule(
            sid=sid,
            levels=tuple(rng.choice(KINDS) for _ in range(depth + 1)),
            inner_consumers=tuple(rng.choice(KINDS) for _ in range(depth)),
            consumer=consumer,
            buffer_size=rng.choice(BUFFER_SIZES),
            thread_limit=rng.choice(THREAD_LIMITS),
            limit_via=rng.choice(LIMIT_VIA),
            steps="".join(rng.choices(STEP_KINDS, weights=(6, 3, 1), k=n)),
            tail=rng.choice(TAILS),
            stop=rng.choice(stops),
            stop_at=rng.randint(0, n + SPIN_EXTRA),
            gc_thread=rng.choice(GC_THREADS),
            timeout_level=rng.randint(0, depth),
            fault=fault,
            fault_at=rng.randint(0, n),
            asyncify=rng.random() < 0.5,
        )
    )


def random_schedules(seed: int, count: int, first_sid: int = 0) -> list[Schedule]:
    rng = random.Random(seed)
    return [random_schedule(rng, sid) for sid in range(first_sid, first_sid + count)]


def schedules() -> SearchStrategy[Schedule]:
    """The same space as :func:`random_schedule`, for hypothesis."""
    from hypothesis import strategies as st  # here: the runner processes do not need it

    return st.builds(
        Schedule,
        sid=st.just(0),
        levels=st.lists(st.sampled_from(KINDS), min_size=1, max_size=3).map(tuple),
        inner_consumers=st.lists(st.sampled_from(KINDS), max_size=2).map(tuple),
        consumer=st.sampled_from(KINDS),
        buffer_size=st.sampled_from(BUFFER_SIZES),
        thread_limit=st.sampled_from(THREAD_LIMITS),
        limit_via=st.sampled_from(LIMIT_VIA),
        steps=st.text(alphabet=STEP_KINDS, max_size=MAX_STEPS),
        tail=st.sampled_from(TAILS),
        stop=st.sampled_from(STOPS),
        stop_at=st.integers(0, MAX_STEPS + SPIN_EXTRA),
        gc_thread=st.sampled_from(GC_THREADS),
        timeout_level=st.integers(0, 2),
        fault=st.sampled_from(FAULTS),
        fault_at=st.integers(0, MAX_STEPS),
        asyncify=st.booleans(),
    ).map(normalise)


# ---------------------------------------------------------------------------- reduction
def simpler(schedule: Schedule) -> Iterator[Schedule]:
    """Normalised schedules that are simpler than ``schedule``, most promising first."""
    s = schedule
    seen = {s}

    def variant(**changes: Any) -> Optional[Schedule]:
        candidate = normalise(dataclasses.replace(s, **changes))
        if candidate in seen:
            return None
        seen.add(candidate)
        return candidate

    proposals: list[dict[str, Any]] = []
    if s.depth:
        proposals.append({"levels": s.levels[1:], "inner_consumers": s.inner_consumers[1:]})
        proposals.append(
            {"levels": (*s.levels[:-2], s.levels[-1]), "inner_consumers": s.inner_consumers[:-1]}
        )
    if s.steps:
        half = len(s.steps) // 2
        proposals += [{"steps": ""}, {"steps": s.steps[:half]}, {"steps": s.steps[half:]}]
        proposals += [{"steps": s.steps.replace(c, "e")} for c in "lt" if c in s.steps]
        positions = range(len(s.steps)) if len(s.steps) <= 6 else (0, len(s.steps) - 1)
        proposals += [{"steps": s.steps[:j] + s.steps[j + 1 :]} for j in positions]
    proposals += [
        {"fault": "none"},
        {"asyncify": False},
        {"tail": "none"},
        {"thread_limit": None},
        {"limit_via": "configure"},
        {"buffer_size": 16},
        {"buffer_size": 1},
        {"timeout_level": 0},
        {"gc_thread": "consumer"},
        {"stop_at": 1},
        {"stop_at": s.stop_at - 1},
        {"inner_consumers": tuple("async" for _ in s.inner_consumers)},
        {"inner_consumers": tuple("sync" for _ in s.inner_consumers)},
        {"levels": tuple("async" for _ in s.levels)},
        {"levels": tuple("sync" for _ in s.levels)},
        {"consumer": "async"},
        {"consumer": "sync"},
        {"stop": "close"},
        {"stop": "end"},
    ]
    for changes in proposals:
        candidate = variant(**changes)
        if candidate is not None:
            yield candidate
