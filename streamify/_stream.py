"""One run of a streamified program: its configuration, state, producer task, stop, ``emit``.

Calling a streamified program returns a stream (``_consumer`` / ``_sync``).  On its first
step the stream calls :func:`start_run`, which

1. creates a :class:`StreamRun` (a fresh channel, one listener slot per listener, the
   provider's hooks bound as :class:`~._events.StatusHooks`);
2. starts the *producer task*, created in a copy of the consumer's context, which sets
   ``CURRENT_RUN`` in that copy only and runs the program: awaited if async, in a worker
   thread (with the same context) if sync; ``KeyboardInterrupt`` / ``SystemExit`` come back
   as a :class:`ProgramExit` result, not as an exception (see there);
3. arms the whole-run ``timeout``, if any.

When the channel has ended, :func:`final_prediction` gives the ``Prediction`` to yield last, or
raises the program's exception (the same object).  Stopping early (``break`` + garbage
collection, ``aclose()``, cancellation of the consuming task, a timeout) runs
:meth:`StreamRun.stop`: close the channel's read side (a worker thread raises
``CancelledError`` at its next emit or instrumented call), cancel the producer task (an async
program stops at its next await), and wait until the producer task has finished, even if the
consumer is cancelled again meanwhile: ``aclose()`` returns once the program has stopped.
What the program did after that is only logged (:func:`log_abandoned_outcome`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable, Optional

from ._callbacks import StatusMessageProvider, logger
from ._channel import Channel
from ._context import CURRENT_RUN, current_settings, override_settings
from ._events import StatusHooks
from ._jobs import current_job
from ._lm_response import usage_by_model
from ._messages import Prediction
from ._routing import ListenerSlot, never_followed, open_lm_sink
from ._workers import run_sync

if TYPE_CHECKING:
    from ._instrument import CallFrame
    from ._listener import StreamListener
    from ._lm_response import Usage
    from ._messages import StreamItem
    from ._routing import LMSink

_get_ident = threading.get_ident
_current_run = CURRENT_RUN.get

__all__ = (
    "ProgramExit",
    "StreamConfig",
    "StreamRun",
    "emit",
    "emit_sync",
    "final_prediction",
    "log_abandoned_outcome",
    "program_result",
    "start_run",
)


class StreamConfig:
    """What ``streamify`` validated once: everything a run needs, shared read-only by its runs."""

    __slots__ = (
        "buffer_size",
        "call_program",
        "idle_timeout",
        "include_final",
        "is_async",
        "listeners",
        "provider",
        "strict",
        "timeout",
    )

    def __init__(
        self,
        *,
        call_program: Callable[..., Any],
        is_async: bool,
        provider: StatusMessageProvider,
        listeners: tuple[StreamListener, ...],
        include_final: bool,
        buffer_size: int,
        strict: Optional[bool],
        timeout: Optional[float],
        idle_timeout: Optional[float],
    ) -> None:
        self.call_program = call_program
        self.is_async = is_async
        self.provider = provider
        self.listeners = listeners
        self.include_final = include_final
        self.buffer_size = buffer_size
        self.strict = strict
        self.timeout = timeout
        self.idle_timeout = idle_timeout


class StreamRun:
    """The state of one run of a streamified program; ``CURRENT_RUN`` points at it inside
    the program (it is the :class:`~._events.ActiveRun` instrumented calls use)."""

    __slots__ = (
        "channel",
        "modules_seen",
        "on_end",
        "on_start",
        "slots",
        "status",
        "streamed",
        "strict",
        "timed_out",
        "usages",
    )

    def __init__(self, config: StreamConfig, channel: Channel[Any], strict: bool) -> None:
        self.channel = channel
        self.strict = strict
        self.streamed = False  # some listener produced a chunk
        self.timed_out: Optional[str] = None
        self.slots = [ListenerSlot(listener) for listener in config.listeners]
        # name -> declared outputs of the modules whose LM calls this run's listeners saw
        self.modules_seen: dict[str, tuple[str, ...]] = {}
        self.status = StatusHooks(config.provider, self.put_sync, strict)
        self.on_start = self.status.on_start
        self.on_end = self.status.on_end
        self.usages: list[Usage] = []  # one record per LM reply of this run, in order

    # ------------------------------------------------------------------ putting items
    def put_sync(self, item: Any) -> None:
        """From sync code: never blocks the loop thread; blocks a worker thread when full."""
        channel = self.channel
        if _get_ident() == channel.loop_thread:
            channel.put_overflow(item)
        else:
            channel.put_blocking(item)

    async def put(self, item: Any) -> None:
        """From async code: waits for space on the stream's loop; blocks a foreign loop's thread."""
        channel = self.channel
        if _get_ident() == channel.loop_thread:
            if not channel.try_put(item):
                await channel.put_wait(item)
        else:
            channel.put_blocking(item)

    def checkpoint_sync(self) -> None:
        """An instrumented sync call: where a stopped run, or a cancelled worker job (see
        ``_jobs``), makes the thread raise."""
        if self.channel.stopped:
            raise asyncio.CancelledError()
        job = current_job()
        if job is not None and job.cancelled:
            raise asyncio.CancelledError()

    async def checkpoint_async(self) -> None:
        channel = self.channel
        if channel.is_full() and _get_ident() == channel.loop_thread:
            await channel.wait_writable()

    # ------------------------------------------------------------------ LM chunks
    def lm_sink(self, lm_frame: CallFrame) -> Optional[LMSink]:
        """Where this LM call's chunks go, or ``None`` when nothing listens (see ``_routing``)."""
        return open_lm_sink(self, lm_frame)

    def record_usage(self, usages: tuple[Usage, ...]) -> None:
        """Add one LM call's usage (one record per reply) to the run's totals."""
        if usages:
            self.usages.extend(usages)

    def check_listeners_followed(self) -> None:
        """At the end of a successful call: a listener that never followed a module is a
        silent failure (a typo in the field or module name, a module without ``outputs=``);
        say so on the ``streamify`` logger, or raise ``ValueError`` in strict mode."""
        for slot in self.slots:
            if slot.followed:
                continue
            message = never_followed(slot.template, self.modules_seen)
            if self.strict:
                raise ValueError(message)
            logger.warning("%s", message)

    # ------------------------------------------------------------------ stopping
    async def stop(self, producer: asyncio.Task[Any]) -> None:
        """Make the program stop and wait until it has; see the module docstring."""
        self.channel.close_read()
        if not producer.done():
            producer.cancel()
        interrupted = False
        while not producer.done():
            try:
                await asyncio.wait((producer,))
            except asyncio.CancelledError:
                interrupted = True  # keep waiting: aclose() returns once the program stopped
        log_abandoned_outcome(producer)
        if interrupted:
            raise asyncio.CancelledError()


