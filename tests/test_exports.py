"""The public surface: ``__all__`` lists exactly the public names, all importable."""

from __future__ import annotations

import streamify

EXPECTED = {
    "AGUIProtocol",
    "BaseCallback",
    "CallbackError",
    "Component",
    "DSPyProtocol",
    "Event",
    "FieldFormat",
    "FieldScanner",
    "LMResponse",
    "LMStreamError",
    "MarkerFormat",
    "OpenAIResponsesProtocol",
    "MemoryRunStore",
    "PartialResponse",
    "Prediction",
    "RedisRunStore",
    "RunEvent",
    "RunNotFound",
    "RunReply",
    "RunStore",
    "RunStoreUnavailable",
    "Runs",
    "Settings",
    "StatusMessage",
    "StatusMessageProvider",
    "StoredEvent",
    "StreamClosedError",
    "StreamListener",
    "StreamProtocol",
    "StreamResponse",
    "StreamifyProtocol",
    "StreamifyError",
    "ToolCall",
    "Usage",
    "VercelUIProtocol",
    "aiohttp_response",
    "apply_sync_streaming",
    "asyncify",
    "cancel_run_reply",
    "configure",
    "context",
    "emit",
    "emit_sync",
    "encode_item",
    "encode_json",
    "error_payload",
    "last_event_id",
    "lm",
    "module",
    "ndjson_response",
    "ndjson_response_sync",
    "protocol_headers",
    "protocol_names",
    "run_events_reply",
    "start_run_reply",
    "streamify",
    "streaming_response",
    "streaming_response_sync",
    "websocket_stream",
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
