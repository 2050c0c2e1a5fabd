"""Exceptions raised by streamify.

Hierarchy::

    Exception
     └── StreamifyError            base of everything streamify raises on its own
          ├── StreamClosedError    emit() into a stream whose program has already finished
          ├── CallbackError        a callback or status provider failed in strict mode
          └── LMStreamError        an LLM provider's stream reported an error (in _lm_chunks)

Bad arguments are refused with the built-in ``TypeError`` / ``ValueError`` when a stream or a
listener is built, never mid-stream.  A program that is stopped because its consumer left sees
``asyncio.CancelledError`` at its next await (async programs) or at its next ``emit_sync`` /
instrumented call (sync programs in a worker thread), so ``except Exception`` blocks in user
code do not swallow the stop.  The program's own exceptions always reach the consumer as the
same object, never wrapped.
"""

from __future__ import annotations

__all__ = ("CallbackError", "StreamClosedError", "StreamifyError")


class StreamifyError(Exception):
    """Base class of the exceptions streamify raises itself."""


class StreamClosedError(StreamifyError, RuntimeError):
    """An item was emitted into a stream that has already ended.

    This happens when code the program started (a thread or a task that outlives it) keeps
    emitting after the program returned.  Join such threads and tasks before returning.
    """


class CallbackError(StreamifyError):
    """A callback or status message provider raised while strict mode was on.

    The original exception is the ``__cause__``.  Without strict mode the failure is logged
    with its traceback on the ``streamify`` logger and the program goes on.
    """
