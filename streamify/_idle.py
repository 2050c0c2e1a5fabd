"""Idle ticks: how a response gets a keepalive out of a streamify stream without a task hop.

A response with keepalive must send a frame while the stream has no item, yet it must never
cancel the stream's pending step (that would kill an async generator), and a helper task per
step costs a task hop per item.  A streamify stream can do better, because it knows when it
waits: a response registers the stream's generator *frame* in ``TICKS`` with its keepalive
interval, and while the stream waits for an item (only then: the per-item path is untouched)
it wakes after that many seconds, by a timer on its channel, and yields ``IDLE`` instead of an
item.  The response turns ``IDLE`` into a keepalive frame and steps the stream again, which
goes on waiting where it was: nothing was cancelled, no item is lost or reordered.

Invariants:

* ``IDLE`` is yielded only by the generator whose frame is registered, hence only to the
  response that registered it: the frame identifies one stream call, so an inner stream
  iterated by the program, or a wrapper around the stream, never sees a tick.
* The response removes its entry whatever its exit, before it closes the stream; an
  unregistered stream waits untimed, exactly as if no response had asked.
* A stream's ``idle_timeout`` counts from the start of the wait, across ticks.

Batching.  The same frame also keys ``BUFFERS``: a response puts a one-slot list there before
the stream's first step, and the stream puts its channel's buffer of waiting items in it.
While that buffer is not empty the stream's next step returns at once, with no suspension,
so the response may take those items too and send their frames in one write (one ``send`` of
the server instead of one per item): no item waits longer for it, and as nothing can happen
between those steps, every ending stays as it was.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ("BUFFERS", "IDLE", "TICKS")


class _Idle:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<streamify idle tick>"


IDLE: Final = _Idle()
"""What a registered stream yields when it has waited a keepalive interval for an item."""

TICKS: dict[object, float] = {}
"""Generator frame of a stream -> keepalive interval in seconds (see the module docstring)."""

BUFFERS: dict[object, list[Any]] = {}
"""Generator frame of a stream -> ``[its buffered items]`` (see "Batching" above)."""
