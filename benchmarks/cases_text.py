"""The text cases: the token listener per chunk, ``@lm`` chunk normalisation, partial JSON.

Each one times a variant against a raw baseline on the same chunks, in the same process.
"""

from __future__ import annotations

import functools
import json
import statistics
from typing import Any, Callable

from _measure import Result, interleaved, optional, perf

from streamify._listener import StreamListener
from streamify._lm_chunks import LMChunkAssembler
from streamify._partial_json import PartialJSONParser

_WORDS = (
    " the", " of", " and", " to", " in", " is", " it", " for", " on", " we", " data", " ing",
    " str", " eam", " list", " en", " er", ",", ".\n", " a", " from", " with", " that", " this",
    " model", " token", " answer", " stream",
)  # fmt: skip
_TRIGGER = {"chat": " [x]", "json": ' "q"', "xml": " a<b"}  # may begin a marker
CHUNK_CHARS = 4


# ---------------------------------------------------------------------------- listener
def build_field(fmt: str, tokens: int) -> str:
    """A deterministic field text of ``tokens`` word tokens (every 50th may begin a marker)."""
    words = (_WORDS[(i * 7 + i // 13) % len(_WORDS)] for i in range(tokens))
    return "".join(_TRIGGER[fmt] if i % 50 == 49 else word for i, word in enumerate(words))


def build_reply(fmt: str, tokens: int) -> str:
    """A whole reply in ``fmt`` whose ``answer`` field holds ``tokens`` tokens."""
    field = build_field(fmt, tokens)
    reasoning = "Let me think about it step by step."
    if fmt == "chat":
        return (
            f"[[ ## reasoning ## ]]\n{reasoning}\n\n[[ ## answer ## ]]\n{field}\n\n"
            "[[ ## completed ## ]]"
        )
    if fmt == "json":
        return json.dumps({"reasoning": reasoning, "answer": field})
    return f"<reasoning>{reasoning}</reasoning>\n<answer>{field}</answer>"


def _chunked(text: str, size: int = CHUNK_CHARS) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _time_listener(fmt: str, chunks: list[str], loops: int) -> float:
    """Microseconds per chunk: ``receive()`` over every chunk plus ``finalize()``, on a fresh
    listener, ``loops`` times."""
    start = perf()
    for _ in range(loops):
        listener = StreamListener("answer", field_format=fmt)
        receive = listener.receive
        for chunk in chunks:
            receive(chunk)
        listener.finalize()
    return (perf() - start) * 1e6 / len(chunks) / loops


def _time_baseline(chunks: list[str], loops: int) -> float:
    """The least any listener does per chunk: ``chunk.find("[")`` and an append."""
    start = perf()
    for _ in range(loops):
        sink: list[str] = []
        append = sink.append
        for chunk in chunks:
            chunk.find("[")
            append(chunk)
    return (perf() - start) * 1e6 / len(chunks) / loops


def case_listener(params: Result, settings: Result) -> Result:
    """Per-chunk cost of ``StreamListener`` for one format, per field length, against the
    baseline: 2 warm-up runs, then the median of ``listener_repeats``.  A short field is
    streamed ``loops`` times per repeat (about 10,000 chunks), so that it is timeable."""
    fmt, repeats = params["format"], settings["listener_repeats"]
    out: Result = {"format": fmt, "chunk_chars": CHUNK_CHARS}
    field_tokens: list[int] = params.get("field_tokens") or settings["listener_tokens"]
    for tokens in field_tokens:
        chunks = _chunked(build_reply(fmt, tokens))
        field = build_field(fmt, tokens)
        listener = StreamListener("answer", field_format=fmt)
        got = [r.chunk for c in chunks for r in listener.feed(c)]
        got += [r.chunk for r in listener.flush()]
        assert "".join(got) == (field if fmt == "json" else field.strip()), fmt
        loops = max(1, 10_000 // len(chunks))
        for _ in range(2):  # warm-up
            _time_listener(fmt, chunks, loops)
            _time_baseline(chunks, loops)
        ours = statistics.median(_time_listener(fmt, chunks, loops) for _ in range(repeats))
        base = statistics.median(_time_baseline(chunks, loops) for _ in range(repeats))
        figures = {"chunks": len(chunks), "per_chunk_us": ours, "baseline_us": base}
        out[f"{tokens}_tokens"] = {**figures, "vs_baseline": ours / base}
    return out


# ---------------------------------------------------------------------------- @lm chunks
def chunk_streams(tokens: list[str]) -> dict[str, list[Any]]:
    """One reply per chunk shape, as the provider sends it (JSON-decoded): an opening event,
    one text delta per token, the closing events."""
    resp = {"id": "r", "object": "response", "created_at": 1, "model": "m", "output": [],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "status": "completed"}  # fmt: skip
    text = {"type": "response.output_text.delta", "item_id": "m", "output_index": 0,
            "content_index": 0, "logprobs": [], "sequence_number": 1}  # fmt: skip
    message = {"id": "m", "type": "message", "role": "assistant", "model": "m", "content": [],
               "usage": {"input_tokens": 3, "output_tokens": 1}}  # fmt: skip

    def chat(content: str | None, finish: str | None = None) -> Result:
        choice = {"index": 0, "delta": {} if content is None else {"content": content},
                  "finish_reason": finish}  # fmt: skip
        return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [choice]}  # fmt: skip

    delta = "content_block_delta"
    return {
        "str": list(tokens),
        "openai_chat": [chat(""), *(chat(t) for t in tokens), chat(None, "stop")],
        "openai_responses": [{"type": "response.created", "response": resp, "sequence_number": 0},
                             *({**text, "delta": t} for t in tokens),
                             {"type": "response.completed", "response": resp,
                              "sequence_number": 2}],
        "anthropic": [{"type": "message_start", "message": message},
                      *({"type": delta, "index": 0, "delta": {"type": "text_delta", "text": t}}
                        for t in tokens),
                      {"type": "message_stop"}],
    }  # fmt: skip


def _extract(shape: str, chunk: Any) -> Any:
    """The least a hand-written loop does to get the text of one chunk of ``shape``."""
    if shape == "str":
        return chunk
    if shape == "openai_chat":
        return chunk["choices"][0]["delta"].get("content") if chunk["choices"] else None
    if chunk["type"] == "response.output_text.delta":
        return chunk["delta"]
    return chunk["delta"]["text"] if chunk["type"] == "content_block_delta" else None


def case_lm_chunks(params: Result, settings: Result) -> Result:
    """``LMChunkAssembler.feed`` per chunk for each chunk shape (as JSON-decoded dicts, without
    importing an SDK), against a hand-written loop joining the text; ns per chunk."""
    tokens = [_WORDS[i % len(_WORDS)] for i in range(settings["lm_tokens"])]
    out: Result = {"tokens": len(tokens)}
    for shape, chunks in chunk_streams(tokens).items():

        def extract(chunks: list[Any] = chunks, shape: str = shape) -> float:
            start = perf()
            "".join([t for t in (_extract(shape, c) for c in chunks) if t])
            return (perf() - start) * 1e9 / len(chunks)

        def assemble(chunks: list[Any]) -> float:
            start, assembler = perf(), LMChunkAssembler()
            for chunk in chunks:
                assembler.feed(chunk)
            assert assembler.finish() == "".join(tokens)
            return (perf() - start) * 1e9 / len(chunks)

        variants: dict[str, Callable[[], float]] = {"extract_ns": extract}
        variants["assembler_ns"] = functools.partial(assemble, chunks)
        ns = interleaved(variants, settings["lm_rounds"])
        out[shape] = {**ns, "assembler_vs_extract": ns["assembler_ns"] / ns["extract_ns"]}
    return out


# ---------------------------------------------------------------------------- partial JSON
def build_json(shape: str, size: int) -> str:
    """About ``size`` characters of JSON: ``records`` (short strings, numbers, literals) or
    ``string`` (one long string that every chunk extends)."""
    if shape == "string":
        words = " ".join(f'{_WORDS[i % len(_WORDS)].strip()} "q"' for i in range(size // 8))
        return json.dumps({"title": "A long text", "text": words[: size - 40]})
    records, length, index = [], 0, 0
    while length < size:
        record = {"id": index, "title": f"Item {index} caf\u00e9", "tags": ["a", "b"],
                  "score": index / 7, "done": index % 2 == 0, "note": None}  # fmt: skip
        records.append(record)
        length += len(json.dumps(record)) + 2
        index += 1
    return json.dumps({"items": records})


def _time_parser(chunks: list[str], tail_from: int) -> tuple[float, float]:
    """Seconds per chunk over all the chunks and over the tail: ``feed``, then ``snapshot``
    when the value changed, on one parser for the whole stream."""
    parser = PartialJSONParser()
    feed, snapshot = parser.feed, parser.snapshot
    start = perf()
    for chunk in chunks[:tail_from]:
        if feed(chunk):
            snapshot()
    middle = perf()
    for chunk in chunks[tail_from:]:
        if feed(chunk):
            snapshot()
    end = perf()
    parser.finish()
    return (end - start) / len(chunks), (end - middle) / (len(chunks) - tail_from)


def case_partial_json(params: Result, settings: Result) -> Result:
    """The partial-JSON scanner per 20-character chunk, per value size, against the raw
    baseline ``json.loads`` of the whole text once (spread over its chunks); with jiter
    installed, its partial mode re-parsing the prefix at the tail chunks, as SDKs do."""
    jiter = optional("jiter")
    out: Result = {"shape": params["shape"], "chunk_chars": 20}
    for size in settings["json_sizes"]:
        text = build_json(params["shape"], size)
        chunks = _chunked(text, 20)
        tail_from = len(chunks) - max(1, len(chunks) // 10)
        timed = [_time_parser(chunks, tail_from) for _ in range(settings["json_repeats"] + 1)][1:]
        start = perf()
        json.loads(text)
        row = out[f"{size}_chars"] = {
            "per_chunk_s": statistics.median(t[0] for t in timed),
            "tail_per_chunk_s": statistics.median(t[1] for t in timed),
            "json_loads_per_chunk_s": (perf() - start) / len(chunks),
        }
        if jiter is not None:  # 20 tail prefixes, each parsed whole, as SDKs do per chunk
            prefixes = [text[: 20 * (i + 1)].encode() for i in range(tail_from, len(chunks))][:20]
            start = perf()
            for prefix in prefixes:
                jiter.from_json(prefix, partial_mode=True)
            row["jiter_tail_per_chunk_s"] = (perf() - start) / len(prefixes)
    sizes = settings["json_sizes"]
    first, last = out[f"{sizes[0]}_chars"], out[f"{sizes[-1]}_chars"]
    out["tail_flatness"] = last["tail_per_chunk_s"] / first["tail_per_chunk_s"]
    return out
