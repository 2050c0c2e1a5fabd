"""The built-in protocols by name, and what ``protocol=`` accepts.

Each built-in lives in a module of its own (``_protocol_<name>.py``); adding one is a line in
``_BUILTINS``.
"""

from __future__ import annotations

from typing import Union

from ._protocol import StreamifyProtocol, StreamProtocol
from ._protocol_agui import AGUIProtocol
from ._protocol_dspy import DSPyProtocol
from ._protocol_openai import OpenAIResponsesProtocol
from ._protocol_vercel import VercelUIProtocol

__all__ = ("ProtocolArg", "get_protocol", "protocol_headers", "protocol_names")

ProtocolArg = Union[str, StreamProtocol, "type[StreamProtocol]"]
"""What ``protocol=`` accepts: a built-in protocol's name, a protocol object or class."""

_BUILTINS: dict[str, type[StreamProtocol]] = {
    StreamifyProtocol.name: StreamifyProtocol,
    OpenAIResponsesProtocol.name: OpenAIResponsesProtocol,
    DSPyProtocol.name: DSPyProtocol,
    VercelUIProtocol.name: VercelUIProtocol,
    AGUIProtocol.name: AGUIProtocol,
}


def protocol_names() -> tuple[str, ...]:
    """The names of the built-in protocols."""
    return tuple(_BUILTINS)


def get_protocol(protocol: ProtocolArg) -> StreamProtocol:
    """The protocol template for ``protocol=``: a built-in's name, an instance or a subclass."""
    if isinstance(protocol, StreamProtocol):
        return protocol
    if isinstance(protocol, type) and issubclass(protocol, StreamProtocol):
        try:
            return protocol()
        except TypeError as error:
            raise TypeError(
                f"the protocol class {protocol.__name__} cannot be made without arguments "
                f"({error}); pass an instance of it instead"
            ) from error
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


def protocol_headers(
    protocol: ProtocolArg = "streamify", *, ndjson: bool = False
) -> dict[str, str]:
    """The HTTP headers a response in ``protocol`` needs, ``content-type`` included.

    :param protocol: what ``protocol=`` accepts: a built-in's name (see
        :func:`protocol_names`), a :class:`StreamProtocol` instance or subclass.
    :param ndjson: the headers of an NDJSON response instead of a Server-Sent Events one.
    :returns: a new dict, lower-case header names to values, to pass to the framework's
        response (``StreamingResponse(frames, headers=protocol_headers("vercel-ui"))``).
    :raises ValueError: an unknown name, or ``ndjson=True`` for a protocol defined over
        Server-Sent Events only.
    :raises TypeError: ``protocol`` or ``ndjson`` of the wrong type.
    """
    if not isinstance(ndjson, bool):
        raise TypeError(f"protocol_headers() ndjson must be True or False, got {ndjson!r}")
    template = get_protocol(protocol)
    if ndjson and template.sse_only:
        raise ValueError(
            f"the {template.name!r} protocol is defined over Server-Sent Events only; "
            "call protocol_headers() without ndjson=True"
        )
    return template.response_headers(ndjson=ndjson)
