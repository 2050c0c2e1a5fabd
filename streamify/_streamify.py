"""``streamify()``: validate once, when wrapping, and return the per-call stream factory."""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import threading
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any, Callable, Literal, Optional, TypeVar, Union, overload

from typing_extensions import ParamSpec

from ._callbacks import StatusMessageProvider
from ._instrument import component_of, is_async_callable
from ._listener import StreamListener
from ._stream import StreamSpec, astream
from ._sync import sync_stream

__all__ = ("streamify",)

P = ParamSpec("P")
R = TypeVar("R")


def _describe(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


def _check_program(program: Any, is_async_program: bool) -> tuple[Callable[..., Any], bool]:
    """The callable to run and whether it is async; refuses what cannot be streamed."""
    if inspect.iscoroutine(program) or inspect.isawaitable(program):
        raise TypeError(
            "streamify() takes the program itself, not a coroutine or awaitable: write "
            "streamify(program), not streamify(program())"
        )
    if inspect.isclass(program):
        raise TypeError(
            f"streamify() got the class {program.__name__}; pass an instance "
            f"(streamify({program.__name__}())) or a function"
        )
    if not callable(program):
        raise TypeError(
            f"streamify() takes a callable program (a function, method or object with "
            f"__call__), got {type(program).__name__}"
        )
    target = program
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target):
        raise TypeError(
            f"streamify() cannot wrap the generator function {_describe(target)}: a program "
            "returns its result; send items while it runs with emit() / emit_sync() instead "
            "of yielding them"
        )
    if is_async_program:
        acall = getattr(program, "acall", None)
        if acall is not None and callable(acall):
            return acall, True
        if not is_async_callable(program):
            raise TypeError(
                f"is_async_program=True, but {_describe(program)} is neither an async callable "
                "nor an object with an async acall(); drop the flag to run a sync program in a "
                "worker thread"
            )
        return program, True
    return program, is_async_callable(program)


def _check_listeners(stream_listeners: Any) -> tuple[Any, ...]:
    if stream_listeners is None:
        return ()
    if isinstance(stream_listeners, StreamListener):
        raise TypeError(
            "stream_listeners takes a list of StreamListener, got a single one; "
            "write stream_listeners=[listener]"
        )
    if isinstance(stream_listeners, (str, bytes)) or not isinstance(stream_listeners, Sequence):
        raise TypeError(
            "stream_listeners takes a list of StreamListener, got "
            f"{type(stream_listeners).__name__}"
        )
    seen: set[tuple[str, int, Optional[str]]] = set()
    for listener in stream_listeners:
        if not isinstance(listener, StreamListener):
            raise TypeError(
                f"stream_listeners takes StreamListener instances, got {type(listener).__name__}"
            )
        key = (listener.signature_field_name, id(listener.predict), listener.predict_name)
        if key in seen:
            raise ValueError(
                f"two listeners for field {listener.signature_field_name!r} of the same module; "
                "keep one (use allow_reuse=True to stream the field more than once)"
            )
        seen.add(key)
        _check_predict(listener)
    return tuple(stream_listeners)


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


