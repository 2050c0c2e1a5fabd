"""Settings and the context variables that carry the current stream and call.

One ``ContextVar`` per concern:

* ``_settings`` — a scoped :class:`Settings` override set by :func:`context`; when unset, the
  process-wide defaults set by :func:`configure` apply.  Settings are read at call time, never
  snapshotted when a program is wrapped.
* ``CURRENT_RUN`` — the stream run the running program feeds (set inside the stream's own
  producer task, so the consumer and other calls never see it).
* ``CURRENT_CALL`` — the innermost instrumented call (its id, parent and enclosing module), for
  correlation ids and for tagging LM chunks with their module.

Because asyncio tasks and our worker threads copy the context, all three follow the program
into its tasks, threads and callbacks.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from ._callbacks import BaseCallback
    from ._events import ActiveRun
    from ._instrument import CallFrame

__all__ = (
    "CURRENT_CALL",
    "CURRENT_RUN",
    "Settings",
    "configure",
    "context",
    "current_settings",
    "override_settings",
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The settings :func:`configure` and :func:`context` accept.

    ``callbacks``: the :class:`BaseCallback` objects that instrumented calls notify.
    ``strict``: when true, a failing callback or status provider raises ``CallbackError`` into
    the program (and so to the consumer) instead of being logged.
    ``thread_limit``: how many ``asyncify`` calls may run at once in the process (default 40;
    a stream's own sync program takes no slot of it).
    """

    callbacks: tuple[BaseCallback, ...] = ()
    strict: bool = False
    thread_limit: int = 40


_FIELDS = frozenset(field.name for field in dataclasses.fields(Settings))

_defaults = Settings()
_settings: ContextVar[Optional[Settings]] = ContextVar("streamify.settings", default=None)

CURRENT_RUN: ContextVar[Optional[ActiveRun]] = ContextVar("streamify.current_run", default=None)
CURRENT_CALL: ContextVar[Optional[CallFrame]] = ContextVar("streamify.current_call", default=None)


def current_settings() -> Settings:
    """The settings in force here: the innermost :func:`context`, else :func:`configure`'s."""
    scoped = _settings.get()
    return _defaults if scoped is None else scoped


def _validated(base: Settings, settings: dict[str, Any], where: str) -> Settings:
    from ._callbacks import BaseCallback

    unknown = sorted(set(settings) - _FIELDS)
    if unknown:
        raise TypeError(
            f"{where}() got unknown setting(s) {', '.join(unknown)}; "
            f"known settings: {', '.join(sorted(_FIELDS))}"
        )
    if "callbacks" in settings:
        callbacks = settings["callbacks"]
        if callbacks is None:
            callbacks = ()
        if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Sequence):
            raise TypeError(
                f"{where}(callbacks=...) takes a list of BaseCallback instances, "
                f"got {type(callbacks).__name__}"
            )
        for callback in callbacks:
            if isinstance(callback, type):
                raise TypeError(
                    f"{where}(callbacks=...) got the class {callback.__name__}; "
                    f"pass an instance: {callback.__name__}()"
                )
            if not isinstance(callback, BaseCallback):
                raise TypeError(
                    f"{where}(callbacks=...) takes BaseCallback instances, got "
                    f"{type(callback).__name__}; subclass streamify.BaseCallback"
                )
        settings["callbacks"] = tuple(callbacks)
    if "strict" in settings and not isinstance(settings["strict"], bool):
        raise TypeError(
            f"{where}(strict=...) takes a bool, got {type(settings['strict']).__name__}"
        )
    if "thread_limit" in settings:
        limit = settings["thread_limit"]
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"{where}(thread_limit=...) takes an int, got {type(limit).__name__}")
        if limit < 1:
            raise ValueError(f"{where}(thread_limit=...) must be >= 1, got {limit}")
    return dataclasses.replace(base, **settings)


if TYPE_CHECKING:
    # What type checkers and editors see: the known settings, by name, so that a misspelt
    # one is an error before it runs.  At run time the same call is validated by
    # ``_validated``, whose messages list the known settings.

    def configure(
        *,
        callbacks: Optional[Sequence[BaseCallback]] = ...,
        strict: bool = ...,
        thread_limit: int = ...,
    ) -> None: ...

    def context(
        *,
        callbacks: Optional[Sequence[BaseCallback]] = ...,
        strict: bool = ...,
        thread_limit: int = ...,
    ) -> contextlib.AbstractContextManager[Settings]: ...

else:

    def configure(**settings: Any) -> None:
        """Set process-wide defaults, e.g. ``configure(callbacks=[MyCallback()])``.

        The settings, by keyword (those not given keep their value): ``callbacks``, a list of
        :class:`BaseCallback` instances (``None``: none); ``strict``, whether a failing
        callback or status provider raises ``CallbackError`` into the program; ``thread_limit``
        (int >= 1), how many ``asyncify`` calls run at once in the process.  Applies everywhere
        no :func:`context` block overrides it.  ``streamify`` itself never calls this: a
        stream's status provider and listeners are per call.  Returns nothing.  Raises
        ``TypeError`` for an unknown setting or a value of the wrong type, ``ValueError`` for a
        bad value.
        """
        global _defaults
        _defaults = _validated(_defaults, dict(settings), "configure")

    @contextlib.contextmanager
    def context(**settings: Any) -> Iterator[Settings]:
        """Override settings inside a ``with`` block, for this task/thread and what it starts.

        ``with streamify.context(callbacks=[Tracer()]): ...``.  Takes the ``settings`` of
        :func:`configure` (``callbacks``, ``strict``, ``thread_limit``); those not given keep
        the value in force.  Nested blocks start from the settings in force when they are
        entered.  Yields the :class:`Settings` in force inside the block.  Raises as
        :func:`configure` does, when the block is entered.
        """
        scoped = _validated(current_settings(), dict(settings), "context")
        token = _settings.set(scoped)
        try:
            yield scoped
        finally:
            _settings.reset(token)


def override_settings(**settings: Any) -> None:
    """Set settings for the rest of the current context (used inside a stream's own task)."""
    _settings.set(_validated(current_settings(), dict(settings), "streamify"))
