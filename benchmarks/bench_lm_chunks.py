"""Per-chunk cost of ``LMChunkAssembler`` on SDK chunk objects, dict chunks and str chunks.

Run ``python benchmarks/bench_lm_chunks.py`` (``--quick`` for fewer rounds and chunks,
``--json PATH`` to write the figures).  Each stream is a typical reply: a few opening events,
then one text delta per chunk (about four characters each), then the closing events.  All
variants of a case run over the same chunks, interleaved round by round (so that a busy
machine slows them alike); the figures are medians over the rounds, and each ratio is the
median of the per-round ratios.

(a) SDK objects, per provider (OpenAI Chat Completions, OpenAI Responses, Anthropic), the
    objects that the SDK's own streaming client yields for an in-memory server-sent event
    body (skipped when the SDK is not installed).  Variants:

    * ``iterate``: ``for chunk in chunks: pass``, iterating the objects alone;
    * ``extract``: the least a hand-written loop does to get the text (read the text field
      of each chunk, append it, join at the end);
    * ``assembler``: ``assembler.feed(chunk)`` per chunk, then ``finish()``;
    * ``sdk stream``: iterating the SDK's streaming client over the event body (parsing the
      events into those objects: what iterating a real SDK stream costs besides the
      network), and ``sdk stream + assembler``: the same, feeding each object.

    The goal "the provider-chunk path costs at most 1.5x iterating the SDK chunks alone" is
    ``sdk stream + assembler`` over ``sdk stream``.  ``assembler`` over ``iterate`` and over
    ``extract`` show the assembler's own cost against a bare loop and a minimal reader.

(b) dict chunks (the JSON the APIs send, as ``json.loads`` or litellm give it), per provider:
    ``extract`` and ``assembler`` as above.

(c) plain ``str`` chunks: ``join`` (``list.append`` per chunk, ``"".join`` at the end),
    ``today`` (what ``@lm`` does now per chunk: a type-checking function call, then the
    append), ``feed`` (``assembler.feed(chunk)``) and ``add_text`` (the loop the
    ``LMChunkAssembler`` docstring recommends: ``add_text(chunk)`` for an exact ``str``).

``run(quick)`` returns the figures as a dict (``cases`` maps each case to its variants'
median ns per chunk and the ratios).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from streamify._lm_chunks import LMChunkAssembler  # noqa: E402

Raw = Dict[str, Any]
Timed = Callable[[], object]

_WORDS = (
    " the", " of", " and", " to", " in", " is", " it", " for", " on", " we", " data",
    " str", " eam", " list", " er", ",", ".\n", " a", " from", " with", " that", " this",
)  # fmt: skip


def words(count: int) -> List[str]:
    return [_WORDS[i % len(_WORDS)] for i in range(count)]


# ----------------------------------------------------------------------------- the streams


def chat_stream(tokens: Sequence[str]) -> List[Raw]:
    def chunk(delta: Raw, finish: Optional[str] = None, **extra: Any) -> Raw:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "gpt-4o-mini",
            "system_fingerprint": "fp_1",
            "choices": [choice],
            **extra,
        }

    raws = [chunk({"role": "assistant", "content": "", "refusal": None})]
    raws += [chunk({"content": token}) for token in tokens]
    raws.append(chunk({}, "stop"))
    last = chunk({})
    last["choices"] = []
    last["usage"] = {"prompt_tokens": 12, "completion_tokens": len(tokens), "total_tokens": 99}
    return [*raws, last]


def _response(status: str, usage: Optional[Raw] = None) -> Raw:
    body: Raw = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "model": "gpt-5-mini",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "status": status,
    }
    if usage is not None:
        body["usage"] = usage
    return body


def responses_stream(tokens: Sequence[str]) -> List[Raw]:
    seq = iter(range(10**9))
    message = {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress"}
    part = {"type": "output_text", "text": "", "annotations": []}
    raws: List[Raw] = [
        {"type": "response.created", "response": _response("in_progress")},
        {"type": "response.in_progress", "response": _response("in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": {**message}},
        {
            "type": "response.content_part.added",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "part": part,
        },
    ]
    raws += [
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": token,
            "logprobs": [],
        }
        for token in tokens
    ]
    text = "".join(tokens)
    done_part = {**part, "text": text}
    done_message = {**message, "status": "completed", "content": [done_part]}
    usage = {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": len(tokens),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 12 + len(tokens),
    }
    completed = _response("completed", usage)
    completed["output"] = [done_message]
    raws += [
        {
            "type": "response.output_text.done",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "text": text,
            "logprobs": [],
        },
        {
            "type": "response.content_part.done",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "part": done_part,
        },
        {"type": "response.output_item.done", "output_index": 0, "item": done_message},
        {"type": "response.completed", "response": completed},
    ]
    for raw in raws:
        raw["sequence_number"] = next(seq)
    return raws


def anthropic_stream(tokens: Sequence[str]) -> List[Raw]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 1},
        },
    }
    raws: List[Raw] = [
        start,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    ]
    raws += [
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": token},
        }
        for token in tokens
    ]
    raws += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": len(tokens)},
        },
        {"type": "message_stop"},
    ]
    return raws


STREAMS = {"chat": chat_stream, "responses": responses_stream, "anthropic": anthropic_stream}
SDK_OF = {"chat": "openai", "responses": "openai", "anthropic": "anthropic"}


# ------------------------------------------------------------------ the SDKs' own clients


def _sse(raws: Sequence[Raw], named: bool) -> bytes:
    lines = []
    for raw in raws:
        if named:
            lines.append(f"event: {raw['type']}\n")
        lines.append(f"data: {json.dumps(raw)}\n\n")
    if not named:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def _http_client(base_client_module: Any, body: bytes) -> Any:
    httpx = getattr(base_client_module, "httpx2", None) or base_client_module.httpx

    def handler(request: Any) -> Any:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx.Client(transport=httpx.MockTransport(handler))


def sdk_streamer(provider: str, raws: Sequence[Raw]) -> Callable[[], Any]:
    """A function that returns a fresh SDK stream over the event body of ``raws``."""
    messages: Any = [{"role": "user", "content": "hi"}]
    if provider == "anthropic":
        import anthropic
        from anthropic import _base_client as anthropic_base

        a_client = anthropic.Anthropic(
            api_key="bench",
            base_url="http://bench",
            http_client=_http_client(anthropic_base, _sse(raws, named=True)),
        )
        return lambda: a_client.messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=messages, stream=True
        )
    import openai
    from openai import _base_client as openai_base

    body = _sse(raws, named=provider == "responses")
    client = openai.OpenAI(
        api_key="bench", base_url="http://bench/v1", http_client=_http_client(openai_base, body)
    )
    if provider == "responses":
        return lambda: client.responses.create(model="gpt-5-mini", input="hi", stream=True)
    return lambda: client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True
    )


# ------------------------------------------------------------------------ the loops timed


def loop_iterate(chunks: Sequence[object]) -> Timed:
    def timed() -> object:
        for _chunk in chunks:
            pass
        return None

    return timed


def loop_assembler(chunks: Sequence[object]) -> Timed:
    def timed() -> object:
        assembler = LMChunkAssembler()
        for chunk in chunks:
            assembler.feed(chunk)
        return assembler.finish()

    return timed


def loop_extract_objects(provider: str, chunks: Sequence[Any]) -> Timed:
    if provider == "chat":

        def timed() -> object:
            parts: List[str] = []
            append = parts.append
            for chunk in chunks:
                choices = chunk.choices
                if choices:
                    text = choices[0].delta.content
                    if text:
                        append(text)
            return "".join(parts)

    elif provider == "responses":

        def timed() -> object:
            parts: List[str] = []
            append = parts.append
            for chunk in chunks:
                if chunk.type == "response.output_text.delta":
                    append(chunk.delta)
            return "".join(parts)

    else:

        def timed() -> object:
            parts: List[str] = []
            append = parts.append
            for chunk in chunks:
                if chunk.type == "content_block_delta" and chunk.delta.type == "text_delta":
                    append(chunk.delta.text)
            return "".join(parts)

    return timed


def loop_extract_dicts(provider: str, chunks: Sequence[Raw]) -> Timed:
    if provider == "chat":

        def timed() -> object:
            parts: List[str] = []
            append = parts.append
            for chunk in chunks:
                choices = chunk["choices"]
                if choices:
                    text = choices[0]["delta"].get("content")
                    if text:
                        append(text)
            return "".join(parts)

    elif provider == "responses":

        def timed() -> object:
            parts: List[str] = []
            append = parts.append
            for chunk in chunks:
                if chunk["type"] == "response.output_text.delta":
                    append(chunk["delta"])
            return "".join(parts)

    else:

        def timed() -> object:
            parts: List[str] = []
            append = parts.append
            for chunk in chunks:
                if chunk["type"] == "content_block_delta":
                    delta = chunk["delta"]
                    if delta["type"] == "text_delta":
                        append(delta["text"])
            return "".join(parts)

    return timed


def loop_sdk(make_stream: Callable[[], Any], feed: bool) -> Timed:
    if feed:

        def timed() -> object:
            assembler = LMChunkAssembler()
            for chunk in make_stream():
                assembler.feed(chunk)
            return assembler.finish()

    else:

        def timed() -> object:
            for _chunk in make_stream():
                pass
            return None

    return timed


def _check_chunk(chunk: Any, component: object) -> str:
    # The per-chunk check ``@lm`` does today (streamify/_instrument.py).
    if not isinstance(chunk, str):
        raise TypeError(f"{component!r} produced a {type(chunk).__name__} chunk")
    return chunk


def loop_str(variant: str, chunks: Sequence[str]) -> Timed:
    if variant == "join":

        def timed() -> object:
            parts: List[str] = []
            append = parts.append
            for chunk in chunks:
                append(chunk)
            return "".join(parts)

    elif variant == "today":

        def timed() -> object:
            parts: List[str] = []
            append = parts.append
            for chunk in chunks:
                _check_chunk(chunk, "lm")
                append(chunk)
            return "".join(parts)

    elif variant == "feed":
        return loop_assembler(chunks)
    else:

        def timed() -> object:
            assembler = LMChunkAssembler()
            add_text = assembler.add_text
            for chunk in chunks:
                if type(chunk) is str:
                    add_text(chunk)
                else:
                    assembler.feed(chunk)
            return assembler.finish()

    return timed


# ---------------------------------------------------------------------------- measuring


def interleaved(variants: Dict[str, Timed], per_call: int, rounds: int) -> Dict[str, List[float]]:
    """Run every variant once per round, in turn; ns per chunk of each run."""
    for timed in variants.values():  # warm up
        timed()
    samples: Dict[str, List[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, timed in variants.items():
            start = time.perf_counter()
            timed()
            samples[name].append((time.perf_counter() - start) / per_call * 1e9)
    return samples


def summarise(samples: Dict[str, List[float]], ratios: Sequence[Tuple[str, str]]) -> Dict[str, Any]:
    return {
        "ns_per_chunk": {name: statistics.median(values) for name, values in samples.items()},
        "ratios": {
            f"{top} / {bottom}": statistics.median(
                a / b for a, b in zip(samples[top], samples[bottom])
            )
            for top, bottom in ratios
        },
    }


def _sdk_objects(provider: str, raws: List[Raw]) -> Tuple[List[Any], Callable[[], Any]]:
    make_stream = sdk_streamer(provider, raws)
    objects = list(make_stream())
    assert len(objects) == len(raws), (provider, len(objects), len(raws))
    expected = loop_extract_dicts(provider, raws)()
    assert loop_assembler(objects)() == expected
    assert loop_extract_objects(provider, objects)() == expected
    return objects, make_stream


def run(quick: bool) -> Dict[str, Any]:
    tokens = words(500 if quick else 2000)
    rounds = 7 if quick else 25
    sdk_rounds = 3 if quick else 9
    cases: Dict[str, Any] = {}
    skipped: List[str] = []
    for provider, build in STREAMS.items():
        raws = build(tokens)
        count = len(raws)
        sdk = SDK_OF[provider]
        if importlib.util.find_spec(sdk) is None:
            skipped.append(f"(a) {provider}: {sdk} is not installed")
        else:
            objects, make_stream = _sdk_objects(provider, raws)
            samples = interleaved(
                {
                    "iterate": loop_iterate(objects),
                    "extract": loop_extract_objects(provider, objects),
                    "assembler": loop_assembler(objects),
                },
                count,
                rounds,
            )
            samples.update(
                interleaved(
                    {
                        "sdk stream": loop_sdk(make_stream, feed=False),
                        "sdk stream + assembler": loop_sdk(make_stream, feed=True),
                    },
                    count,
                    sdk_rounds,
                )
            )
            cases[f"(a) {provider} SDK objects"] = summarise(
                samples,
                [
                    ("sdk stream + assembler", "sdk stream"),
                    ("assembler", "iterate"),
                    ("assembler", "extract"),
                ],
            )
        dicts = json.loads(json.dumps(raws))
        assert loop_assembler(dicts)() == loop_extract_dicts(provider, dicts)()
        samples = interleaved(
            {
                "extract": loop_extract_dicts(provider, dicts),
                "assembler": loop_assembler(dicts),
            },
            count,
            rounds,
        )
        cases[f"(b) {provider} dicts"] = summarise(samples, [("assembler", "extract")])
    strs = list(tokens)
    samples = interleaved(
        {variant: loop_str(variant, strs) for variant in ("join", "today", "feed", "add_text")},
        len(strs),
        rounds,
    )
    cases["(c) str chunks"] = summarise(
        samples,
        [
            ("feed", "join"),
            ("feed", "today"),
            ("add_text", "join"),
            ("add_text", "today"),
        ],
    )
    versions = {}
    for sdk in ("openai", "anthropic", "pydantic"):
        if importlib.util.find_spec(sdk) is not None:
            versions[sdk] = getattr(__import__(sdk), "__version__", "?")
    return {
        "meta": {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "versions": versions,
            "chunks_per_stream": {p: len(STREAMS[p](tokens)) for p in STREAMS},
            "rounds": rounds,
            "sdk_stream_rounds": sdk_rounds,
            "quick": quick,
        },
        "cases": cases,
        "skipped": skipped,
    }


def print_table(report: Dict[str, Any]) -> None:
    meta = report["meta"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) or "no SDKs"
    print(f"LMChunkAssembler, Python {meta['python']} ({versions}); ns per chunk, medians")
    for case, figures in report["cases"].items():
        print(f"\n{case}")
        for name, ns in figures["ns_per_chunk"].items():
            print(f"  {name:<24} {ns:>10.0f} ns")
        for name, ratio in figures["ratios"].items():
            print(f"  {name:<40} {ratio:>6.2f}x")
    for line in report["skipped"]:
        print(f"\nskipped {line}")


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and chunks")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    report = run(args.quick)
    print_table(report)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
            out.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
