"""One stream call: the program's producer task, its channel, and the async consumer.

Calling a streamified program returns an async generator.  On the first ``__anext__`` it

1. creates a :class:`StreamCall` (a fresh channel, copies of the listeners, the provider);
2. starts the *producer task*, created in a copy of the consumer's context, which sets
   ``CURRENT_STREAM`` in that copy only and runs the program: awaited if async, in a worker
   thread (with the same context) if sync;
3. yields items from the channel until the producer side closes, then the result as a
   :class:`Prediction`, exactly once, last; or raises the program's exception, the same object.

Stopping (``break`` + garbage collection, ``aclose()``, cancellation of the consuming task,
a timeout) runs :meth:`StreamCall.stop`: close the channel's read side (a worker thread raises
``CancelledError`` at its next emit or instrumented call), cancel the producer task (an async
program stops at its next await), and wait until the producer task has finished, even if the
consumer is cancelled again meanwhile: ``aclose()`` returns once the program has stopped.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncGenerator, Awaitable
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from ._callbacks import StatusMessageProvider, handle_listener_failure, logger
from ._channel import Channel
from ._context import CURRENT_STREAM, current_settings, override_settings
from ._idle import BUFFERS, IDLE, TICKS
from ._instrument import component_of
from ._jobs import current_job
from ._listener import PartialValues
from ._lm_chunks import ReasoningDelta, ToolCallArgumentsDelta, ToolCallStarted
from ._lm_response import usage_by_model
from ._messages import Prediction, StatusMessage, StreamResponse, status_message
from ._workers import run_sync

if TYPE_CHECKING:
    from ._instrument import CallFrame, Component
    from ._listener import StreamListener
    from ._lm_response import Usage

_get_ident = threading.get_ident
_current_stream = CURRENT_STREAM.get

__all__ = (
    "StreamCall",
    "StreamSpec",
    "astream",
    "emit",
    "emit_sync",
    "Fatal",
    "outcome",
    "report_after_stop",
    "result_of",
    "start_call",
)


class StreamSpec:
    """What ``streamify`` validated once: everything a call needs, shared read-only."""

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


class _ListenerSlot:
    """A listener template of one call plus what the call learned about it."""

    __slots__ = ("done", "followed", "matched", "template")

    def __init__(self, template: StreamListener) -> None:
        self.template = template
        self.done = False  # an occurrence completed and reuse is not allowed
        self.followed = False  # it followed at least one module call
        self.matched: Optional[Component] = None  # auto-matched module (by declared outputs)


_START_HOOKS = {
    "module": "module_start_status_message",
    "tool": "tool_start_status_message",
    "lm": "lm_start_status_message",
}
_END_HOOKS = {
    "module": "module_end_status_message",
    "tool": "tool_end_status_message",
    "lm": "lm_end_status_message",
}
_START_EVENT = {"module": "module_start", "tool": "tool_start", "lm": "lm_start"}
_END_EVENT = {"module": "module_end", "tool": "tool_end", "lm": "lm_end"}


class StreamCall:
    """The per-call state of one stream; ``CURRENT_STREAM`` points at it inside the program."""

    __slots__ = (
        "_end_hooks",
        "_start_hooks",
        "_tool_call_hook",
        "channel",
        "modules_seen",
        "slots",
        "streamed",
        "strict",
        "timed_out",
        "usages",
    )

    def __init__(self, spec: StreamSpec, channel: Channel[Any], strict: bool) -> None:
        self.channel = channel
        self.strict = strict
        self.streamed = False  # some listener produced a chunk
        self.timed_out: Optional[str] = None
        self.slots = [_ListenerSlot(listener) for listener in spec.listeners]
        # name -> declared outputs of the modules whose LM calls this call's listeners saw
        self.modules_seen: dict[str, tuple[str, ...]] = {}
        provider = spec.provider
        self._start_hooks = {kind: getattr(provider, hook) for kind, hook in _START_HOOKS.items()}
        self._end_hooks = {kind: getattr(provider, hook) for kind, hook in _END_HOOKS.items()}
        overridden = (
            type(provider).tool_call_status_message
            is not StatusMessageProvider.tool_call_status_message
        )
        self._tool_call_hook = provider.tool_call_status_message if overridden else None
        self.usages: list[Usage] = []  # one record per LM reply of this call, in order

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
        if channel.over_capacity() and _get_ident() == channel.loop_thread:
            await channel.wait_writable()

    # ------------------------------------------------------------------ status messages
    def on_start(self, frame: CallFrame, inputs: dict[str, Any]) -> None:
        hook = self._start_hooks[frame.kind]
        try:
            message = hook(frame.instance, inputs)
        except Exception as exc:
            handle_listener_failure(exc, _hook_name(hook), self.strict)
            return
        if message is not None:
            self._queue_status(message, hook, frame, _START_EVENT, inputs)

    def on_end(self, frame: CallFrame, outputs: Any, exception: Optional[BaseException]) -> None:
        if exception is not None:
            return  # a failed call has no end message (the end hooks take outputs only)
        hook = self._end_hooks[frame.kind]
        try:
            message = hook(outputs)
        except Exception as exc:
            handle_listener_failure(exc, _hook_name(hook), self.strict)
            return
        if message is not None:
            self._queue_status(message, hook, frame, _END_EVENT, outputs)

    def _queue_status(
        self, message: Any, hook: Any, frame: CallFrame, events: Any, detail: Any
    ) -> None:
        if type(message) is not str and not isinstance(message, str):
            error = TypeError(
                f"{_hook_name(hook)} returned {type(message).__name__}; status message hooks "
                "return str, or None for no message"
            )
            handle_listener_failure(error, _hook_name(hook), self.strict)
            return
        kind = events[frame.kind]
        name = frame.instance.name
        self.put_sync(status_message(message, frame.call_id, frame.parent_id, kind, name, detail))

    # ------------------------------------------------------------------ LM chunks
    def lm_sink(self, lm_frame: CallFrame) -> Optional[LMSink]:
        """Where this LM call's chunks and events go, or ``None`` when nothing listens.

        Text goes to the listeners that follow the module enclosing the call; native
        reasoning deltas to those of them that listen to the module's reasoning field; tool
        call arguments to the ``tool=`` listeners; a tool call's start to the provider's
        ``tool_call_status_message`` hook, if it has one.
        """
        module_frame = lm_frame.module
        if not self.slots or module_frame is None:
            if self._tool_call_hook is None:
                return None
            return LMSink(self, lm_frame, None, [], [], [])
        instance = module_frame.instance
        self.modules_seen[instance.name] = instance.outputs
        text: list[tuple[_ListenerSlot, Follower]] = []
        reasoning: list[tuple[_ListenerSlot, StreamListener]] = []
        tools: list[_ListenerSlot] = []
        for slot in self.slots:
            if not _follows(slot, instance) or slot.done:  # _follows may refuse ambiguity
                continue
            slot.followed = True
            template = slot.template
            if template.tool is not None:
                tools.append(slot)
                continue
            listener = template.copy()
            field_format = template.field_format
            if field_format is None:
                field_format = instance.field_format
            listener._bind(
                instance.name, module_frame.call_id, module_frame.parent_id, field_format
            )
            text.append((slot, PartialValues(listener) if template.partial else listener))
            if template.signature_field_name == instance.reasoning_field:
                reasoning.append((slot, listener))
        if not (text or tools) and self._tool_call_hook is None:
            return None
        return LMSink(self, lm_frame, module_frame, text, reasoning, tools)

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
            message = _never_followed(slot.template, self.modules_seen)
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
        report_after_stop(producer)
        if interrupted:
            raise asyncio.CancelledError()


def report_after_stop(producer: asyncio.Task[Any]) -> None:
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
        if isinstance(result, Fatal):
            exc = result.exc
        else:
            return
    if not isinstance(exc, asyncio.CancelledError):
        logger.error(
            "the streamed program raised %s after its consumer had left",
            type(exc).__name__,
            exc_info=exc,
        )


def _never_followed(listener: StreamListener, seen: dict[str, tuple[str, ...]]) -> str:
    field = listener.signature_field_name
    if listener.predict is not None:
        target = f"predict={getattr(listener.predict, '__qualname__', listener.predict)!r}"
    elif listener.predict_name is not None:
        target = f"predict_name={listener.predict_name!r}"
    else:
        target = "a module declaring that output in @module(outputs=...)"
    if seen:
        modules = ", ".join(
            f"{name!r} (outputs: {', '.join(outputs) if outputs else 'none declared'})"
            for name, outputs in seen.items()
        )
        what = f"modules that made LM calls: {modules}"
    else:
        what = "no LM call ran inside a @module"
    return (
        f"StreamListener({field!r}) streamed nothing: the call ended and it never followed "
        f"{target}; {what}. Check the field and module names, or declare the field with "
        "@module(outputs=...)"
    )


def _follows(slot: _ListenerSlot, instance: Component) -> bool:
    listener = slot.template
    predict = listener.predict
    if predict is not None:
        component = component_of(predict)
        if component is not None:
            if component is not instance.spec:
                return False
            bound_to = getattr(predict, "__self__", None)
            return bound_to is None or bound_to is instance.owner
        return predict is instance.owner
    if listener.predict_name is not None:
        return bool(listener.predict_name == instance.name)
    if listener.tool is not None:
        return True  # a tool call's argument: whichever module's LM makes that call
    field = listener.signature_field_name
    if field not in instance.outputs and field != instance.reasoning_field:
        return False
    matched = slot.matched
    if matched is None:
        slot.matched = instance.spec
        return True
    if matched is not instance.spec:
        raise ValueError(
            f"StreamListener({listener.signature_field_name!r}) matches two modules that both "
            f"declare that output, {matched.name!r} and {instance.name!r}; pass predict= or "
            "predict_name= to choose one"
        )
    return True


class LMSink:
    """Feeds one LM call's chunks and events to what follows them (see ``StreamCall.lm_sink``).

    The sync and async halves do the same work: the sync one puts with ``put_sync`` (sync
    code: never blocks the loop, blocks a worker thread), the async one awaits ``put``.
    """

    __slots__ = (
        "_calls",
        "_listeners",
        "_lm_frame",
        "_module_frame",
        "_reasoning",
        "_reasoning_open",
        "_reasoning_streamed",
        "_stream",
        "_tools",
    )

    def __init__(
        self,
        stream: StreamCall,
        lm_frame: CallFrame,
        module_frame: Optional[CallFrame],
        listeners: list[tuple[_ListenerSlot, Follower]],
        reasoning: list[tuple[_ListenerSlot, StreamListener]],
        tools: list[_ListenerSlot],
    ) -> None:
        self._stream = stream
        self._lm_frame = lm_frame
        self._module_frame = module_frame
        self._listeners = listeners
        self._reasoning = reasoning
        self._reasoning_open = False
        self._reasoning_streamed = False
        self._tools = tools
        # tool call index -> the tool= listener copies following that call
        self._calls: dict[int, list[tuple[_ListenerSlot, Follower]]] = {}

    def _accept(self, responses: list[StreamResponse]) -> list[StreamResponse]:
        if responses:
            self._stream.streamed = True
        return responses

    def _text(self, chunk: str) -> list[StreamResponse]:
        out: list[StreamResponse] = []
        for _, listener in self._listeners:
            out.extend(self._accept(listener.feed(chunk)))
        return out

    def feed_sync(self, chunk: str) -> None:
        put = self._stream.put_sync
        for _, listener in self._listeners:
            for response in self._accept(listener.feed(chunk)):
                put(response)

    async def feed(self, chunk: str) -> None:
        put = self._stream.put
        for _, listener in self._listeners:
            for response in self._accept(listener.feed(chunk)):
                await put(response)

    def _route(self, events: tuple[Any, ...]) -> list[Any]:
        """The items a batch of assembler events produces, in order."""
        out: list[Any] = []
        for event in events:
            kind = type(event)
            if kind is str:
                out.extend(self._text(event))
            elif kind is ReasoningDelta:
                out.extend(self._native_reasoning(event.text, last=False))
            elif kind is ToolCallStarted:
                out.extend(self._tool_call_started(event))
            elif kind is ToolCallArgumentsDelta:
                for _, listener in self._calls.get(event.index, ()):
                    out.extend(self._accept(listener.feed(event.delta)))
            # usage and finish reasons are read from the assembled response
        return out

    def events_sync(self, events: tuple[Any, ...]) -> None:
        put = self._stream.put_sync
        for item in self._route(events):
            put(item)

    async def events(self, events: tuple[Any, ...]) -> None:
        put = self._stream.put
        for item in self._route(events):
            await put(item)

    def _native_reasoning(self, text: str, *, last: bool) -> list[StreamResponse]:
        frame = self._module_frame
        if frame is None or not self._reasoning:
            return []
        if last and not self._reasoning_open:
            return []
        self._reasoning_open = not last
        self._reasoning_streamed = True
        out = [
            StreamResponse(
                frame.instance.name,
                listener.signature_field_name,
                text,
                last,
                frame.call_id,
                frame.parent_id,
            )
            for _, listener in self._reasoning
        ]
        return self._accept(out)

    def _tool_call_started(self, event: ToolCallStarted) -> list[Any]:
        out: list[Any] = []
        stream = self._stream
        hook = stream._tool_call_hook
        if hook is not None:
            lm_frame = self._lm_frame
            try:
                message = hook(lm_frame.instance, event.name, event.id)
            except Exception as exc:
                handle_listener_failure(exc, _hook_name(hook), stream.strict)
            else:
                if message is not None:
                    out.append(
                        _checked_status(
                            message, hook, lm_frame, "lm_tool_call", stream, event.name, event.id
                        )
                    )
        module_frame = self._module_frame
        if module_frame is not None:
            for slot in self._tools:
                template = slot.template
                if template.tool != event.name or slot.done:
                    continue
                listener = template.copy()
                listener._bind(
                    module_frame.instance.name, module_frame.call_id, module_frame.parent_id, None
                )
                follower = PartialValues(listener) if template.partial else listener
                self._calls.setdefault(event.index, []).append((slot, follower))
        return [item for item in out if item is not None]

    def _flush(self) -> list[Any]:
        out: list[Any] = self._native_reasoning("", last=True)
        pairs = list(self._listeners)
        for calls in self._calls.values():
            pairs.extend(calls)
        for slot, listener in pairs:
            out.extend(self._accept(listener.flush()))
            if listener.completed_any and not listener.allow_reuse:
                slot.done = True
        if self._reasoning_streamed:  # an occurrence of the reasoning field completed
            for slot, listener in self._reasoning:
                if not listener.allow_reuse:
                    slot.done = True
        return out

    def close_sync(self) -> None:
        for item in self._flush():
            self._stream.put_sync(item)

    async def close(self) -> None:
        for item in self._flush():
            await self._stream.put(item)


def _checked_status(
    message: Any,
    hook: Any,
    frame: CallFrame,
    event: Any,
    stream: StreamCall,
    name: Optional[str],
    detail: Any,
) -> Optional[StatusMessage]:
    if not isinstance(message, str):
        error = TypeError(
            f"{_hook_name(hook)} returned {type(message).__name__}; status message hooks "
            "return str, or None for no message"
        )
        handle_listener_failure(error, _hook_name(hook), stream.strict)
        return None
    return status_message(message, frame.call_id, frame.parent_id, event, name, detail)


def _hook_name(hook: Any) -> str:
    owner = getattr(hook, "__self__", None)
    return f"{type(owner).__name__}.{getattr(hook, '__name__', 'hook')}"


# ---------------------------------------------------------------------------- producer
async def _produce(call: StreamCall, spec: StreamSpec, args: Any, kwargs: Any) -> Any:
    """The producer task's body; runs in its own copy of the consumer's context."""
    CURRENT_STREAM.set(call)
    if call.strict != current_settings().strict:
        override_settings(strict=call.strict)
    try:
        if spec.is_async:
            awaitable = spec.call_program(*args, **kwargs)
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
            spec.call_program,
            args,
            kwargs,
            limiter=None,
            on_cancel=call.channel.stop_producers,
        )
        if isinstance(result, Awaitable):  # a sync function that returned a coroutine
            return await result
        return result
    except (KeyboardInterrupt, SystemExit) as exc:
        return Fatal(exc)
    finally:
        call.channel.close_write()


class Fatal:
    """``KeyboardInterrupt`` / ``SystemExit`` raised by a program, carried as its result.

    asyncio lets these two escape from the event loop itself when a task raises them, which
    would bypass the consumer (and, in a sync consumer's helper thread, kill the thread with a
    printed traceback).  The producer returns them wrapped instead, and the consumer re-raises
    the same object after the items before it, like any other exception.
    """

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def result_of(producer: asyncio.Task[Any]) -> Any:
    """The producer's result: raises the program's exception (the same object), ``Fatal`` too."""
    result = producer.result()
    if isinstance(result, Fatal):
        raise result.exc
    return result


_running: set[asyncio.Task[Any]] = set()

Follower = Union["StreamListener", PartialValues]  # what an LM sink feeds text to


def start_call(
    spec: StreamSpec, args: Any, kwargs: Any, loop: asyncio.AbstractEventLoop
) -> tuple[StreamCall, asyncio.Task[Any]]:
    """Create the call state and its producer task on ``loop`` (the running loop)."""
    strict = spec.strict if spec.strict is not None else current_settings().strict
    channel: Channel[Any] = Channel(spec.buffer_size, loop, _get_ident())
    call = StreamCall(spec, channel, strict)
    producer = loop.create_task(_produce(call, spec, args, kwargs))
    # asyncio holds tasks weakly: a stream dropped in a reference cycle would take its pending
    # producer task down with it ("Task was destroyed but it is pending"), and the program
    # with it, uncleanly.  Running producers are held here until they finish, so the cycle's
    # collection finalizes the consumer generator, whose close stops the program.
    _running.add(producer)
    producer.add_done_callback(_running.discard)
    if spec.timeout is not None:
        handle = loop.call_later(spec.timeout, _expire, call, producer, spec.timeout)
        producer.add_done_callback(lambda _: handle.cancel())
    return call, producer


def _expire(call: StreamCall, producer: asyncio.Task[Any], timeout: float) -> None:
    """The whole-run timeout: stop the run exactly as a leaving consumer does, except that
    the items already buffered are still delivered (then ``TimeoutError``)."""
    if not producer.done():
        call.timed_out = f"the program did not finish within timeout={timeout}s; it was cancelled"
        call.channel.stop_producers()  # a sync program stops at its next emit / call
        producer.cancel()  # an async program stops at its next await


def outcome(
    call: StreamCall, producer: asyncio.Task[Any], include_final: bool
) -> Optional[Prediction]:
    """After the channel ended: the final prediction to yield, or raise the program's error."""
    if producer.cancelled():
        if call.timed_out is not None:
            raise TimeoutError(call.timed_out)
        raise asyncio.CancelledError()
    result = result_of(producer)  # the program's exception, the same object, if it raised
    if call.slots:
        call.check_listeners_followed()
    if include_final or not call.streamed:
        prediction = Prediction.from_value(result)
        if call.usages:
            prediction.set_lm_usage(usage_by_model(call.usages))
        return prediction
    return None