def log_abandoned_outcome(producer: asyncio.Task[Any]) -> None:
    """The program's outcome after its consumer left: dropped, and logged if it is an error.

    The consumer chose to stop before the outcome, so nothing is raised to it: not even a
    ``KeyboardInterrupt`` / ``SystemExit`` the program raised while it was being stopped.
    Raising those from ``aclose()`` would tear down whatever runs the close — in particular
    ``asyncio.run``'s own shutdown, which closes every open stream at once and is abandoned
    half-way by a ``SystemExit`` escaping one of them (the others' closes are then never
    awaited).  They are logged with their traceback on the ``streamify`` logger instead.
    """
    if producer.cancelled():
        return
    exc = producer.exception()
    if exc is None:
        result = producer.result()
        if isinstance(result, ProgramExit):
            exc = result.exc
        else:
            return
    if not isinstance(exc, asyncio.CancelledError):
        logger.error(
            "the streamed program raised %s after its consumer had left",
            type(exc).__name__,
            exc_info=exc,
        )


# ---------------------------------------------------------------------------- producer
async def _produce(run: StreamRun, config: StreamConfig, args: Any, kwargs: Any) -> Any:
    """The producer task's body; runs in its own copy of the consumer's context."""
    CURRENT_RUN.set(run)
    if run.strict != current_settings().strict:
        override_settings(strict=run.strict)
    try:
        if config.is_async:
            awaitable = config.call_program(*args, **kwargs)
            if not isinstance(awaitable, Awaitable):
                raise TypeError(
                    f"the program was called as async but returned {type(awaitable).__name__}, "
                    "not an awaitable; drop is_async_program=True to run it in a worker thread"
                )
            return await awaitable
        # No thread-limit slot (see _limiter, invariant 2); however the producer task is
        # cancelled (stop(), a timeout, the event loop's runner ending), the worker is told
        # at once, through the channel: it raises at its next emit or instrumented call.
        result = await run_sync(
            config.call_program,
            args,
            kwargs,
            limiter=None,
            on_cancel=run.channel.stop_producers,
        )
        if isinstance(result, Awaitable):  # a sync function that returned a coroutine
            return await result
        return result
    except (KeyboardInterrupt, SystemExit) as exc:
        return ProgramExit(exc)
    finally:
        run.channel.close_write()


