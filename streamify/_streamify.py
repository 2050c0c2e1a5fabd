"""``streamify()``: validate once, when wrapping, and return the per-call stream factory."""

from __future__ import annotations

# Names in public annotations stay importable at run time, for typing.get_type_hints().
from collections.abc import AsyncGenerator, Generator, Sequence  # noqa: TC003
from typing import Any, Callable, Literal, Optional, TypeVar, Union, overload

from typing_extensions import ParamSpec

from ._callbacks import StatusMessageProvider  # noqa: TC001
from ._consumer import astream
from ._listener import StreamListener  # noqa: TC001
from ._messages import StreamItem  # noqa: TC001
from ._routing import check_listener_targets, check_predict
from ._stream import StreamConfig
from ._sync import sync_stream
from ._validation import (
    check_bool,
    check_buffer_size,
    check_listeners,
    check_program,
    check_provider,
    check_timeout,
)

__all__ = ("streamify",)

P = ParamSpec("P")
R = TypeVar("R")


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
) -> Callable[P, AsyncGenerator[StreamItem, None]]: ...
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
) -> Callable[P, Generator[StreamItem, None, None]]: ...
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
) -> Callable[P, Generator[StreamItem, None, None]]: ...
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
) -> Union[
    Callable[P, AsyncGenerator[StreamItem, None]], Callable[P, Generator[StreamItem, None, None]]
]: ...
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
) -> Union[
    Callable[P, AsyncGenerator[StreamItem, None]], Callable[P, Generator[StreamItem, None, None]]
]:
    """Wrap ``program`` so that calling it returns a live stream of what it does.

    The wrapper takes the program's own arguments.  Iterating what it returns starts the
    program and yields, while it runs: :class:`StatusMessage` items from
    ``status_message_provider`` (DSPy's default provider if ``None``), :class:`StreamResponse`
    token chunks from ``stream_listeners``, the custom items the program passes to
    ``emit()`` / ``emit_sync()``, and last, exactly once, the result as a :class:`Prediction`
    (unless ``include_final_prediction_in_output_stream=False`` and a listener streamed).

    Async programs (async functions, objects with an async ``__call__``, or ``program.acall``
    with ``is_async_program=True``) run as a task on the consumer's loop; sync programs run in
    a worker thread.  ``async_streaming=False`` returns a sync generator instead.  Extras:
    ``buffer_size`` (>= 1) is the most items that may wait between program and consumer;
    ``strict=True`` makes a failing callback or status provider raise into the program, not
    be logged (``None``: the ``configure`` setting); ``timeout`` (the whole run) and
    ``idle_timeout`` (the wait for any one item), in seconds, cancel the program and raise
    ``TimeoutError`` to the consumer.

    Returns the wrapper; the stream re-raises what the program raises, as the same object,
    after the items before it.  Raises ``TypeError`` / ``ValueError`` here, when wrapping, for
    a coroutine instead of the program, a class, a generator function, a provider or
    listeners of the wrong kind, two listeners for one field of one module, bad options.
    """
    config = _checked_config(
        program,
        status_message_provider,
        stream_listeners,
        include_final_prediction_in_output_stream,
        is_async_program,
        buffer_size=buffer_size,
        strict=strict,
        timeout=timeout,
        idle_timeout=idle_timeout,
    )
    if not check_bool(async_streaming, "async_streaming"):

        def sync_streamer(*args: P.args, **kwargs: P.kwargs) -> Generator[StreamItem, None, None]:
            return sync_stream(config, args, kwargs)

        return _named(sync_streamer, program)

    def streamer(*args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[StreamItem, None]:
        return astream(config, args, kwargs)

    return _named(streamer, program)


def _checked_config(
    program: Any,
    status_message_provider: Any,
    stream_listeners: Any,
    include_final: Any,
    is_async_program: Any,
    **extras: Any,
) -> StreamConfig:
    """``streamify()``'s arguments checked (see ``_validation``) into a ``StreamConfig``."""
    call_program, is_async = check_program(
        program, check_bool(is_async_program, "is_async_program")
    )
    listeners = check_listeners(stream_listeners)
    for listener in listeners:
        check_predict(listener)
    check_listener_targets(listeners, program)
    strict = extras["strict"]
    if strict is not None:
        check_bool(strict, "strict")
    return StreamConfig(
        call_program=call_program,
        is_async=is_async,
        provider=check_provider(status_message_provider),
        listeners=listeners,
        include_final=check_bool(include_final, "include_final_prediction_in_output_stream"),
        buffer_size=check_buffer_size(extras["buffer_size"]),
        strict=strict,
        timeout=check_timeout(extras["timeout"], "timeout"),
        idle_timeout=check_timeout(extras["idle_timeout"], "idle_timeout"),
    )


_F = TypeVar("_F", bound=Callable[..., Any])


def _named(wrapper: _F, program: Any) -> _F:
    name = getattr(program, "__name__", type(program).__name__)
    wrapper.__name__ = f"streamified_{name}"
    wrapper.__qualname__ = wrapper.__name__
    wrapper.__doc__ = getattr(program, "__doc__", None)
    wrapper.__wrapped__ = program  # type: ignore[attr-defined]
    return wrapper