async def astream(spec: StreamSpec, args: Any, kwargs: Any) -> AsyncGenerator[Any, None]:
    """The async generator a streamified program returns."""
    loop = asyncio.get_running_loop()
    call, producer = start_call(spec, args, kwargs, loop)
    channel = call.channel
    items = channel.buffered_items()
    # A response may ask for batching and keepalive ticks (see ``_idle``).  This generator's
    # frame is the key; it is looked up, never kept in a local (the frame would refer to
    # itself, and only the garbage collector could free it).
    if BUFFERS:
        holder = BUFFERS.get(sys._getframe())
        if holder is not None:
            holder[0] = items
    popleft = items.popleft
    idle_timeout = spec.idle_timeout
    delivered = False
    try:
        while True:
            if items:
                # Hot path, ``receive_nowait`` inlined: pop, then wake producers that wait.
                item = popleft()
                if channel.producers_waiting:
                    channel.release_space()
                yield item
            elif channel.write_closed:
                if not items:
                    break
            elif idle_timeout is None and not TICKS:
                await channel.wait_readable()
            else:  # a deadline, or maybe a response's keepalive ticks (see ``_idle``)
                deadline = None if idle_timeout is None else loop.time() + idle_timeout
                tick = TICKS.get(sys._getframe())
                while not await _wait_timed(channel, deadline, tick, idle_timeout):
                    yield IDLE
        if not producer.done():
            await asyncio.wait((producer,))
        delivered = True
        try:
            final = outcome(call, producer, spec.include_final)
        except StopAsyncIteration as exc:
            # An async generator cannot raise StopAsyncIteration (it would read as the normal
            # end of the stream, with no Prediction): Python would turn it into a bare
            # RuntimeError.  Say what happened instead; the original is the cause.
            raise RuntimeError(
                "the program raised StopAsyncIteration, which cannot travel through the "
                "async stream (it would look like a normal end); it is this error's __cause__"
            ) from exc
        if final is not None:
            yield final
    finally:
        if not delivered:
            await call.stop(producer)


