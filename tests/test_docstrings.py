"""Every public callable says what it takes: a docstring that names at least one parameter.

Walks ``streamify.__all__``: each public function, each public class, and each public method,
property, classmethod and staticmethod that a public class defines or inherits from a class of
streamify.  A callable with parameters (besides ``self`` / ``cls``) must have a docstring that
names one of them as a word; a class's own ``__init__`` counts through the class docstring or
its own.  A docstring inherited from the base method (``inspect.getdoc``) counts for an
override.  Exempt: dunder methods, the names that ``dataclass`` / ``NamedTuple`` generate
(compiled from ``<string>``), and what builtins define.  The check is cheap (a word match, not
a proof that every parameter is explained) but real: it finds a bare or stale docstring.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Callable

import streamify

from .test_exports import TYPE_ALIASES

_WORD = r"(?<![A-Za-z0-9_]){}(?![A-Za-z0-9_])"


def _ours(obj: object) -> bool:
    return getattr(obj, "__module__", "").split(".")[0] == "streamify"


def _generated(function: object) -> bool:
    code = getattr(function, "__code__", None)
    return code is not None and code.co_filename == "<string>"


def _parameters(function: Callable[..., Any]) -> list[str]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # no signature to read: nothing to require
        return []
    return [name for name in signature.parameters if name not in ("self", "cls")]


def _problem(label: str, doc: str | None, parameters: list[str]) -> str | None:
    """What is wrong with ``doc`` for a callable taking ``parameters``, or ``None``."""
    if not doc or not doc.strip():
        return f"{label} has no docstring"
    if parameters and not any(re.search(_WORD.format(re.escape(p)), doc) for p in parameters):
        return f"{label} takes {', '.join(parameters)} but its docstring names none of them"
    return None


def _members(cls: type) -> dict[str, object]:
    """The public members ``cls`` has from classes of streamify (nearest definition wins)."""
    members: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if _ours(klass):
            members.update(
                (name, value) for name, value in vars(klass).items() if not name.startswith("_")
            )
    return members


def _class_problems(name: str, cls: type) -> list[str]:
    problems = []
    init = cls.__dict__.get("__init__")
    if init is not None and not _generated(init):
        doc = "\n".join(filter(None, (inspect.getdoc(cls), inspect.getdoc(init))))
        problems.append(_problem(name, doc, _parameters(init)))
    else:
        problems.append(_problem(name, inspect.getdoc(cls), []))
    for member, value in _members(cls).items():
        label = f"{name}.{member}"
        if isinstance(value, property):
            problems.append(_problem(label, inspect.getdoc(value), []))
            continue
        function = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
        if not inspect.isfunction(function) or _generated(function):
            continue  # a class attribute, or made by dataclass / NamedTuple
        inherited = inspect.getdoc(getattr(cls, member))  # an override: its base's docstring
        problems.append(_problem(label, inherited, _parameters(function)))
    return [problem for problem in problems if problem is not None]


def undocumented(names: tuple[str, ...]) -> list[str]:
    """Every docstring problem of the public ``names`` of streamify."""
    problems: list[str] = []
    for name in names:
        if name in TYPE_ALIASES:
            continue  # typing objects: documented in docs/api.md (tests/test_exports.py)
        obj = getattr(streamify, name)
        if inspect.isclass(obj):
            problems.extend(_class_problems(name, obj))
        elif callable(obj):
            problem = _problem(name, inspect.getdoc(obj), _parameters(obj))
            if problem is not None:
                problems.append(problem)
    return problems


def test_every_public_callable_has_a_docstring_naming_its_parameters() -> None:
    problems = undocumented(streamify.__all__)
    assert not problems, "\n".join(problems)


def test_the_check_finds_a_missing_docstring_and_one_that_names_no_parameter() -> None:
    def bare(text: str) -> str:
        return text

    def stale(text: str) -> str:
        """Return the message unchanged."""
        return text

    assert _problem("bare", inspect.getdoc(bare), _parameters(bare)) == "bare has no docstring"
    assert _problem("stale", inspect.getdoc(stale), _parameters(stale)) == (
        "stale takes text but its docstring names none of them"
    )
    assert _problem("fine", "Return ``text`` unchanged.", ["text"]) is None
    assert _problem("prefix", "Return the texts.", ["text"]) is not None  # words, not parts
