"""The built-in protocols by name, and what ``protocol=`` accepts.

Each built-in lives in a module of its own (``_protocol_<name>.py``); adding one is a line in
``_BUILTINS``.
"""

from __future__ import annotations

from typing import Union

from ._protocol import StreamifyProtocol, StreamProtocol

__all__ = ("ProtocolArg", "get_protocol", "protocol_names")

ProtocolArg = Union[str, StreamProtocol, "type[StreamProtocol]"]
"""What ``protocol=`` accepts: a built-in protocol's name, a protocol object or class."""

_BUILTINS: dict[str, type[StreamProtocol]] = {cls.name: cls for cls in (StreamifyProtocol,)}


def protocol_names() -> tuple[str, ...]:
    """The names of the built-in protocols."""
    return tuple(_BUILTINS)


def get_protocol(protocol: ProtocolArg) -> StreamProtocol:
    """The protocol template for ``protocol=``: a built-in's name, an instance or a subclass."""
    if isinstance(protocol, StreamProtocol):
        return protocol
    if isinstance(protocol, type) and issubclass(protocol, StreamProtocol):
        return protocol()
    if isinstance(protocol, str):
        found = _BUILTINS.get(protocol)
        if found is None:
            names = ", ".join(repr(name) for name in _BUILTINS)
            raise ValueError(
                f"unknown protocol {protocol!r}; the built-in protocols are {names}, or pass "
                "an instance of a streamify.StreamProtocol subclass"
            )
        return found()
    raise TypeError(
        "protocol must be a built-in protocol's name or a streamify.StreamProtocol instance "
        f"or subclass, got {type(protocol).__name__}"
    )