async def _wait_timed(
    channel: Channel[Any],
    deadline: Optional[float],
    tick: Optional[float],
    idle_timeout: Optional[float],
) -> bool:
    """Wait for an item: ``False`` when ``tick`` seconds passed first (a keepalive is due);
    ``TimeoutError`` at the idle ``deadline`` (loop time)."""
    if deadline is None:
        return await channel.wait_readable(tick)
    left = deadline - asyncio.get_running_loop().time()
    if tick is not None and tick < left:
        return await channel.wait_readable(tick)
    if left > 0 and await channel.wait_readable(left):
        return True
    raise TimeoutError(
        f"no item arrived for idle_timeout={idle_timeout}s; the program was cancelled"
    )


# ---------------------------------------------------------------------------- emit
async def emit(item: Any) -> bool:
    """Put a custom item into the current stream, waiting while its buffer is full.

    Returns ``True`` when the item was queued, ``False`` outside any stream (it does nothing
    there).  Raises ``StreamClosedError`` when the stream's program has already returned, and
    ``CancelledError`` when its consumer has left.  A ``Prediction`` cannot be emitted: the
    stream's own result is the only one, and it comes last.
    """
    call = _current_stream()
    if call is None:
        return False
    if isinstance(item, Prediction):
        raise TypeError(_NO_PREDICTION)
    # StreamCall.put, inlined: this is the per-item path of every async producer.
    channel = call.channel
    if _get_ident() != channel.loop_thread:
        channel.put_blocking(item)  # a foreign event loop in a worker thread
    elif not channel.try_put(item):
        await channel.put_wait(item)
    return True


def emit_sync(item: Any) -> bool:
    """Put a custom item into the current stream from sync code.

    In a worker thread it blocks while the buffer is full (backpressure) and raises
    ``CancelledError`` once the consumer has left: that is where a sync program stops.  On
    the event loop thread (sync code called by an async program) it never blocks; the item
    may overflow the buffer until the program's next ``await emit()`` or instrumented async
    call.  Returns ``False`` outside any stream.
    """
    call = CURRENT_STREAM.get()
    if call is None:
        return False
    if isinstance(item, Prediction):
        raise TypeError(_NO_PREDICTION)
    call.put_sync(item)
    return True


_NO_PREDICTION = (
    "emit() cannot send a Prediction: the stream's own result is yielded last, exactly once. "
    "Return it from the program, or wrap it in a type of your own to send it as an item"
)
