"""The official SDK streams go into ``@lm`` with no glue, end to end.

The real ``openai`` and ``anthropic`` clients (sync and async) talk to a loopback server that
speaks the providers' streaming wire formats (``tests/llm_server.py``); the ``@lm`` function
only yields what the SDK yields.  The stream shows the text through chat-format listeners, the
native reasoning through a listener on the module's reasoning field, one tool argument through
a ``tool=`` listener, usage on the ``LMResponse`` and per model on the ``Prediction``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from streamify import (
    LMResponse,
    LMStreamError,
    Prediction,
    StatusMessage,
    StatusMessageProvider,
    StreamListener,
    StreamResponse,
    encode_item,
    lm,
    module,
    streamify,
)

from .llm_server import LLMServer, ToolCallScript
from .llm_server import llm_server_fixture as llm_server_fixture

if os.environ.get("STREAMIFY_REQUIRE_SDKS") == "1":
    import anthropic
    import openai
else:
    openai = pytest.importorskip("openai")
    anthropic = pytest.importorskip("anthropic")

TEXT = ("[[ ## answer ## ]]\n", "The answer", " is 42.", "\n\n[[ ## completed ## ]]")
REASONING = ("Let me ", "think.")
ARGUMENTS = ('{"answer": "fo', "rty", '-two", "n": 1}')


def joined(items: list[Any], field: str) -> str:
    return "".join(
        item.chunk
        for item in items
        if isinstance(item, StreamResponse) and item.signature_field_name == field
    )


class ToolStarts(StatusMessageProvider):
    def tool_call_status_message(self, instance: Any, tool_name: str, tool_call_id: str) -> str:
        return f"LM calls {tool_name}"


def listeners() -> list[StreamListener]:
    return [
        StreamListener("answer"),
        StreamListener("reasoning"),
        StreamListener("answer", predict_name="agent", tool="final_answer", allow_reuse=True),
    ]


def check_items(items: list[Any]) -> Prediction:
    assert joined(items, "answer").startswith("The answer is 42.")
    assert joined(items, "reasoning") == "Let me think."
    tool_answer = [
        item.chunk
        for item in items
        if isinstance(item, StreamResponse)
        and item.signature_field_name == "answer"
        and item.chunk in ("fo", "rty", "-two", "")
    ]
    assert "".join(tool_answer) == "forty-two"
    assert [i.message for i in items if isinstance(i, StatusMessage)] == ["LM calls final_answer"]
    prediction = items[-1]
    assert isinstance(prediction, Prediction)
    return prediction


def check_response(response: LMResponse) -> None:
    assert isinstance(response, LMResponse) and isinstance(response, str)
    assert str(response) == "".join(TEXT)
    assert response.reasoning == "Let me think."
    (call,) = response.tool_calls
    assert call.name == "final_answer"
    assert call.arguments == "".join(ARGUMENTS)
    assert call.args == {"answer": "forty-two", "n": 1}
    assert response.usage is not None
    assert response.usage.input_tokens == 11
    assert response.usage.total_tokens == response.usage.input_tokens + (
        response.usage.output_tokens
    )


def the_script(llm_server: LLMServer) -> Any:
    return llm_server.reply(
        "text",
        text=TEXT,
        reasoning=REASONING,
        tool_calls=(ToolCallScript("final_answer", ARGUMENTS),),
    )


async def test_async_openai_chat_stream_goes_into_lm_with_no_glue(llm_server: LLMServer) -> None:
    reply = the_script(llm_server)
    client = openai.AsyncOpenAI(base_url=llm_server.openai_url, api_key="test")

    @lm
    async def chat(question: str) -> AsyncIterator[Any]:
        stream = await client.chat.completions.create(
            model="m1",
            messages=[{"role": "user", "content": question}],
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=reply.headers,
        )
        async for chunk in stream:
            yield chunk

    responses: list[LMResponse] = []

    @module(name="agent", outputs=("answer",))
    async def agent(question: str) -> str:
        response = await chat(question)
        responses.append(response)
        return str(response)

    stream = streamify(agent, status_message_provider=ToolStarts(), stream_listeners=listeners())
    items = [item async for item in stream("q")]
    prediction = check_items(items)
    check_response(responses[0])
    usage = prediction.get_lm_usage()
    assert usage is not None and set(usage) == {"m1"}
    assert usage["m1"]["prompt_tokens"] == 11
    assert encode_item(prediction)["usage"] == usage
    await client.close()


def test_sync_anthropic_stream_with_the_sync_consumer(llm_server: LLMServer) -> None:
    reply = the_script(llm_server)
    client = anthropic.Anthropic(base_url=llm_server.anthropic_url, api_key="test")

    @lm
    def messages(question: str) -> Iterator[Any]:
        yield from client.messages.create(
            model="claude-test",
            max_tokens=100,
            messages=[{"role": "user", "content": question}],
            stream=True,
            extra_headers=reply.headers,
        )

    responses: list[LMResponse] = []

    @module(name="agent", outputs=("answer",))
    def agent(question: str) -> str:
        response = messages(question)
        responses.append(response)
        return str(response)

    stream = streamify(
        agent,
        status_message_provider=ToolStarts(),
        stream_listeners=listeners(),
        async_streaming=False,
    )
    items = list(stream("q"))
    prediction = check_items(items)
    check_response(responses[0])
    usage = prediction.get_lm_usage()
    assert usage is not None and set(usage) == {"claude-test"}
    client.close()


async def test_responses_stream_returned_as_is_by_an_async_lm(llm_server: LLMServer) -> None:
    reply = the_script(llm_server)
    client = openai.AsyncOpenAI(base_url=llm_server.openai_url, api_key="test")

    @lm
    async def respond(question: str) -> Any:
        return await client.responses.create(
            model="m2", input=question, stream=True, extra_headers=reply.headers
        )

    responses: list[LMResponse] = []

    @module(name="agent", outputs=("answer",))
    async def agent(question: str) -> str:
        response = await respond(question)
        responses.append(response)
        return str(response)

    stream = streamify(agent, status_message_provider=ToolStarts(), stream_listeners=listeners())
    items = [item async for item in stream("q")]
    check_items(items)
    check_response(responses[0])
    await client.close()


async def test_a_provider_error_event_raises_in_the_lm_call_and_reaches_the_consumer() -> None:
    # The SDKs raise on an error event themselves; a stream of raw event dicts (a proxy, a
    # replay) carries the event to @lm, which raises LMStreamError there.
    @lm
    async def messages() -> AsyncIterator[Any]:
        yield {"type": "message_start", "message": {"model": "claude-test", "usage": {}}}
        yield {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}

    seen: list[BaseException] = []

    @module(outputs=("answer",))
    async def agent() -> str:
        try:
            return str(await messages())
        except LMStreamError as error:
            seen.append(error)
            raise

    with pytest.raises(LMStreamError, match="busy") as caught:
        [item async for item in streamify(agent, stream_listeners=[StreamListener("answer")])()]
    assert caught.value is seen[0]
    assert caught.value.code == "overloaded_error"


async def test_the_sdks_own_error_on_an_error_event_reaches_the_consumer(
    llm_server: LLMServer,
) -> None:
    reply = llm_server.reply("error")
    client = openai.AsyncOpenAI(base_url=llm_server.openai_url, api_key="test")

    @lm
    async def chat() -> AsyncIterator[Any]:
        async for chunk in await client.chat.completions.create(
            model="m1", messages=[], stream=True, extra_headers=reply.headers
        ):
            yield chunk

    @module(outputs=("answer",))
    async def agent() -> str:
        return str(await chat())

    with pytest.raises(openai.APIError):
        [item async for item in streamify(agent)()]
    await client.close()


async def test_breaking_mid_reply_closes_the_sdks_http_response(llm_server: LLMServer) -> None:
    reply = llm_server.reply("gated", text=TEXT)
    client = openai.AsyncOpenAI(base_url=llm_server.openai_url, api_key="test")

    @lm
    async def chat() -> Any:
        return await client.chat.completions.create(
            model="m1",
            messages=[{"role": "user", "content": "q"}],
            stream=True,
            extra_headers=reply.headers,
        )

    @module(outputs=("answer",))
    async def agent() -> str:
        return str(await chat())

    stream = streamify(agent, stream_listeners=[StreamListener("answer")])()
    reply.release(2)  # the marker and the first words
    try:
        async for item in stream:
            if isinstance(item, StreamResponse):
                break
    finally:
        await stream.aclose()
    assert await reply.disconnected.async_wait(10), "the server never saw the client leave"
    assert reply.exchange().steps_sent <= 3
    await client.close()


def test_mixed_str_and_dict_chunks_outside_any_stream() -> None:
    @lm
    def mixed() -> Iterator[Any]:
        yield "Hello"
        yield {"choices": [{"index": 0, "delta": {"content": ", world"}}], "model": "m"}
        yield {
            "choices": [],
            "model": "m",
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }

    response = mixed()
    assert response == "Hello, world"
    assert response.usage is not None and response.usage.total_tokens == 5
    assert json.dumps(str(response)) == '"Hello, world"'


# litellm's own import warns (pydantic), which this suite turns into errors.
@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
async def test_litellm_stream_goes_into_lm_with_no_glue(
    llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Optional, as uvloop is: .ci/run installs litellm when it can.  Its cost map is read
    # from the package, never fetched (this machine reaches no network).
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = pytest.importorskip("litellm")
    reply = the_script(llm_server)

    @lm
    async def chat(question: str) -> AsyncIterator[Any]:
        stream = await litellm.acompletion(
            model="openai/m1",
            api_base=llm_server.openai_url,
            api_key="test",
            messages=[{"role": "user", "content": question}],
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=reply.headers,
        )
        async for chunk in stream:
            yield chunk

    responses: list[LMResponse] = []

    @module(name="agent", outputs=("answer",))
    async def agent(question: str) -> str:
        response = await chat(question)
        responses.append(response)
        return str(response)

    stream = streamify(agent, status_message_provider=ToolStarts(), stream_listeners=listeners())
    items = [item async for item in stream("q")]
    check_items(items)
    assert str(responses[0]) == "".join(TEXT)
    assert responses[0].reasoning == "Let me think."
    assert responses[0].tool_calls[0].args == {"answer": "forty-two", "n": 1}


async def test_a_connection_dropped_mid_reply_raises_in_the_lm_call_after_the_chunks_before(
    llm_server: LLMServer,
) -> None:
    reply = llm_server.reply("drop", text=TEXT, drop_after=2)
    client = openai.AsyncOpenAI(base_url=llm_server.openai_url, api_key="test", max_retries=0)

    @lm
    async def chat() -> Any:
        return await client.chat.completions.create(
            model="m1", messages=[], stream=True, extra_headers=reply.headers
        )

    @module(outputs=("answer",))
    async def agent() -> str:
        return str(await chat())

    received: list[Any] = []
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the SDK's own error, by version
        async for item in streamify(agent, stream_listeners=[StreamListener("answer")])():
            received.append(item)
    assert not isinstance(caught.value, AssertionError)
    assert joined(received, "answer") == "The answer"
    assert not any(isinstance(item, Prediction) for item in received)
    await client.close()
