"""The public surface: ``__all__`` lists exactly the public names, all importable."""

from __future__ import annotations

from pathlib import Path
from typing import Union

import streamify
from streamify import Prediction, StatusMessage, StreamResponse

# Type aliases are the typing objects themselves (``object``, a ``typing.Union``): they carry
# no docstring or module of their own, so docs/api.md documents them instead.
TYPE_ALIASES = {
    "StreamItem": object,
    "StreamifyItem": Union[StatusMessage, StreamResponse, Prediction],
}

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
    "StreamItem",
    "StreamListener",
    "StreamProtocol",
    "StreamResponse",
    "StreamifyProtocol",
    "StreamifyError",
    "StreamifyItem",
    "ToolCall",
    "Usage",
    "VercelUIProtocol",
    "aiohttp_response",
    "apply_sync_streaming",
    "aprint_stream",
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
    "print_stream",
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
    api = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text("utf-8")
    for name in streamify.__all__:
        obj = getattr(streamify, name)
        if name in TYPE_ALIASES:
            assert obj == TYPE_ALIASES[name], name
            assert f"`{name}`" in api, f"docs/api.md does not document the alias {name}"
        else:
            assert obj.__doc__, f"{name} has no docstring"


def test_every_export_names_the_public_module_and_its_type_hints_still_resolve() -> None:
    import inspect
    import pickle
    import typing

    for name in streamify.__all__:
        obj = getattr(streamify, name)
        if name in TYPE_ALIASES or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        assert obj.__module__ == "streamify", name
        if inspect.isclass(obj):  # resolved before the rename (see streamify/__init__.py)
            typing.get_type_hints(obj)
    assert repr(type(streamify.Prediction(answer=1))) == "<class 'streamify.Prediction'>"
    status = streamify.StatusMessage("m", "c")
    assert pickle.loads(pickle.dumps(status)) == status
    hints = typing.get_type_hints(streamify.StatusMessage)
    assert hints["parent_call_id"] == typing.Optional[str]
    assert repr(streamify.StreamClosedError("x")) == "StreamClosedError('x')"
    assert str(streamify.CallbackError) == "<class 'streamify.CallbackError'>"


def test_exported_errors_and_records_survive_pickling() -> None:
    import pickle

    values: list[object] = [
        streamify.StreamClosedError("closed"),
        streamify.CallbackError("failed"),
        streamify.LMStreamError("bad chunk", provider="anthropic", code="overloaded_error"),
        streamify.StatusMessage("m", "c", None, "tool_start"),
        streamify.StreamResponse("qa", "answer", "x", True),
        streamify.Prediction(answer="42"),
        streamify.Settings(strict=True),
        streamify.Usage(input_tokens=1, output_tokens=2, total_tokens=3, model="m"),
    ]
    for value in values:
        copy = pickle.loads(pickle.dumps(value))
        assert type(copy) is type(value)
        if isinstance(value, Exception):
            assert isinstance(copy, Exception) and copy.args == value.args
        else:
            assert copy == value
