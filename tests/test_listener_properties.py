"""Property tests: any split of the token stream yields the same field text.

For each format, hypothesis builds a reply around generated field values full of marker-like
text (``[[``, ``##``, ``<``, ``</x``, quotes, braces, backslashes, astral characters), cuts
it at arbitrary points and checks that the joined chunks are exactly the expected field text,
that nothing of the markers leaks, and that ``is_last_chunk`` is set exactly once, on the
final response.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streamify._listener import StreamListener

if TYPE_CHECKING:
    from streamify._messages import StreamResponse

SETTINGS = settings(max_examples=200, deadline=None)

FRAGMENTS = [
    "[[", "]]", "##", "[[ ## ", " ## ]]", "[[ ## x", "[[ ## answer ##", "[[ ## a ## ]",
    "[", "]", "#", "<", ">", "</", "</x", "</answe", "</answer", "<answer>", "<b>", "</b>",
    '"', '\\"', "}", "{", "\\", "\\n", "\\u", "\\ud83d", ":", ",", '"answer": ',
    '", "answer": "', '{"answer": ',
    " ", "  ", "\n", "\t", "\r\n", "a", "answer", "word", "é", "€", "😀", "𝄞",
]  # fmt: skip

values = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=25).map(
    "".join
)

CHAT_MARKER = re.compile(r"\[\[ ## \w+ ## \]\]")


@st.composite
def splits(draw: st.DrawFn, text: str) -> list[str]:
    """``text`` cut at arbitrary points (empty chunks included), or into tiny equal chunks."""
    size = draw(st.integers(0, 3))
    if size:
        return [text[i : i + size] for i in range(0, len(text), size)]
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=40)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def stream(
    fmt: str, chunks: list[str], use_receive: bool, field: str = "answer"
) -> list[StreamResponse]:
    listener = StreamListener(field, field_format=fmt)
    out: list[StreamResponse] = []
    if use_receive:
        for chunk in chunks:
            response = listener.receive(chunk)
            if response is not None:
                out.append(response)
        final = listener.finalize()
        if final is not None:
            out.append(final)
    else:
        for chunk in chunks:
            out.extend(listener.feed(chunk))
        out.extend(listener.flush())
    return out


def check(responses: list[StreamResponse], expected: str) -> None:
    assert "".join(r.chunk for r in responses) == expected
    assert [r.is_last_chunk for r in responses].count(True) == 1
    assert responses[-1].is_last_chunk
    assert all(r.chunk for r in responses[:-1]), "a non-final response is empty"
    assert all(r.signature_field_name == "answer" for r in responses)


@SETTINGS
@given(st.data(), values, values, values, st.sampled_from(["\n", "\n\n", " ", ""]), st.booleans())
def test_chat_any_split_yields_the_trimmed_value(
    data: st.DataObject, value: str, before: str, after: str, gap: str, use_receive: bool
) -> None:
    reply = (
        f"[[ ## reasoning ## ]]\n{before}{gap}"
        f"[[ ## answer ## ]]{gap}{value}{gap}"
        f"[[ ## notes ## ]]\n{after}\n\n[[ ## completed ## ]]\n"
    )
    if CHAT_MARKER.findall(reply) != [
        "[[ ## reasoning ## ]]",
        "[[ ## answer ## ]]",
        "[[ ## notes ## ]]",
        "[[ ## completed ## ]]",
    ]:
        return  # a full marker inside a value would end the field: not a valid reply
    chunks = data.draw(splits(reply))
    check(stream("chat", chunks, use_receive), value.strip())


@SETTINGS
@given(st.data(), values, values, st.booleans())
def test_chat_field_cut_off_by_the_end_of_the_reply_is_flushed_whole(
    data: st.DataObject, value: str, before: str, use_receive: bool
) -> None:
    if CHAT_MARKER.search(value) or CHAT_MARKER.search(before):
        return
    # The value may end in what looks like the beginning of a marker: it is flushed as text.
    reply = f"[[ ## reasoning ## ]]\n{before}\n[[ ## answer ## ]]\n{value}"
    chunks = data.draw(splits(reply))
    check(stream("chat", chunks, use_receive), value.strip())


@SETTINGS
@given(
    st.data(),
    values,
    values,
    values,
    st.sampled_from(["", "\n", "  "]),
    st.booleans(),
)
def test_xml_any_split_yields_the_trimmed_value(
    data: st.DataObject, value: str, before: str, after: str, gap: str, use_receive: bool
) -> None:
    if "</answer>" in value or "<answer>" in before:
        return
    reply = (
        f"<reasoning>{before}</reasoning>{gap}<answer>{gap}{value}{gap}</answer>"
        f"{gap}<notes>{after}</notes>"
    )
    chunks = data.draw(splits(reply))
    check(stream("xml", chunks, use_receive), value.strip())


json_text = st.one_of(values, st.text(max_size=30))


@SETTINGS
@given(
    st.data(),
    json_text,
    json_text,
    st.booleans(),
    st.sampled_from([None, 2]),
    st.booleans(),
)
def test_json_any_split_yields_the_exact_decoded_string(
    data: st.DataObject,
    value: str,
    other: str,
    ascii_only: bool,
    indent: int | None,
    use_receive: bool,
) -> None:
    obj = {"reasoning": other, '"answer"': other, "answer": value, "notes": {"answer": other}}
    reply = json.dumps(obj, ensure_ascii=ascii_only, indent=indent)
    chunks = data.draw(splits(reply))
    check(stream("json", chunks, use_receive), value)


json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        json_text,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(json_text, inner, max_size=4)
    ),
    max_leaves=12,
)


@SETTINGS
@given(st.data(), json_values, json_values, st.sampled_from([None, 2]), st.booleans())
def test_json_any_split_yields_any_value_whole(
    data: st.DataObject, value: Any, other: Any, indent: int | None, use_receive: bool
) -> None:
    reply = json.dumps({"other": other, "answer": value, "last": other}, indent=indent)
    chunks = data.draw(splits(reply))
    responses = stream("json", chunks, use_receive)
    joined = "".join(r.chunk for r in responses)
    if isinstance(value, str):
        assert joined == value
    else:
        assert json.loads(joined) == value
        # Raw JSON text, as written in the reply.
        assert joined in reply
    assert [r.is_last_chunk for r in responses].count(True) == 1
    assert responses[-1].is_last_chunk


@SETTINGS
@given(st.data(), st.sampled_from(["chat", "xml", "json"]), values)
def test_every_split_gives_the_same_responses_text_as_the_single_chunk_reply(
    data: st.DataObject, fmt: str, value: str
) -> None:
    if fmt == "chat" and CHAT_MARKER.search(value):
        return
    if fmt == "xml" and "</answer>" in value:
        return
    reply = {
        "chat": f"[[ ## answer ## ]]\n{value}\n[[ ## completed ## ]]",
        "xml": f"<answer>{value}</answer>",
        "json": json.dumps({"answer": value}),
    }[fmt]
    whole = stream(fmt, [reply], use_receive=False)
    assert len(whole) == 1  # a cached reply: one response with all the text
    split = stream(fmt, data.draw(splits(reply)), use_receive=False)
    assert "".join(r.chunk for r in split) == whole[0].chunk