def _check_listener_targets(listeners: tuple[Any, ...], program: Any) -> None:
    """Refuse, when wrapping, what the program's visible modules show to be wrong.

    The visible modules are the ``@module`` methods of the program's class (or the program
    itself, if it is one).  An automatic listener that two of them match is ambiguous.  A
    field or ``predict_name`` that none of them has, but that is one typo away from one they
    have, is refused with the likely fix.  Anything else may be produced by a module the
    program reaches some other way; a listener that then never follows any module is reported
    when the call ends (see ``StreamCall.check_listeners_followed``).
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


def _check_predict(listener: Any) -> None:
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


def _check_timeout(value: Any, name: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} takes seconds as a number or None, got {type(value).__name__}")
    if not value > 0:  # NaN included
        raise ValueError(f"{name} must be > 0 seconds (or None for no limit), got {value}")
    seconds = float(value) if value < threading.TIMEOUT_MAX else math.inf
    if seconds >= threading.TIMEOUT_MAX:
        # inf, or longer than the platform's clocks can wait (about 292 years): no limit,
        # the same in both consumers (a thread cannot wait that long without OverflowError).
        return None
    return seconds


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} takes True or False, got {type(value).__name__}")
    return value


# The overloads repeat the signature on purpose: each pins the return type for one way of
# passing async_streaming (typing has no shorter spelling of "this flag picks the type").
@overload
def streamify(
    program: Callable[P, Any],
    status_message_provider: Optional[StatusMessageProvider] = None,
    stream_listeners: Optional[Sequence[StreamListener]] = None,
    include_final_prediction_in_output_stream: bool = True,
    is_async_program: bool = False,
    async_streaming: Literal[True] = True,
    *,
    buffer_size: int = 16,
    strict: Optional[bool] = None,
    timeout: Optional[float] = None,
    idle_timeout: Optional[float] = None,
) -> Callable[P, AsyncGenerator[Any, None]]: ...
@overload
def streamify(
    program: Callable[P, Any],
    status_message_provider: Optional[StatusMessageProvider] = None,
    stream_listeners: Optional[Sequence[StreamListener]] = None,
    include_final_prediction_in_output_stream: bool = True,
    is_async_program: bool = False,
    *,
    async_streaming: Literal[False],
    buffer_size: int = 16,
    strict: Optional[bool] = None,
    timeout: Optional[float] = None,
    idle_timeout: Optional[float] = None,
) -> Callable[P, Generator[Any, None, None]]: ...
@overload
def streamify(
    program: Callable[P, Any],
    status_message_provider: Optional[StatusMessageProvider],
    stream_listeners: Optional[Sequence[StreamListener]],
    include_final_prediction_in_output_stream: bool,
    is_async_program: bool,
    async_streaming: Literal[False],
    *,
    buffer_size: int = 16,
    strict: Optional[bool] = None,
    timeout: Optional[float] = None,
    idle_timeout: Optional[float] = None,
) -> Callable[P, Generator[Any, None, None]]: ...
@overload
def streamify(
    program: Callable[P, Any],
    status_message_provider: Optional[StatusMessageProvider] = None,
    stream_listeners: Optional[Sequence[StreamListener]] = None,
    include_final_prediction_in_output_stream: bool = True,
    is_async_program: bool = False,
    async_streaming: bool = True,
    *,
    buffer_size: int = 16,
    strict: Optional[bool] = None,
    timeout: Optional[float] = None,
    idle_timeout: Optional[float] = None,
) -> Union[Callable[P, AsyncGenerator[Any, None]], Callable[P, Generator[Any, None, None]]]: ...
def streamify(
    program: Callable[P, Any],
    status_message_provider: Optional[StatusMessageProvider] = None,
    stream_listeners: Optional[Sequence[StreamListener]] = None,
    include_final_prediction_in_output_stream: bool = True,
    is_async_program: bool = False,
    async_streaming: bool = True,
    *,
    buffer_size: int = 16,
    strict: Optional[bool] = None,
    timeout: Optional[float] = None,
    idle_timeout: Optional[float] = None,
) -> Union[Callable[P, AsyncGenerator[Any, None]], Callable[P, Generator[Any, None, None]]]:
    """Wrap ``program`` so that calling it returns a live stream of what it does.

    The wrapper takes the program's own arguments.  Iterating what it returns starts the
    program and yields, while it runs: :class:`StatusMessage` items from
    ``status_message_provider`` (DSPy's default provider if ``None``), :class:`StreamResponse`
    token chunks from ``stream_listeners``, the custom items the program passes to
    ``emit()`` / ``emit_sync()``, and last, exactly once, the result as a :class:`Prediction`
    (left out when ``include_final_prediction_in_output_stream=False`` and a listener streamed
    something).

    Async programs (async functions, objects with an async ``__call__``, or ``program.acall``
    with ``is_async_program=True``) run as a task on the consumer's loop; sync programs run in
    a worker thread.  ``async_streaming=False`` returns a sync generator instead.

    Keyword-only extras: ``buffer_size`` (>= 1) is the most items that may wait between the
    program and the consumer; ``strict=True`` makes a failing callback or status provider
    raise into the program instead of being logged (``None``: the ``configure`` setting);
    ``timeout`` limits the whole run and ``idle_timeout`` the wait for any one item, in
    seconds: either cancels the program and raises ``TimeoutError`` to the consumer.
    """
    call_program, is_async = _check_program(
        program, _check_bool(is_async_program, "is_async_program")
    )
    if status_message_provider is None:
        provider = StatusMessageProvider()
    elif isinstance(status_message_provider, type):
        raise TypeError(
            f"status_message_provider got the class {status_message_provider.__name__}; pass "
            f"an instance: {status_message_provider.__name__}()"
        )
    elif not isinstance(status_message_provider, StatusMessageProvider):
        raise TypeError(
            "status_message_provider takes a StatusMessageProvider instance (subclass "
            f"streamify.StatusMessageProvider), got {type(status_message_provider).__name__}"
        )
    else:
        provider = status_message_provider
    listeners = _check_listeners(stream_listeners)
    _check_listener_targets(listeners, program)
    include_final = _check_bool(
        include_final_prediction_in_output_stream, "include_final_prediction_in_output_stream"
    )
    sync_output = not _check_bool(async_streaming, "async_streaming")
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int):
        raise TypeError(
            f"buffer_size takes an int >= 1 (the most items waiting for the consumer), "
            f"got {type(buffer_size).__name__}"
        )
    if buffer_size < 1:
        raise ValueError(
            f"buffer_size must be >= 1, got {buffer_size}; 1 is the tightest hand-off "
            "(the program waits for the consumer after every item)"
        )
    if strict is not None:
        _check_bool(strict, "strict")
    spec = StreamSpec(
        call_program=call_program,
        is_async=is_async,
        provider=provider,
        listeners=listeners,
        include_final=include_final,
        buffer_size=buffer_size,
        strict=strict,
        timeout=_check_timeout(timeout, "timeout"),
        idle_timeout=_check_timeout(idle_timeout, "idle_timeout"),
    )

    if sync_output:

        def sync_streamer(*args: P.args, **kwargs: P.kwargs) -> Generator[Any, None, None]:
            return sync_stream(spec, args, kwargs)

        return _named(sync_streamer, program)

    def streamer(*args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[Any, None]:
        return astream(spec, args, kwargs)

    return _named(streamer, program)


_F = TypeVar("_F", bound=Callable[..., Any])


def _named(wrapper: _F, program: Any) -> _F:
    name = getattr(program, "__name__", type(program).__name__)
    wrapper.__name__ = f"streamified_{name}"
    wrapper.__qualname__ = wrapper.__name__
    wrapper.__doc__ = getattr(program, "__doc__", None)
    wrapper.__wrapped__ = program  # type: ignore[attr-defined]
    return wrapper
