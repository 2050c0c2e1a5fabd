"""Listener routing: which module call a listener follows, and where an LM call's chunks go.

At wrap time, :func:`check_listener_targets` and :func:`check_predict` refuse listeners that
the program's visible ``@module``s show to be wrong (an ambiguous field, a likely typo, a
``predict=`` that is not instrumented).  At run time, each stream run keeps one
:class:`ListenerSlot` per listener; :func:`open_lm_sink` decides, when an ``@lm`` call starts,
which slots follow the module enclosing it (:func:`follows`), and returns the
:class:`LMSink` that feeds the call's chunks and events to copies of those listeners.
:func:`never_followed` words the warning for a listener that followed nothing.
"""

from __future__ import annotations

import difflib
import inspect
from typing import TYPE_CHECKING, Any, Optional, Union

from ._instrument import component_of
from ._listener import PartialValues
from ._lm_chunks import ReasoningDelta, ToolCallArgumentsDelta, ToolCallStarted
from ._messages import StreamResponse

if TYPE_CHECKING:
    from ._instrument import CallFrame, Component
    from ._listener import StreamListener
    from ._stream import StreamRun

__all__ = (
    "LMSink",
    "ListenerSlot",
    "check_listener_targets",
    "check_predict",
    "follows",
    "never_followed",
    "open_lm_sink",
)

Follower = Union["StreamListener", PartialValues]  # what an LM sink feeds text to


def _describe(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


# ---------------------------------------------------------------------------- wrap time
def _modules_of(obj: Any) -> list[Any]:
    """The @module components defined on ``obj``'s class (or the class of a bound method)."""
    owner = getattr(obj, "__self__", None) if inspect.ismethod(obj) else obj
    if owner is None or inspect.isfunction(owner) or inspect.isbuiltin(owner):
        return []
    found = []
    for name in dir(type(owner)):
        component = component_of(getattr(type(owner), name, None))
        if component is not None and component.kind == "module":
            found.append(component)
    return found


def check_listener_targets(listeners: tuple[Any, ...], program: Any) -> None:
    """Refuse, when wrapping, what the program's visible modules show to be wrong.

    The visible modules are the ``@module`` methods of the program's class (or the program
    itself, if it is one).  An automatic listener that two of them match is ambiguous.  A
    field or ``predict_name`` that none of them has, but that is one typo away from one they
    have, is refused with the likely fix.  Anything else may be produced by a module the
    program reaches some other way; a listener that then never follows any module is reported
    when the call ends (see ``StreamRun.check_listeners_followed``).
    """
    modules = _modules_of(program)
    own = component_of(program)
    if own is not None and own.kind == "module":
        modules.append(own)
    if not modules:
        return
    declared = sorted({field for m in modules for field in m.outputs})
    names = sorted({m.name for m in modules})
    for listener in listeners:
        field = listener.signature_field_name
        if listener.predict_name is not None:
            _refuse_typo("predict_name", listener.predict_name, names, field)
            continue
        if listener.predict is not None:
            continue
        producing = sorted({m.name for m in modules if field in m.outputs})
        if len(producing) > 1:
            raise ValueError(
                f"StreamListener({field!r}) matches several modules that declare that output "
                f"({', '.join(map(repr, producing))}); pass predict= or predict_name= to "
                "choose one"
            )
        if not producing:
            _refuse_typo("signature_field_name", field, declared, field)


def _refuse_typo(what: str, value: str, known: list[str], field: str) -> None:
    if value in known:
        return
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.75)
    if close:
        raise ValueError(
            f"StreamListener({field!r}): no module of the program has {what} {value!r}; "
            f"did you mean {close[0]!r}? (known: {', '.join(map(repr, known))})"
        )


