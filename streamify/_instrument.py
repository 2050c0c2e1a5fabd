"""The ``@module``, ``@tool`` and ``@lm`` decorators: instrumented calls.

An instrumented call gets a fresh call id, knows its parent (the enclosing instrumented call,
through ``CURRENT_CALL``), fires ``on_<kind>_start`` / ``on_<kind>_end`` to the callbacks in
force and to the stream it runs in, and is a cancellation and backpressure checkpoint:

* in a worker thread whose stream's consumer has left, it raises ``CancelledError`` before the
  call runs;
* in async code, it waits while the stream's buffer is over capacity (sync callbacks on the
  loop thread may overflow it, and this is where the producer is held back).

With no stream and no callbacks it is a plain call plus two lookups.

``@lm`` functions may return ``str`` or produce ``str`` chunks (a sync or async generator).
Inside a stream whose listeners follow the innermost enclosing ``@module``, each chunk is fed
to those listeners; the caller always gets the joined text.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import os
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Literal,
    Optional,
    Protocol,
    TypeVar,
    Union,
    cast,
    overload,
)

from typing_extensions import ParamSpec

from ._context import CURRENT_CALL, CURRENT_RUN, current_settings
from ._events import fire_end, fire_end_after_failure, fire_start
from ._lm_chunks import LMChunkAssembler
from ._lm_response import LMResponse
from ._validation import (
    check_module_format,
    check_name,
    check_outputs,
    is_async_callable,
    is_async_generator_callable,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence

    from ._formats import FormatSpec

__all__ = ("CallFrame", "Component", "lm", "module", "new_call_id", "tool")

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
Kind = Literal["module", "tool", "lm"]

_PREFIX = os.urandom(4).hex()
_counter = itertools.count(1)


def new_call_id() -> str:
    """A process-unique call id (random per process prefix + counter: cheap and unique)."""
    return f"{_PREFIX}-{next(_counter):x}"


def _new_prefix_after_fork() -> None:
    # A forked child would otherwise continue the parent's ids: same prefix, same counter.
    global _PREFIX, _counter
    _PREFIX = os.urandom(4).hex()
    _counter = itertools.count(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_prefix_after_fork)


class Component:
    """What an instrumented function is: passed to callbacks and providers as ``instance``.

    ``name`` (``name=`` or the function's ``__name__``), ``kind`` (``"module"``, ``"tool"`` or
    ``"lm"``), ``function`` (the undecorated function), ``outputs``, ``field_format`` and
    ``reasoning_field`` (declared by ``@module``), and ``owner``: the object a method was
    called on, ``None`` for plain functions.  Attributes it does not have are looked up on
    ``owner``, so a provider can read ``instance.some_setting`` of a module object as it
    would in DSPy.
    """

    __slots__ = (
        "field_format",
        "function",
        "is_method",
        "kind",
        "name",
        "outputs",
        "owner",
        "reasoning_field",
        "unbound",
    )

    def __init__(
        self,
        *,
        name: str,
        kind: Kind,
        function: Callable[..., Any],
        outputs: tuple[str, ...],
        field_format: Any,
        is_method: bool,
        owner: Any = None,
        unbound: Optional[Component] = None,
        reasoning_field: str = "reasoning",
    ) -> None:
        self.name = name
        self.reasoning_field = reasoning_field
        self.kind = kind
        self.function = function
        self.outputs = outputs
        self.field_format = field_format
        self.is_method = is_method
        self.owner = owner
        # The component as decorated; a method's per-call copy (``bind``) points back to it.
        self.unbound: Component = self if unbound is None else unbound

    def bind(self, owner: Any) -> Component:
        """This method's component for a call on ``owner`` (what hooks get as ``instance``):
        the same name, kind and outputs, with ``owner`` set and ``unbound`` pointing back."""
        return Component(
            name=self.name,
            kind=self.kind,
            function=self.function,
            outputs=self.outputs,
            field_format=self.field_format,
            is_method=True,
            owner=owner,
            unbound=self,
            reasoning_field=self.reasoning_field,
        )

    def __getattr__(self, name: str) -> Any:
        owner = object.__getattribute__(self, "owner")
        if owner is None:
            raise AttributeError(name)
        return getattr(owner, name)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name!r}>"


class CallFrame:
    """One running instrumented call: ``CURRENT_CALL`` holds the innermost one."""

    __slots__ = ("call_id", "instance", "kind", "module", "parent_id")

    def __init__(
        self, call_id: str, parent: Optional[CallFrame], instance: Component, kind: Kind
    ) -> None:
        self.call_id = call_id
        self.parent_id = None if parent is None else parent.call_id
        self.instance = instance
        self.kind = kind
        # The innermost enclosing @module call (this call, if it is one).
        self.module: Optional[CallFrame] = (
            self if kind == "module" else (None if parent is None else parent.module)
        )


# ---------------------------------------------------------------------------- binding inputs
Binder = Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]


def _make_binder(fn: Callable[..., Any], is_method: bool) -> Binder:
    """Bound arguments as a dict (defaults applied, ``self``/``cls`` left out), fast."""
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    simple = all(
        p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.POSITIONAL_ONLY) for p in params
    )
    skip = 1 if is_method else 0
    if simple and not any(p.kind is p.POSITIONAL_ONLY for p in params):
        names = tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)[skip:]
        defaults = tuple((p.name, p.default) for p in params[skip:] if p.default is not p.empty)
        max_positional = len(names)

        def bind_simple(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            positional = args[skip:]
            if len(positional) > max_positional:
                return bind_general(args, kwargs)
            inputs = dict(zip(names, positional))
            if kwargs:
                inputs.update(kwargs)
            for name, default in defaults:
                if name not in inputs:
                    inputs[name] = default
            return inputs

        binder = bind_simple
    else:
        binder = None

    first = params[0].name if (is_method and params) else None

    def bind_general(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:  # the call itself is wrong: the function will say so
            return {"args": args[skip:], "kwargs": dict(kwargs)}
        bound.apply_defaults()
        inputs = dict(bound.arguments)
        if first is not None:
            inputs.pop(first, None)
        return inputs

    return bind_simple if binder is not None else bind_general


def _is_method(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    qualname = getattr(fn, "__qualname__", "")
    in_class = "." in qualname and not qualname.rsplit(".", 1)[0].endswith("<locals>")
    return bool(params) and params[0] in ("self", "cls") and in_class


# ---------------------------------------------------------------------------- wrappers
# The sync and async wrappers are twins, step for step: one calls ``fn`` and checkpoints
# with ``checkpoint_sync``, the other awaits both; a shared body would need a coroutine per
# call on the sync path (or a call per step on both), on every instrumented call.
def _instrument_sync(component: Component, fn: Callable[..., Any], binder: Binder) -> Any:
    kind = component.kind
    is_method = component.is_method

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stream = CURRENT_RUN.get()
        settings = current_settings()
        callbacks = settings.callbacks
        if stream is None and not callbacks:
            return fn(*args, **kwargs)
        if stream is not None:
            stream.checkpoint_sync()
        instance = component.bind(args[0]) if is_method and args else component
        frame = CallFrame(new_call_id(), CURRENT_CALL.get(), instance, kind)
        strict = settings.strict
        fire_start(callbacks, stream, strict, frame, binder(args, kwargs))
        token = CURRENT_CALL.set(frame)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            CURRENT_CALL.reset(token)
            fire_end_after_failure(callbacks, stream, strict, frame, exc)
            raise
        CURRENT_CALL.reset(token)
        fire_end(callbacks, stream, strict, frame, result, None)
        return result

    return wrapper


def _instrument_async(component: Component, fn: Callable[..., Any], binder: Binder) -> Any:
    # The same steps as _instrument_sync, written out again on purpose: this is the per-call
    # hot path, and a shared helper object costs a measurable share of a status message.
    kind = component.kind
    is_method = component.is_method

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        stream = CURRENT_RUN.get()
        settings = current_settings()
        callbacks = settings.callbacks
        if stream is None and not callbacks:
            return await fn(*args, **kwargs)
        if stream is not None:
            await stream.checkpoint_async()
        instance = component.bind(args[0]) if is_method and args else component
        frame = CallFrame(new_call_id(), CURRENT_CALL.get(), instance, kind)
        strict = settings.strict
        fire_start(callbacks, stream, strict, frame, binder(args, kwargs))
        token = CURRENT_CALL.set(frame)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            CURRENT_CALL.reset(token)
            fire_end_after_failure(callbacks, stream, strict, frame, exc)
            raise
        CURRENT_CALL.reset(token)
        fire_end(callbacks, stream, strict, frame, result, None)
        return result

    return wrapper


def _as_response(text: str) -> LMResponse:
    return text if isinstance(text, LMResponse) else LMResponse(text)


def _close_sync(produced: Any) -> None:
    close = getattr(produced, "close", None)
    if close is not None:
        close()


async def _close_async(produced: Any) -> None:
    """Close an async chunk source: an async generator's ``aclose()``, or the ``close()``
    coroutine of an SDK stream (``openai.AsyncStream``), which closes its HTTP response."""
    close = getattr(produced, "aclose", None) or getattr(produced, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result


def _lm_text_sync(component: Component, produced: Any, frame: Optional[CallFrame]) -> LMResponse:
    """Assemble (and forward, inside a stream) what a sync @lm function produced.

    A chunk is ``str`` text, or a raw chunk of an LLM SDK's stream recognised by its shape
    (see ``_lm_chunks``); plain ``str`` takes the assembler's fast path.
    """
    stream = CURRENT_RUN.get()
    sink = None if (stream is None or frame is None) else stream.lm_sink(frame)
    if isinstance(produced, str):
        if sink is not None:
            sink.feed_sync(produced)
            sink.close_sync()
        return _as_response(produced)
    assembler = LMChunkAssembler()
    add_text = assembler.add_text
    feed = assembler.feed
    try:
        for chunk in cast("Iterator[Any]", produced):
            if type(chunk) is str:
                add_text(chunk)
                if sink is not None and chunk:
                    sink.feed_sync(chunk)
            else:
                events = feed(chunk)
                if sink is not None and events:
                    sink.events_sync(events)
    finally:
        _close_sync(produced)
    response = assembler.finish()
    if stream is not None:
        stream.record_usage(assembler.usages)
    if sink is not None:
        sink.close_sync()
    return response


async def _lm_text_async(
    component: Component, produced: Any, frame: Optional[CallFrame]
) -> LMResponse:
    stream = CURRENT_RUN.get()
    sink = None if (stream is None or frame is None) else stream.lm_sink(frame)
    if isinstance(produced, str):
        if sink is not None:
            await sink.feed(produced)
            await sink.close()
        return _as_response(produced)
    if not hasattr(produced, "__aiter__"):
        return _lm_text_sync(component, produced, frame)
    assembler = LMChunkAssembler()
    add_text = assembler.add_text
    feed = assembler.feed
    try:
        async for chunk in cast("AsyncIterator[Any]", produced):
            if type(chunk) is str:
                add_text(chunk)
                if sink is not None and chunk:
                    await sink.feed(chunk)
            else:
                events = feed(chunk)
                if sink is not None and events:
                    await sink.events(events)
    finally:
        await _close_async(produced)
    response = assembler.finish()
    if stream is not None:
        stream.record_usage(assembler.usages)
    if sink is not None:
        await sink.close()
    return response


def _lm_result_type_error(component: Component, result: Any) -> TypeError:
    return TypeError(
        f"@lm function {component.name!r} returned {type(result).__name__}; it must return "
        "str or produce str chunks (a generator or async generator)"
    )


def _instrument_lm(component: Component, fn: Callable[..., Any], binder: Binder) -> Any:
    """@lm: the body produces text; the wrapper forwards chunks and returns the joined text."""
    produces_async = is_async_generator_callable(fn) or is_async_callable(fn)

    def text_of_sync(*args: Any, **kwargs: Any) -> LMResponse:
        produced = fn(*args, **kwargs)
        if not isinstance(produced, str) and not hasattr(produced, "__next__"):
            raise _lm_result_type_error(component, produced)
        return _lm_text_sync(component, produced, CURRENT_CALL.get())

    async def text_of_async(*args: Any, **kwargs: Any) -> LMResponse:
        produced = fn(*args, **kwargs)
        if inspect.isawaitable(produced):
            produced = await produced
        if not isinstance(produced, str) and not (
            hasattr(produced, "__aiter__") or hasattr(produced, "__next__")
        ):
            raise _lm_result_type_error(component, produced)
        return await _lm_text_async(component, produced, CURRENT_CALL.get())

    if produces_async:
        return _instrument_async(component, text_of_async, binder)
    return _instrument_sync(component, text_of_sync, binder)


# ---------------------------------------------------------------------------- decorators
def _decorate(
    fn: Any,
    kind: Kind,
    name: Optional[str],
    outputs: Sequence[str] = (),
    field_format: Any = None,
    reasoning_field: str = "reasoning",
) -> Any:
    if isinstance(fn, (staticmethod, classmethod)):
        raise TypeError(f"apply @{kind} below @staticmethod/@classmethod, directly on the function")
    if not callable(fn) or isinstance(fn, type):
        raise TypeError(f"@{kind} decorates a function or method, got {type(fn).__name__}")
    if (inspect.isgeneratorfunction(fn) or is_async_generator_callable(fn)) and kind != "lm":
        raise TypeError(
            f"@{kind} cannot decorate the generator function {fn.__qualname__}; "
            "only @lm functions may yield (their chunks are joined into the result)"
        )
    is_method = _is_method(fn)
    component = Component(
        name=name or str(getattr(fn, "__name__", type(fn).__name__)),
        kind=kind,
        function=fn,
        outputs=tuple(outputs),
        field_format=field_format,
        reasoning_field=reasoning_field,
        is_method=is_method,
    )
    binder = _make_binder(fn, is_method)
    if kind == "lm":
        wrapper = _instrument_lm(component, fn, binder)
    elif is_async_callable(fn):
        wrapper = _instrument_async(component, fn, binder)
    else:
        wrapper = _instrument_sync(component, fn, binder)
    functools.update_wrapper(wrapper, fn)
    wrapper.__streamify__ = component
    if kind == "lm" and inspect.isasyncgenfunction(fn):
        # The wrapper is a coroutine function returning the joined text.
        wrapper.__wrapped__ = fn
    return wrapper


@overload
def module(fn: F, /) -> F: ...
@overload
def module(
    *,
    name: Optional[str] = None,
    outputs: Sequence[str] = (),
    field_format: FormatSpec = None,
    reasoning_field: str = "reasoning",
) -> Callable[[F], F]: ...
def module(
    fn: Optional[F] = None,
    /,
    *,
    name: Optional[str] = None,
    outputs: Sequence[str] = (),
    field_format: FormatSpec = None,
    reasoning_field: str = "reasoning",
) -> Union[F, Callable[[F], F]]:
    """Instrument a function or method as a module: ``@module`` or ``@module(name=...)``.

    ``outputs`` declares the fields the module's LM replies contain (``("reasoning",
    "answer")``), so a ``StreamListener`` finds it without ``predict=``; ``field_format`` is
    the format of those replies (``"chat"``, ``"json"``, ``"xml"`` or a ``FieldFormat``).
    ``reasoning_field`` names the field that an LM's native reasoning deltas (a reasoning
    model's separate channel) stream as: a listener on it gets them as its chunks.

    Returns the instrumented function, with the same signature (or, called with keywords
    only, the decorator).  Raises ``TypeError`` / ``ValueError`` for a bad name, outputs,
    format or field name, and ``TypeError`` for what ``@tool`` refuses too (a class, a
    generator function, a ``staticmethod`` / ``classmethod`` object).
    """
    check_name(name, "module")
    checked_outputs = check_outputs(outputs)
    checked_format = check_module_format(field_format)
    if not isinstance(reasoning_field, str) or not reasoning_field.isidentifier():
        raise TypeError(
            f"@module(reasoning_field=...) takes a field name (an identifier), "
            f"got {reasoning_field!r}"
        )

    def decorate(function: F) -> F:
        return cast(
            "F",
            _decorate(function, "module", name, checked_outputs, checked_format, reasoning_field),
        )

    return decorate if fn is None else decorate(fn)


@overload
def tool(fn: F, /) -> F: ...
@overload
def tool(*, name: Optional[str] = None) -> Callable[[F], F]: ...
def tool(fn: Optional[F] = None, /, *, name: Optional[str] = None) -> Union[F, Callable[[F], F]]:
    """Instrument a function or method as a tool: ``@tool`` or ``@tool(name="search")``.

    ``name`` is the tool's name in status messages and hooks (default: the function's
    ``__name__``).  Returns the instrumented function, with the same signature: each call
    fires the tool start and end events and is a cancellation point inside a stream.  Raises
    ``TypeError`` for an empty or non-``str`` name, a class, a generator function, or a
    ``staticmethod`` / ``classmethod`` object (apply ``@tool`` below it).
    """
    check_name(name, "tool")

    def decorate(function: F) -> F:
        return cast("F", _decorate(function, "tool", name))

    return decorate if fn is None else decorate(fn)


class LMDecorator(Protocol):
    """What ``lm(name=...)`` returns: the decorator, typed like bare ``@lm``."""

    @overload
    def __call__(
        self, fn: Callable[P, AsyncIterator[Any]], /
    ) -> Callable[P, Coroutine[Any, Any, LMResponse]]: ...
    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, Any]], /
    ) -> Callable[P, Coroutine[Any, Any, LMResponse]]: ...
    @overload
    def __call__(self, fn: Callable[P, Iterator[Any]], /) -> Callable[P, LMResponse]: ...
    @overload
    def __call__(self, fn: Callable[P, str], /) -> Callable[P, LMResponse]: ...


@overload
def lm(fn: Callable[P, AsyncIterator[Any]], /) -> Callable[P, Coroutine[Any, Any, LMResponse]]: ...
@overload
def lm(
    fn: Callable[P, Coroutine[Any, Any, Any]], /
) -> Callable[P, Coroutine[Any, Any, LMResponse]]: ...
@overload
def lm(fn: Callable[P, Iterator[Any]], /) -> Callable[P, LMResponse]: ...
@overload
def lm(fn: Callable[P, str], /) -> Callable[P, LMResponse]: ...
@overload
def lm(*, name: Optional[str] = None) -> LMDecorator: ...
def lm(fn: Optional[Callable[..., Any]] = None, /, *, name: Optional[str] = None) -> Any:
    """Instrument a function that calls a language model: ``@lm`` or ``@lm(name=...)``.

    The function returns ``str``, or produces chunks (a sync or async generator, or an SDK
    stream returned as is): ``str`` text and the raw chunks of the OpenAI Chat Completions
    (and OpenAI-compatible servers, litellm), OpenAI Responses and Anthropic Messages
    streams, as SDK objects or dicts, mixed freely.  The decorated function returns an
    :class:`LMResponse` (awaitable if the original was async): the text, as a ``str``, with
    ``.reasoning``, ``.tool_calls``, ``.usage`` and ``.finish_reason``.  Inside a stream, text
    goes to the listeners that follow the enclosing ``@module`` call, native reasoning to a
    listener on its reasoning field, tool-call arguments to ``tool=`` listeners, and usage
    into the run's totals (``Prediction.get_lm_usage()``).

    Raises ``TypeError`` for a chunk of no known shape (naming its type and the accepted
    shapes) and :class:`LMStreamError` when the provider's stream reports an error; either is
    raised in the ``@lm`` call, so the program sees it.
    """
    check_name(name, "lm")

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        return cast("Callable[..., Any]", _decorate(function, "lm", name))

    return decorate if fn is None else decorate(fn)


def component_of(obj: Any) -> Optional[Component]:
    """The ``Component`` behind a decorated function or bound method, else ``None``."""
    component = getattr(obj, "__streamify__", None)
    if isinstance(component, Component):
        return component
    function = getattr(obj, "__func__", None)
    component = getattr(function, "__streamify__", None)
    return component if isinstance(component, Component) else None
