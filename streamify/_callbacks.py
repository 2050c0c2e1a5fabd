"""The user-facing hooks: ``BaseCallback``, ``StatusMessageProvider``, and failure handling.

Every instrumented call (``@module``, ``@tool``, ``@lm``) fires a start event before it runs
and an end event after, in the thread and context of the call.  Two kinds of listener see them:

* the :class:`BaseCallback` objects in the settings in force (``configure`` / ``context``);
* the stream the call runs in, if any, which turns events into :class:`StatusMessage` items
  through its :class:`StatusMessageProvider`.

The dispatch itself (the kind -> method table, the order, status messages) is ``_events``.

A listener that raises is logged with its traceback on the ``streamify`` logger and the
program goes on; in strict mode the failure is raised into the program as ``CallbackError``.
``BaseException``s that are not ``Exception`` (cancellation, ``KeyboardInterrupt``) always
propagate.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Optional

from ._exceptions import CallbackError

if TYPE_CHECKING:
    from ._instrument import Component

__all__ = ("BaseCallback", "StatusMessageProvider", "handle_listener_failure", "logger")

logger = logging.getLogger("streamify")


class BaseCallback:
    """Receives the start and end of every instrumented call; override what you need.

    ``call_id`` is unique per call and the same in the start and end events; ``instance`` is
    the instrumented component (it has ``.name``, ``.kind`` and, for methods, ``.owner``);
    ``inputs`` are the bound arguments without ``self``.  Handlers run in the thread of the
    call: keep them quick, and never block in one that runs on the event loop.
    """

    def on_module_start(self, call_id: str, instance: Component, inputs: dict[str, Any]) -> None:
        """An instrumented module call ``call_id`` is about to run: ``instance`` is its
        :class:`Component`, ``inputs`` its bound arguments (defaults applied, no ``self``).
        Returns nothing; an exception raised here is logged (raised in strict mode)."""

    def on_module_end(
        self, call_id: str, outputs: Optional[Any], exception: Optional[BaseException] = None
    ) -> None:
        """The module call ``call_id`` has ended: ``outputs`` is what it returned (``None`` if
        it raised), ``exception`` what it raised (``None`` if it returned).  Returns nothing;
        an exception raised here is logged (raised in strict mode)."""

    def on_tool_start(self, call_id: str, instance: Component, inputs: dict[str, Any]) -> None:
        """An instrumented tool call ``call_id`` is about to run: ``instance`` is its
        :class:`Component`, ``inputs`` its bound arguments (defaults applied, no ``self``).
        Returns nothing; an exception raised here is logged (raised in strict mode)."""

    def on_tool_end(
        self, call_id: str, outputs: Optional[Any], exception: Optional[BaseException] = None
    ) -> None:
        """The tool call ``call_id`` has ended: ``outputs`` is what it returned (``None`` if
        it raised), ``exception`` what it raised (``None`` if it returned).  Returns nothing;
        an exception raised here is logged (raised in strict mode)."""

    def on_lm_start(self, call_id: str, instance: Component, inputs: dict[str, Any]) -> None:
        """An instrumented LM call ``call_id`` is about to run: ``instance`` is its
        :class:`Component`, ``inputs`` its bound arguments (defaults applied, no ``self``).
        Returns nothing; an exception raised here is logged (raised in strict mode)."""

    def on_lm_end(
        self, call_id: str, outputs: Optional[Any], exception: Optional[BaseException] = None
    ) -> None:
        """The LM call ``call_id`` has ended: ``outputs`` is what it returned (``None`` if
        it raised), ``exception`` what it raised (``None`` if it returned).  Returns nothing;
        an exception raised here is logged (raised in strict mode)."""


class StatusMessageProvider:
    """Turns call events into human-readable status messages; return ``None`` for none.

    The defaults are DSPy's: a message when a tool starts and when it ends, nothing for modules
    and LM calls.  Subclass and override the hooks you want to change.  A hook that raises is
    logged with its traceback and the program goes on (no message); in strict mode the failure
    is raised into the program as :class:`CallbackError`.
    """

    def tool_start_status_message(
        self, instance: Component, inputs: dict[str, Any]
    ) -> Optional[str]:
        """The message when a tool call starts, or ``None`` for none.

        ``instance`` is the call's :class:`Component` (``instance.name`` is the tool's name),
        ``inputs`` its bound arguments.  The default is ``"Calling tool <name>..."``.  What
        this raises is logged, or raised into the program in strict mode (as for every hook).
        """
        return f"Calling tool {instance.name}..."

    def tool_end_status_message(self, outputs: Any) -> Optional[str]:
        """The message when a tool call returns, or ``None``; ``outputs`` is what it returned.

        A call that raised has no end message.  The default is DSPy's "Tool calling finished!
        Querying the LLM with tool calling results...".
        """
        return "Tool calling finished! Querying the LLM with tool calling results..."

    def module_start_status_message(
        self, instance: Component, inputs: dict[str, Any]
    ) -> Optional[str]:
        """The message when a module call starts, or ``None`` (the default) for none;
        ``instance`` is the call's :class:`Component`, ``inputs`` its bound arguments."""
        return None

    def module_end_status_message(self, outputs: Any) -> Optional[str]:
        """The message when a module call returns, or ``None`` (the default) for none;
        ``outputs`` is what it returned."""
        return None

    def lm_start_status_message(self, instance: Component, inputs: dict[str, Any]) -> Optional[str]:
        """The message when an ``@lm`` call starts, or ``None`` (the default) for none;
        ``instance`` is the call's :class:`Component`, ``inputs`` its bound arguments."""
        return None

    def lm_end_status_message(self, outputs: Any) -> Optional[str]:
        """The message when an ``@lm`` call returns, or ``None`` (the default) for none;
        ``outputs`` is what it returned."""
        return None

    def tool_call_status_message(
        self, instance: Component, tool_name: str, tool_call_id: str
    ) -> Optional[str]:
        """The LM has started a native tool call (its arguments are still streaming).

        ``instance`` is the ``@lm`` component, ``tool_name`` the tool the LM calls and
        ``tool_call_id`` the provider's id for the call (``""`` when it sent none).  The
        default is no message; the message's event is ``"lm_tool_call"``.
        """
        return None


def handle_listener_failure(exc: Exception, what: str, strict: bool) -> None:
    """Log a failing callback/provider with its traceback, or raise it in strict mode."""
    if strict:
        raise CallbackError(f"{what} raised {type(exc).__name__}: {exc}") from exc
    logger.error("%s raised; the program goes on", what, exc_info=exc)