def check_predict(listener: Any) -> None:
    """A listener's ``predict=`` must be instrumented and declare the field, if it declares any."""
    predict = listener.predict
    field = listener.signature_field_name
    if predict is None:
        return
    component = component_of(predict)
    if component is not None:
        if component.kind != "module":
            raise TypeError(
                f"StreamListener(predict=...) takes a @module function or method, or an "
                f"object with @module methods; {component.name!r} is a @{component.kind}"
            )
        if component.outputs and field not in component.outputs:
            raise ValueError(
                f"module {component.name!r} declares outputs {component.outputs}, not "
                f"{field!r}; listen to one of those fields or fix @module(outputs=...)"
            )
        return
    if inspect.isfunction(predict) or inspect.ismethod(predict):
        raise TypeError(
            f"StreamListener(predict={_describe(predict)}) is not instrumented; decorate it "
            "with @streamify.module so its LM calls can be followed"
        )
    modules = _modules_of(predict)
    if not modules:
        raise TypeError(
            f"StreamListener(predict=...) got a {type(predict).__name__} object with no @module "
            "methods; pass the @module function or method that produces the field"
        )
    declared = [found for found in modules if found.outputs]
    if declared and len(declared) == len(modules):
        producing = [found for found in declared if field in found.outputs]
        if not producing:
            raise ValueError(
                f"no @module method of {type(predict).__name__} declares the output {field!r}"
            )


# ---------------------------------------------------------------------------- run time


class ListenerSlot:
    """A listener template of one call plus what the call learned about it."""

    __slots__ = ("done", "followed", "matched", "template")

    def __init__(self, template: StreamListener) -> None:
        self.template = template
        self.done = False  # an occurrence completed and reuse is not allowed
        self.followed = False  # it followed at least one module call
        self.matched: Optional[Component] = None  # auto-matched module (by declared outputs)


def open_lm_sink(run: StreamRun, lm_frame: CallFrame) -> Optional[LMSink]:
    """Where this LM call's chunks and events go, or ``None`` when nothing listens.

    Text goes to the listeners that follow the module enclosing the call; native
    reasoning deltas to those of them that listen to the module's reasoning field; tool
    call arguments to the ``tool=`` listeners; a tool call's start to the provider's
    ``tool_call_status_message`` hook, if it has one.
    """
    module_frame = lm_frame.module
    if not run.slots or module_frame is None:
        if run.status.tool_call_hook is None:
            return None
        return LMSink(run, lm_frame, None, [], [], [])
    instance = module_frame.instance
    run.modules_seen[instance.name] = instance.outputs
    text: list[tuple[ListenerSlot, Follower]] = []
    reasoning: list[tuple[ListenerSlot, StreamListener]] = []
    tools: list[ListenerSlot] = []
    for slot in run.slots:
        if not follows(slot, instance) or slot.done:  # _follows may refuse ambiguity
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
        listener._bind(instance.name, module_frame.call_id, module_frame.parent_id, field_format)
        text.append((slot, PartialValues(listener) if template.partial else listener))
        if template.signature_field_name == instance.reasoning_field:
            reasoning.append((slot, listener))
    if not (text or tools) and run.status.tool_call_hook is None:
        return None
    return LMSink(run, lm_frame, module_frame, text, reasoning, tools)


def follows(slot: ListenerSlot, instance: Component) -> bool:
    """Whether the slot's listener follows a call of module ``instance``; raises
    ``ValueError`` when an automatic listener meets a second module declaring its field."""
    listener = slot.template
    predict = listener.predict
    if predict is not None:
        component = component_of(predict)
        if component is not None:
            if component is not instance.unbound:
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
        slot.matched = instance.unbound
        return True
    if matched is not instance.unbound:
        raise ValueError(
            f"StreamListener({listener.signature_field_name!r}) matches two modules that both "
            f"declare that output, {matched.name!r} and {instance.name!r}; pass predict= or "
            "predict_name= to choose one"
        )
    return True


def never_followed(listener: StreamListener, seen: dict[str, tuple[str, ...]]) -> str:
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


class LMSink:
    """Feeds one LM call's chunks and events to what follows them (see ``open_lm_sink``).

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
        stream: StreamRun,
        lm_frame: CallFrame,
        module_frame: Optional[CallFrame],
        listeners: list[tuple[ListenerSlot, Follower]],
        reasoning: list[tuple[ListenerSlot, StreamListener]],
        tools: list[ListenerSlot],
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
        self._calls: dict[int, list[tuple[ListenerSlot, Follower]]] = {}

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
        status = self._stream.status.tool_call_started(self._lm_frame, event.name, event.id)
        if status is not None:
            out.append(status)
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
        return out

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