class ProgramExit:
    """``KeyboardInterrupt`` / ``SystemExit`` raised by a program, carried as its result.

    asyncio lets these two escape from the event loop itself when a task raises them, which
    would bypass the consumer (and, in a sync consumer's helper thread, kill the thread with a
    printed traceback).  The producer returns them wrapped instead, and the consumer re-raises
    the same object after the items before it, like any other exception.
    """

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def program_result(producer: asyncio.Task[Any]) -> Any:
    """The finished producer's result, or raise the program's exception (the same object,
    a ``ProgramExit``'s too)."""
    result = producer.result()
    if isinstance(result, ProgramExit):
        raise result.exc
    return result


_running: set[asyncio.Task[Any]] = set()


def start_run(
    config: StreamConfig, args: Any, kwargs: Any, loop: asyncio.AbstractEventLoop
) -> tuple[StreamRun, asyncio.Task[Any]]:
    """Create the run's state and its producer task on ``loop`` (the running loop)."""
    strict = config.strict if config.strict is not None else current_settings().strict
    channel: Channel[Any] = Channel(config.buffer_size, loop, _get_ident())
    run = StreamRun(config, channel, strict)
    producer = loop.create_task(_produce(run, config, args, kwargs))
    # asyncio holds tasks weakly: a stream dropped in a reference cycle would take its pending
    # producer task down with it ("Task was destroyed but it is pending"), and the program
    # with it, uncleanly.  Running producers are held here until they finish, so the cycle's
    # collection finalizes the consumer generator, whose close stops the program.
    _running.add(producer)
    producer.add_done_callback(_running.discard)
    if config.timeout is not None:
        handle = loop.call_later(config.timeout, _expire, run, producer, config.timeout)
        producer.add_done_callback(lambda _: handle.cancel())
    return run, producer


def _expire(run: StreamRun, producer: asyncio.Task[Any], timeout: float) -> None:
    """The whole-run timeout: stop the run exactly as a leaving consumer does, except that
    the items already buffered are still delivered (then ``TimeoutError``)."""
    if not producer.done():
        run.timed_out = f"the program did not finish within timeout={timeout}s; it was cancelled"
        run.channel.stop_producers()  # a sync program stops at its next emit / call
        producer.cancel()  # an async program stops at its next await


def final_prediction(
    run: StreamRun, producer: asyncio.Task[Any], include_final: bool
) -> Optional[Prediction]:
    """After the channel ended: the ``Prediction`` to yield last (``None``: leave it out), or
    raise the program's exception, ``TimeoutError`` (whole-run timeout) or ``CancelledError``."""
    if producer.cancelled():
        if run.timed_out is not None:
            raise TimeoutError(run.timed_out)
        raise asyncio.CancelledError()
    result = program_result(producer)  # the program's exception, the same object, if it raised
    if run.slots:
        run.check_listeners_followed()
    if include_final or not run.streamed:
        prediction = Prediction.from_value(result)
        if run.usages:
            prediction.set_lm_usage(usage_by_model(run.usages))
        return prediction
    return None


# ---------------------------------------------------------------------------- emit
async def emit(item: StreamItem) -> bool:
    """Put a custom item into the current stream, waiting while its buffer is full.

    Returns ``True`` when the item was queued, ``False`` outside any stream (it does nothing
    there).  ``item`` may be any object except a ``Prediction`` (``TypeError``): the
    stream's own result is the only one, and it comes last.  Raises ``StreamClosedError``
    when the stream's program has already returned, and ``CancelledError`` when its
    consumer has left.
    """
    run = _current_run()
    if run is None:
        return False
    if isinstance(item, Prediction):
        raise TypeError(_NO_PREDICTION)
    # StreamRun.put, inlined: this is the per-item path of every async producer.
    channel = run.channel
    if _get_ident() != channel.loop_thread:
        channel.put_blocking(item)  # a foreign event loop in a worker thread
    elif not channel.try_put(item):
        await channel.put_wait(item)
    return True


def emit_sync(item: StreamItem) -> bool:
    """Put a custom item into the current stream from sync code.

    In a worker thread it blocks while the buffer is full (backpressure) and raises
    ``CancelledError`` once the consumer has left: that is where a sync program stops.  On
    the event loop thread (sync code called by an async program) it never blocks; the item
    may overflow the buffer until the program's next ``await emit()`` or instrumented async
    call.  ``item`` and the other results are as for :func:`emit`: ``True`` once queued,
    ``False`` outside any stream; ``TypeError`` for a ``Prediction``, ``StreamClosedError``
    after the program returned.
    """
    run = _current_run()
    if run is None:
        return False
    if isinstance(item, Prediction):
        raise TypeError(_NO_PREDICTION)
    run.put_sync(item)
    return True


_NO_PREDICTION = (
    "emit() cannot send a Prediction: the stream's own result is yielded last, exactly once. "
    "Return it from the program, or wrap it in a type of your own to send it as an item"
)
