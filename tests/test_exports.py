"""The public surface: ``__all__`` lists exactly the public names, all importable."""

from __future__ import annotations

import streamify

EXPECTED = {
    "BaseCallback",
    "CallbackError",
    "Component",
    "Event",
    "FieldFormat",
    "FieldScanner",
    "LMResponse",
    "LMStreamError",
    "MarkerFormat",
    "PartialResponse",
    "Prediction",
    "Settings",
    "StatusMessage",
    "StatusMessageProvider",
    "StreamClosedError",
    "StreamListener",
    "StreamProtocol",
    "StreamResponse",
    "StreamifyError",
    "ToolCall",
    "Usage",
    "apply_sync_streaming",
    "aprint_stream",
    "asyncify",
    "configure",
    "context",
    "emit",
    "emit_sync",
    "encode_item",
    "encode_json",
    "lm",
    "module",
    "ndjson_response",
    "ndjson_response_sync",
    "print_stream",
    "streamify",
    "streaming_response",
    "streaming_response_sync",
    "tool",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert isinstance(streamify.__all__, tuple)
    assert set(streamify.__all__) == EXPECTED
    public = {name for name in vars(streamify) if not name.startswith("_")}
    assert public - {"streamify"} <= EXPECTED | {"annotations"}


def test_every_public_name_is_defined_and_documented() -> None:
    for name in streamify.__all__:
        obj = getattr(streamify, name)
        assert obj.__doc__, f"{name} has no docstring"
