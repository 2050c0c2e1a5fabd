"""Guarantee 8: bad input is refused early and clearly, when ``streamify`` (or a decorator, or
a setting) is built, with a TypeError/ValueError whose message says what to do."""

from __future__ import annotations

import functools
from typing import Any

import pytest

import streamify as sf
from streamify import (
    Prediction,
    StatusMessageProvider,
    asyncify,
    configure,
    context,
    module,
    streamify,
    tool,
)


async def async_program() -> int:
    return 1


def sync_program() -> int:
    return 1


def generator_program() -> Any:
    yield 1


async def async_generator_program() -> Any:
    yield 1


class ProgramClass:
    def __call__(self) -> int:
        return 1


@pytest.mark.parametrize(
    ("program", "error", "fragment"),
    [
        (generator_program, TypeError, "emit() / emit_sync() instead of yielding"),
        (async_generator_program, TypeError, "cannot wrap the generator function"),
        (functools.partial(generator_program), TypeError, "generator function"),
        (ProgramClass, TypeError, "pass an instance"),
        (42, TypeError, "takes a callable program"),
    ],
    ids=["generator", "async-generator", "partial-generator", "class", "int"],
)
def test_programs_that_cannot_be_streamed_are_refused_when_wrapping(
    program: Any, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        streamify(program)
    assert fragment in str(caught.value)


def test_a_coroutine_object_is_refused_with_the_fix() -> None:
    coroutine = async_program()
    try:
        with pytest.raises(TypeError, match=r"streamify\(program\), not streamify\(program\(\)\)"):
            streamify(coroutine)  # type: ignore[call-overload]
    finally:
        coroutine.close()


@pytest.mark.parametrize(
    ("buffer_size", "error", "fragment"),
    [
        (0, ValueError, "buffer_size must be >= 1, got 0"),
        (-3, ValueError, "buffer_size must be >= 1, got -3"),
        (1.5, TypeError, "buffer_size takes an int >= 1"),
        (True, TypeError, "got bool"),
        ("16", TypeError, "got str"),
    ],
)
def test_bad_buffer_sizes_are_refused_with_the_fix(
    buffer_size: Any, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        streamify(async_program, buffer_size=buffer_size)
    assert fragment in str(caught.value)


def test_a_provider_class_instead_of_an_instance_is_refused() -> None:
    with pytest.raises(TypeError, match=r"pass an instance: StatusMessageProvider\(\)"):
        streamify(async_program, StatusMessageProvider)  # type: ignore[call-overload]


def test_a_provider_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(TypeError, match="subclass streamify.StatusMessageProvider"):
        streamify(async_program, object())  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"include_final_prediction_in_output_stream": "yes"}, TypeError, "True or False"),
        ({"async_streaming": 1}, TypeError, "True or False"),
        ({"is_async_program": None}, TypeError, "True or False"),
        ({"strict": "no"}, TypeError, "True or False"),
        ({"timeout": 0}, ValueError, "timeout must be > 0"),
        ({"timeout": "5"}, TypeError, "seconds as a number"),
        ({"idle_timeout": -1.0}, ValueError, "idle_timeout must be > 0"),
        ({"stream_listeners": "answer"}, TypeError, "list of StreamListener"),
        ({"stream_listeners": [object()]}, TypeError, "StreamListener instances"),
    ],
)
def test_bad_options_are_refused_when_wrapping(
    kwargs: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        streamify(async_program, **kwargs)
    assert fragment in str(caught.value)


def test_is_async_program_on_a_sync_function_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match="drop the flag"):
        streamify(sync_program, is_async_program=True)


async def test_is_async_program_uses_acall_when_the_program_has_one() -> None:
    class Program:
        def __call__(self) -> str:
            return "sync"

        async def acall(self) -> str:
            return "async"

    items = [item async for item in streamify(Program(), is_async_program=True)()]
    assert isinstance(items[-1], Prediction) and items[-1].raw == "async"


async def test_an_async_callable_object_is_detected_without_the_flag() -> None:
    class Program:
        async def __call__(self) -> str:
            return "awaited"

    items = [item async for item in streamify(Program())()]
    assert isinstance(items[-1], Prediction) and items[-1].raw == "awaited"


@pytest.mark.parametrize(
    ("settings", "error", "fragment"),
    [
        ({"callbacks": "cb"}, TypeError, "list of BaseCallback instances"),
        ({"callbacks": [object()]}, TypeError, "subclass streamify.BaseCallback"),
        ({"callbacks": [sf.BaseCallback]}, TypeError, "pass an instance: BaseCallback()"),
        ({"strict": 1}, TypeError, "takes a bool"),
        ({"thread_limit": 0}, ValueError, "must be >= 1"),
        ({"colour": "red"}, TypeError, "unknown setting(s) colour"),
    ],
)
def test_bad_settings_are_refused_with_the_fix(
    settings: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        configure(**settings)
    assert fragment in str(caught.value)
    with pytest.raises(error), context(**settings):
        pass


def test_decorators_refuse_what_they_cannot_instrument() -> None:
    with pytest.raises(TypeError, match="only @lm functions may yield"):
        tool(generator_program)
    with pytest.raises(TypeError, match="decorates a function or method"):
        module(ProgramClass)
    with pytest.raises(TypeError, match="write outputs=\\('answer',\\)"):
        module(outputs="answer")
    with pytest.raises(ValueError, match="field names"):
        module(outputs=("not a name",))
    with pytest.raises(TypeError, match="non-empty str"):
        tool(name="")


def test_asyncify_refuses_async_callables_and_bad_limits() -> None:
    with pytest.raises(TypeError, match="await it directly"):
        asyncify(async_program)
    with pytest.raises(ValueError, match="must be >= 1"):
        asyncify(sync_program, limit=0)
    with pytest.raises(TypeError, match="takes an int or None"):
        asyncify(sync_program, limit=2.5)  # type: ignore[arg-type]
