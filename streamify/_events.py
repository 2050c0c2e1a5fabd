"""Instrumented-call events: the one kind table, callback dispatch, status messages.

Every instrumented call (``@module``, ``@tool``, ``@lm``) fires a start event before it runs
and an end event after, in the thread and context of the call (see ``_instrument``).  This
module delivers them:

* to the :class:`BaseCallback` objects in force, by :func:`fire_start` / :func:`fire_end`;
* to the run the call is part of, if any (:class:`ActiveRun`, what ``CURRENT_RUN`` holds),
  whose :class:`StatusHooks` turn them into :class:`StatusMessage` items through the run's
  :class:`StatusMessageProvider`.

``EVENTS`` is the only table from a call's kind to the names of its callback methods,
provider hooks and status-message events.  A failing callback or hook goes through
``handle_listener_failure`` (logged, or ``CallbackError`` in strict mode).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Protocol

from ._callbacks import StatusMessageProvider, handle_listener_failure, logger
from ._exceptions import CallbackError
from ._messages import EventKind, StatusMessage, status_message

if TYPE_CHECKING:
    from ._channel import Channel
    from ._instrument import CallFrame
    from ._lm_response import Usage
    from ._routing import LMSink

__all__ = (
    "EVENTS",
    "ActiveRun",
    "StatusHooks",
    "checked_status",
    "fire_end",
    "fire_end_after_failure",
    "fire_start",
    "hook_name",
)


class KindEvents(NamedTuple):
    """The names one kind of instrumented call uses for its start and end events."""

    on_start: str  # BaseCallback method
    on_end: str
    start_hook: str  # StatusMessageProvider method
    end_hook: str
    start_event: EventKind  # StatusMessage.event
    end_event: EventKind


EVENTS: dict[str, KindEvents] = {
    kind: KindEvents(
        f"on_{kind}_start",
        f"on_{kind}_end",
        f"{kind}_start_status_message",
        f"{kind}_end_status_message",
        f"{kind}_start",  # type: ignore[arg-type]
        f"{kind}_end",  # type: ignore[arg-type]
    )
    for kind in ("module", "tool", "lm")
}


class ActiveRun(Protocol):
    """What instrumented calls use of the run they are part of (``CURRENT_RUN``)."""

    channel: Channel[Any]
    strict: bool

    def put_sync(self, item: Any) -> None: ...

    def checkpoint_sync(self) -> None: ...

    async def checkpoint_async(self) -> None: ...

    def on_start(self, frame: CallFrame, inputs: dict[str, Any]) -> None: ...

    def on_end(
        self, frame: CallFrame, outputs: Any, exception: Optional[BaseException]
    ) -> None: ...

    def lm_sink(self, lm_frame: CallFrame) -> Optional[LMSink]: ...

    def record_usage(self, usages: tuple[Usage, ...]) -> None: ...


# ---------------------------------------------------------------------------- callbacks
def fire_start(
    callbacks: tuple[Any, ...],
    run: Optional[ActiveRun],
    strict: bool,
    frame: CallFrame,
    inputs: dict[str, Any],
) -> None:
    """The start event of ``frame``: to every callback, then to the run (status messages)."""
    # fire_end is this loop again with the end method and its arguments: written out twice
    # because a shared helper would build a kwargs dict per event on every instrumented call.
    if callbacks:
        method_name = EVENTS[frame.kind].on_start
        for callback in callbacks:
            try:
                getattr(callback, method_name)(
                    call_id=frame.call_id, instance=frame.instance, inputs=inputs
                )
            except Exception as exc:
                handle_listener_failure(exc, f"{type(callback).__name__}.{method_name}", strict)
    if run is not None:
        run.on_start(frame, inputs)


def fire_end(
    callbacks: tuple[Any, ...],
    run: Optional[ActiveRun],
    strict: bool,
    frame: CallFrame,
    outputs: Any,
    exception: Optional[BaseException],
) -> None:
    """The end event of ``frame``: to every callback, then to the run (status messages)."""
    if callbacks:
        method_name = EVENTS[frame.kind].on_end
        for callback in callbacks:
            try:
                getattr(callback, method_name)(
                    call_id=frame.call_id, outputs=outputs, exception=exception
                )
            except Exception as exc:
                handle_listener_failure(exc, f"{type(callback).__name__}.{method_name}", strict)
    if run is not None:
        run.on_end(frame, outputs, exception)


def fire_end_after_failure(
    callbacks: tuple[Any, ...],
    run: Optional[ActiveRun],
    strict: bool,
    frame: CallFrame,
    exc: BaseException,
) -> None:
    """The end events of a call that raised: the call's own exception must reach its caller
    (guarantee 4), so a strict-mode ``CallbackError`` from these events is logged, not
    raised in its place."""
    try:
        fire_end(callbacks, run, strict, frame, None, exc)
    except CallbackError as failure:
        logger.error(
            "%s while reporting the %s raised by %s; the call's own exception is raised",
            failure,
            type(exc).__name__,
            frame.instance.name,
            exc_info=failure,
        )


# ---------------------------------------------------------------------------- status messages
class StatusHooks:
    """One run's provider hooks, bound once: events in, :class:`StatusMessage` items out."""

    __slots__ = ("_end_hooks", "_put", "_start_hooks", "strict", "tool_call_hook")

    def __init__(
        self, provider: StatusMessageProvider, put: Callable[[Any], None], strict: bool
    ) -> None:
        self._put = put  # the run's put_sync
        self.strict = strict
        # kind -> (bound hook, event name): one lookup per message on the hot path
        self._start_hooks = {
            k: (getattr(provider, e.start_hook), e.start_event) for k, e in EVENTS.items()
        }
        self._end_hooks = {
            k: (getattr(provider, e.end_hook), e.end_event) for k, e in EVENTS.items()
        }
        overridden = (
            type(provider).tool_call_status_message
            is not StatusMessageProvider.tool_call_status_message
        )
        # None when the provider keeps the default (no message): LM sinks skip the work.
        self.tool_call_hook = provider.tool_call_status_message if overridden else None

    def on_start(self, frame: CallFrame, inputs: dict[str, Any]) -> None:
        """Queue the provider's start message for ``frame``, if it has one."""
        hook, event = self._start_hooks[frame.kind]
        try:
            message = hook(frame.instance, inputs)
        except Exception as exc:
            handle_listener_failure(exc, hook_name(hook), self.strict)
            return
        if message is not None:
            self._queue_status(message, hook, frame, event, inputs)

    def on_end(self, frame: CallFrame, outputs: Any, exception: Optional[BaseException]) -> None:
        """Queue the provider's end message for ``frame``, if it has one."""
        if exception is not None:
            return  # a failed call has no end message (the end hooks take outputs only)
        hook, event = self._end_hooks[frame.kind]
        try:
            message = hook(outputs)
        except Exception as exc:
            handle_listener_failure(exc, hook_name(hook), self.strict)
            return
        if message is not None:
            self._queue_status(message, hook, frame, event, outputs)

    def _queue_status(
        self, message: Any, hook: Any, frame: CallFrame, event: EventKind, detail: Any
    ) -> None:
        name = frame.instance.name
        if type(message) is str:  # the common case, without checked_status's call (per message)
            self._put(status_message(message, frame.call_id, frame.parent_id, event, name, detail))
            return
        status = checked_status(message, hook, frame, event, self.strict, name, detail)
        if status is not None:
            self._put(status)

    def tool_call_started(
        self, lm_frame: CallFrame, tool_name: str, tool_call_id: str
    ) -> Optional[StatusMessage]:
        """The ``"lm_tool_call"`` message for a native tool call the LM started, if any."""
        hook = self.tool_call_hook
        if hook is None:
            return None
        try:
            message = hook(lm_frame.instance, tool_name, tool_call_id)
        except Exception as exc:
            handle_listener_failure(exc, hook_name(hook), self.strict)
            return None
        if message is None:
            return None
        return checked_status(
            message, hook, lm_frame, "lm_tool_call", self.strict, tool_name, tool_call_id
        )


def checked_status(
    message: Any,
    hook: Any,
    frame: CallFrame,
    event: EventKind,
    strict: bool,
    name: Optional[str] = None,
    detail: Any = None,
) -> Optional[StatusMessage]:
    """A hook's message as a ``StatusMessage``, or ``None`` (failure handled) if not a str.

    ``name`` and ``detail`` fill the message's fields of those names (see ``StatusMessage``).
    """
    if type(message) is not str and not isinstance(message, str):
        error = TypeError(
            f"{hook_name(hook)} returned {type(message).__name__}; status message hooks "
            "return str, or None for no message"
        )
        handle_listener_failure(error, hook_name(hook), strict)
        return None
    return status_message(message, frame.call_id, frame.parent_id, event, name, detail)


def hook_name(hook: Any) -> str:
    """``Class.method`` of a bound hook, for failure messages."""
    owner = getattr(hook, "__self__", None)
    return f"{type(owner).__name__}.{getattr(hook, '__name__', 'hook')}"
