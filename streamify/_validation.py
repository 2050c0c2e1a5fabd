"""Wrap-time checks: what ``streamify()`` and the decorators refuse, with the fix in the message.

Each check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, wrong
value) and returns the value in the form the caller keeps.  The listener checks that need the
program's modules live in ``_routing`` (which module a listener follows); settings are checked
in ``_context``, field formats in ``_formats``.
"""

from __future__ import annotations

import functools
import inspect
import math
import threading
from collections.abc import Sequence
from typing import Any, Callable, Optional

from ._callbacks import StatusMessageProvider
from ._listener import StreamListener, check_field_format

__all__ = (
    "check_bool",
    "check_buffer_size",
    "check_listeners",
    "check_program",
    "check_provider",
    "check_module_format",
    "check_name",
    "check_outputs",
    "check_timeout",
    "is_async_callable",
    "is_async_generator_callable",
)


def _describe(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__name__


def check_program(program: Any, is_async_program: bool) -> tuple[Callable[..., Any], bool]:
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


def check_listeners(stream_listeners: Any) -> tuple[StreamListener, ...]:
    """The listeners as a tuple; refuses a single listener, non-listeners and duplicates."""
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
    return tuple(stream_listeners)


def check_provider(status_message_provider: Any) -> StatusMessageProvider:
    """The provider to use: DSPy's default for ``None``; refuses a class or a non-provider."""
    # The same two refusals as _context's for callbacks (a class; not an instance of the base
    # class), kept apart because each message names its own parameter and base class.
    if status_message_provider is None:
        return StatusMessageProvider()
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
    return status_message_provider


def check_buffer_size(buffer_size: Any) -> int:
    """``buffer_size`` if it is an int >= 1."""
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
    return int(buffer_size)


def check_timeout(value: Any, name: str) -> Optional[float]:
    """Seconds as a float, or ``None`` for no limit (also for waits no clock can make)."""
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


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a bool (``1`` / ``None`` are refused: they hide typos)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} takes True or False, got {type(value).__name__}")
    return value


def check_name(name: Any, kind: str) -> Optional[str]:
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"@{kind}(name=...) takes a non-empty str, got {name!r}")
    return name


def check_outputs(outputs: Any) -> tuple[str, ...]:
    if isinstance(outputs, str):
        raise TypeError(
            f"@module(outputs=...) takes a tuple of field names, got the str {outputs!r}; "
            f"write outputs=({outputs!r},)"
        )
    if not isinstance(outputs, Sequence):
        raise TypeError(f"@module(outputs=...) takes a tuple of str, got {type(outputs).__name__}")
    for field in outputs:
        if not isinstance(field, str) or not field.isidentifier():
            raise ValueError(f"@module(outputs=...) takes field names (identifiers), got {field!r}")
    return tuple(outputs)


def check_module_format(field_format: Any) -> Any:
    if field_format is None:
        return None
    return check_field_format(field_format, "@module(field_format=...)")


def is_async_callable(obj: Any) -> bool:
    """Whether calling ``obj`` returns a coroutine: an async function, a ``functools.partial``
    of one, or an object whose ``__call__`` is async.  ``streamify()`` and the decorators
    decide "async or sync" with this one test."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return inspect.iscoroutinefunction(call)


def is_async_generator_callable(obj: Any) -> bool:
    """Whether calling ``obj`` returns an async generator (the same unwrapping)."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.isasyncgenfunction(obj):
        return True
    return inspect.isasyncgenfunction(getattr(obj, "__call__", None))  # noqa: B004
