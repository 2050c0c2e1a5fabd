"""streamify: turn any sync or async Python program into a live, bounded, cancellable stream.

``streamify(program)`` returns a function with the program's parameters; calling it returns an
async generator (or a sync one) that yields, while the program runs, status messages, token
chunks of chosen output fields, custom items the program emits, and last, exactly once, the
result as a ``Prediction``.  See the README for the guarantees.
"""

import typing as _typing

from ._callbacks import BaseCallback as BaseCallback
from ._callbacks import StatusMessageProvider as StatusMessageProvider
from ._context import Settings as Settings
from ._context import configure as configure
from ._context import context as context
from ._encoding import encode_item as encode_item
from ._exceptions import CallbackError as CallbackError
from ._exceptions import StreamClosedError as StreamClosedError
from ._exceptions import StreamifyError as StreamifyError
from ._formats import FieldFormat as FieldFormat
from ._formats import FieldScanner as FieldScanner
from ._formats import MarkerFormat as MarkerFormat
from ._instrument import Component as Component
from ._instrument import lm as lm
from ._instrument import module as module
from ._instrument import tool as tool
from ._listener import StreamListener as StreamListener
from ._lm_chunks import LMStreamError as LMStreamError
from ._lm_response import LMResponse as LMResponse
from ._lm_response import ToolCall as ToolCall
from ._lm_response import Usage as Usage
from ._messages import PartialResponse as PartialResponse
from ._messages import Prediction as Prediction
from ._messages import StatusMessage as StatusMessage
from ._messages import StreamifyItem as StreamifyItem
from ._messages import StreamItem as StreamItem
from ._messages import StreamResponse as StreamResponse
from ._printing import aprint_stream as aprint_stream
from ._printing import print_stream as print_stream
from ._protocol import Event as Event
from ._protocol import StreamifyProtocol as StreamifyProtocol
from ._protocol import StreamProtocol as StreamProtocol
from ._protocol import encode_json as encode_json
from ._protocol import error_payload as error_payload
from ._protocol_agui import AGUIProtocol as AGUIProtocol
from ._protocol_dspy import DSPyProtocol as DSPyProtocol
from ._protocol_openai import OpenAIResponsesProtocol as OpenAIResponsesProtocol
from ._protocol_registry import protocol_headers as protocol_headers
from ._protocol_registry import protocol_names as protocol_names
from ._protocol_vercel import VercelUIProtocol as VercelUIProtocol
from ._responses import ndjson_response as ndjson_response
from ._responses import ndjson_response_sync as ndjson_response_sync
from ._responses import streaming_response as streaming_response
from ._responses import streaming_response_sync as streaming_response_sync
from ._run_http import RunReply as RunReply
from ._run_http import cancel_run_reply as cancel_run_reply
from ._run_http import last_event_id as last_event_id
from ._run_http import run_events_reply as run_events_reply
from ._run_http import start_run_reply as start_run_reply
from ._run_store import MemoryRunStore as MemoryRunStore
from ._run_store import RunEvent as RunEvent
from ._run_store import RunNotFound as RunNotFound
from ._run_store import RunStore as RunStore
from ._run_store import RunStoreUnavailable as RunStoreUnavailable
from ._run_store import StoredEvent as StoredEvent
from ._run_store_redis import RedisRunStore as RedisRunStore
from ._runs import Runs as Runs
from ._stream import emit as emit
from ._stream import emit_sync as emit_sync
from ._streamify import streamify as streamify
from ._sync import apply_sync_streaming as apply_sync_streaming
from ._transports import aiohttp_response as aiohttp_response
from ._transports import websocket_stream as websocket_stream
from ._workers import asyncify as asyncify

__version__ = "0.1.0.dev0"

# Exports say ``streamify.X`` in reprs, tracebacks and pickles, not the private module they
# live in.  ``typing.get_type_hints`` resolves a class's string annotations in the globals of
# ``__module__``, which would then be this package's: so a class's own annotations are
# resolved first, in its defining module, and stored resolved (functions are unaffected:
# theirs resolve in ``__globals__``).


def _resolve_annotations(cls: type) -> None:
    own = cls.__dict__.get("__annotations__")  # noqa: RUF063 (this class's own, not inherited)
    if not own or not any(isinstance(value, (str, _typing.ForwardRef)) for value in own.values()):
        return
    # Names a module imports only for type checking are found among the exports.
    hints = _typing.get_type_hints(cls, localns=dict(globals()), include_extras=True)
    cls.__annotations__ = {key: hints.get(key, value) for key, value in own.items()}


__all__ = (
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
    "tool",
    "websocket_stream",
)

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("streamify._"):
        if isinstance(_obj, type):
            _resolve_annotations(_obj)
        _obj.__module__ = __name__
del _name, _obj
