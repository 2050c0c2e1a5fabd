"""Example tests of ``StreamListener`` and the field formats (``_listener.py``, ``_formats.py``).

Property tests over arbitrary splits of the token stream are in
``test_listener_properties.py``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from streamify._formats import (
    ChatFormat,
    FieldFormat,
    FieldScanner,
    JSONFormat,
    MarkerFormat,
    XMLFormat,
    check_field_format,
)
from streamify._listener import _FAST, StreamListener
from streamify._messages import StreamResponse

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from streamify._formats import Piece

DSPY_REPLY = (
    "[[ ## reasoning ## ]]\nBecause...\n\n"
    "[[ ## answer ## ]]\nHow are you doing?\n\n"
    "[[ ## completed ## ]]"
)


def split_every(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def run(listener: StreamListener, chunks: Iterable[str]) -> list[StreamResponse]:
    """Feed every chunk, then flush: all responses, in order."""
    out: list[StreamResponse] = []
    for chunk in chunks:
        out.extend(listener.feed(chunk))
    out.extend(listener.flush())
    return out


def run_receive(listener: StreamListener, chunks: Iterable[str]) -> list[StreamResponse]:
    """The same through DSPy's one-at-a-time ``receive``/``finalize``."""
    out: list[StreamResponse] = []
    for chunk in chunks:
        response = listener.receive(chunk)
        if response is not None:
            out.append(response)
    while True:
        response = listener.finalize()
        if response is None:
            return out
        out.append(response)


def text_of(responses: Sequence[StreamResponse]) -> str:
    return "".join(response.chunk for response in responses)


def assert_one_occurrence(responses: Sequence[StreamResponse]) -> None:
    assert [r.is_last_chunk for r in responses].count(True) == 1
    assert responses[-1].is_last_chunk
    assert all(r.chunk for r in responses[:-1]), "a non-final chunk is empty"


def field_text(fmt: Any, reply: str, size: int, field: str = "answer", **kw: Any) -> str:
    responses = run(StreamListener(field, field_format=fmt, **kw), split_every(reply, size))
    assert_one_occurrence(responses)
    return text_of(responses)


# ------------------------------------------------------------------------------------ chat


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 11, 1000])
def test_chat_dspy_example_joins_to_exactly_the_answer_for_any_chunk_size(size: int) -> None:
    assert field_text("chat", DSPY_REPLY, size) == "How are you doing?"


def test_chat_is_the_default_format_and_tags_standalone_responses() -> None:
    responses = run(StreamListener("answer"), split_every(DSPY_REPLY, 4))
    assert {
        (r.predict_name, r.signature_field_name, r.call_id, r.parent_call_id) for r in responses
    } == {("", "answer", "", None)}
    named = run(StreamListener("answer", predict_name="qa"), [DSPY_REPLY])
    assert named[0].predict_name == "qa"


def test_chat_split_at_every_pair_of_positions_gives_the_same_text() -> None:
    for first in range(len(DSPY_REPLY)):
        for second in range(first, len(DSPY_REPLY), 7):
            chunks = [DSPY_REPLY[:first], DSPY_REPLY[first:second], DSPY_REPLY[second:]]
            responses = run(StreamListener("answer"), chunks)
            assert text_of(responses) == "How are you doing?", (first, second)
            assert_one_occurrence(responses)


def test_chat_cached_reply_in_one_chunk_yields_one_last_response_with_all_the_text() -> None:
    listener = StreamListener("answer")
    response = listener.receive(DSPY_REPLY)
    assert response == StreamResponse("", "answer", "How are you doing?", True)
    assert listener.finalize() is None


def test_chat_listener_on_the_first_field_ends_at_the_next_marker() -> None:
    assert field_text("chat", DSPY_REPLY, 3, field="reasoning") == "Because..."


def test_chat_trailing_whitespace_is_held_back_until_text_follows() -> None:
    listener = StreamListener("answer")
    assert listener.feed("[[ ## answer ## ]]\n\n  Hello ") == [
        StreamResponse("", "answer", "Hello", False)
    ]
    assert listener.feed("  ") == []
    assert [r.chunk for r in listener.feed("world\n")] == ["   world"]
    assert listener.feed("\n[[ ## completed ## ]]") == [StreamResponse("", "answer", "", True)]


def test_chat_last_response_carries_the_text_that_arrives_with_the_end_marker() -> None:
    listener = StreamListener("answer")
    assert [r.chunk for r in listener.feed("[[ ## answer ## ]] Hi")] == ["Hi"]
    assert listener.feed(" there\n[[ ## completed ## ]]") == [
        StreamResponse("", "answer", " there", True)
    ]


def test_chat_marker_like_content_comes_through_intact() -> None:
    value = "a [[ b ]] ## c [[ ## d [[ ## e ## ] [[## f ## ]] [[ ## g h ## ]] [ [[ ## "
    reply = f"[[ ## answer ## ]]\n{value}\n\n[[ ## completed ## ]]"
    for size in (1, 2, 3, 5, 8, 13, len(reply)):
        assert field_text("chat", reply, size) == value.strip()


def test_chat_text_that_may_begin_a_marker_is_held_back_then_released() -> None:
    listener = StreamListener("answer")
    assert [r.chunk for r in listener.feed("[[ ## answer ## ]]x [[ ## ans")] == ["x"]
    assert [r.chunk for r in listener.feed("wer?")] == [" [[ ## answer?"]


def test_chat_end_marker_name_longer_than_200_characters_is_content() -> None:
    value = "[[ ## " + "n" * 201 + " ## ]]"
    reply = f"[[ ## answer ## ]]{value}[[ ## completed ## ]]"
    assert field_text("chat", reply, 9) == value


def test_empty_field_yields_one_empty_last_chunk() -> None:
    for fmt, reply in [
        ("chat", "[[ ## answer ## ]]\n \n[[ ## completed ## ]]"),
        ("xml", "<answer>  </answer>"),
        ("json", '{"answer": ""}'),
    ]:
        for size in (1, 3, 100):
            responses = run(StreamListener("answer", field_format=fmt), split_every(reply, size))
            assert responses == [StreamResponse("", "answer", "", True)], (fmt, size)


def test_finalize_flushes_held_text_of_a_field_that_never_ended() -> None:
    listener = StreamListener("answer")
    assert [r.chunk for r in listener.feed("[[ ## answer ## ]]\nHello [[ ## x")] == ["Hello"]
    assert listener.feed(" ##") == []
    assert listener.finalize() == StreamResponse("", "answer", " [[ ## x ##", True)


def test_finalize_of_a_field_that_never_started_returns_nothing() -> None:
    listener = StreamListener("answer")
    assert listener.feed("[[ ## reasoning ## ]]\nthinking [[ ## ans") == []
    assert listener.finalize() is None
    assert listener.flush() == []


def test_finalize_makes_the_listener_ready_for_the_next_reply() -> None:
    listener = StreamListener("answer", allow_reuse=True)
    # The first reply ends in a held-back partial start marker, which must not leak into the
    # next reply.
    assert listener.feed("[[ ## reasoning ## ]] x [[ ## answ") == []
    assert listener.flush() == []
    assert text_of(run(listener, ["er ## ]] no [[ ## answer ## ]] yes"])) == "yes"


def test_receive_returns_none_while_nothing_is_certain() -> None:
    listener = StreamListener("answer")
    assert listener.receive("[[ ## answer") is None
    assert listener.receive(" ## ]]\n") is None
    assert listener.receive("Hi") == StreamResponse("", "answer", "Hi", False)


# ------------------------------------------------------------------------------ allow_reuse


def test_without_allow_reuse_a_later_occurrence_is_ignored() -> None:
    listener = StreamListener("answer")
    first = run(listener, split_every(DSPY_REPLY, 3))
    assert text_of(first) == "How are you doing?"
    assert listener.completed_any
    assert run(listener, split_every(DSPY_REPLY.replace("How", "Who"), 3)) == []
    # ... also within the same reply
    again = StreamListener("answer")
    twice = "[[ ## answer ## ]] one [[ ## answer ## ]] two [[ ## completed ## ]]"
    assert [r.chunk for r in run(again, [twice])] == ["one"]


def test_with_allow_reuse_every_occurrence_streams_with_its_own_last_chunk() -> None:
    listener = StreamListener("answer", allow_reuse=True)
    first = run(listener, split_every(DSPY_REPLY, 3))
    second = run(listener, split_every(DSPY_REPLY.replace("How", "Who"), 3))
    assert text_of(first) == "How are you doing?"
    assert text_of(second) == "Who are you doing?"
    assert_one_occurrence(first)
    assert_one_occurrence(second)


def test_allow_reuse_within_one_chunk_loses_nothing_through_receive() -> None:
    reply = "[[ ## answer ## ]] one [[ ## answer ## ]] two [[ ## completed ## ]]"
    fed = run(StreamListener("answer", allow_reuse=True), [reply])
    assert [(r.chunk, r.is_last_chunk) for r in fed] == [("one", True), ("two", True)]
    received = run_receive(StreamListener("answer", allow_reuse=True), [reply])
    assert received == fed


def test_allow_reuse_in_json_streams_each_object_in_a_row() -> None:
    reply = '{"answer": "one"}\n{"answer": "two"}'
    responses = run(StreamListener("answer", field_format="json", allow_reuse=True), [reply])
    assert [(r.chunk, r.is_last_chunk) for r in responses] == [("one", True), ("two", True)]


# ------------------------------------------------------------------------------------- json


@pytest.mark.parametrize("size", [1, 2, 3, 5, 1000])
def test_json_string_value_is_streamed_decoded(size: int) -> None:
    value = 'line1\nline2\t"quoted" back\\slash /slash \b\f\r é 😀 end'
    reply = json.dumps({"reasoning": "r", "answer": value, "extra": 1})
    assert field_text("json", reply, size) == value


def test_json_every_escape_split_at_every_position_decodes_exactly() -> None:
    raw = r'{"answer": "a\n\t\"\\\/\b\f\r\u00e9\u20ac\ud83d\ude00z"}'
    expected = json.loads(raw)["answer"]
    for cut in range(len(raw) + 1):
        for cut2 in range(cut, len(raw) + 1, 3):
            chunks = [raw[:cut], raw[cut:cut2], raw[cut2:]]
            responses = run(StreamListener("answer", field_format="json"), chunks)
            assert text_of(responses) == expected, (cut, cut2)
            assert_one_occurrence(responses)


def test_json_surrogate_pair_split_anywhere_becomes_one_character() -> None:
    raw = '{"answer": "\\ud83d\\ude00"}'
    for size in range(1, 14):
        responses = run(StreamListener("answer", field_format="json"), split_every(raw, size))
        assert text_of(responses) == "\U0001f600"
        assert all("\ud83d" not in r.chunk for r in responses)


def test_json_lone_surrogates_and_invalid_escapes_follow_json_loads_or_stay_as_written() -> None:
    lone = '{"answer": "a\\ud83d b \\udc00"}'
    assert field_text("json", lone, 1) == json.loads(lone)["answer"]
    assert field_text("json", '{"answer": "a\\qb\\u12G4"}', 2) == "a\\qb\\u12G4"


def test_json_reply_ending_inside_an_escape_flushes_it_as_written() -> None:
    assert field_text("json", '{"answer": "ab\\u00', 3) == "ab\\u00"
    assert field_text("json", '{"answer": "ab\\ud83d', 3) == "ab\ud83d"


def test_json_string_value_is_not_trimmed() -> None:
    assert field_text("json", '{"answer": "  spaced \\n "}', 2) == "  spaced \n "


@pytest.mark.parametrize(
    ("raw_value", "size"),
    [
        (raw, size)
        for raw in ["42", "-1.5e+3", "true", "false", "null", '{"a": [1, "}]"], "b": {}}', "[]"]
        for size in (1, 2, 4, 100)
    ],
)
def test_json_non_string_value_is_streamed_as_its_raw_text(raw_value: str, size: int) -> None:
    reply = '{"reasoning": "r", "answer": ' + raw_value + ', "z": "after"}'
    assert field_text("json", reply, size) == raw_value
    compact = '{"answer":' + raw_value + "}"
    assert field_text("json", compact, size) == raw_value


def test_json_container_value_ending_the_last_chunk_carries_the_closing_bracket() -> None:
    responses = run(StreamListener("answer", field_format="json"), ['{"answer": [1, ', "2]}"])
    assert [(r.chunk, r.is_last_chunk) for r in responses] == [("[1, ", False), ("2]", True)]


def test_json_key_text_inside_another_string_is_not_the_field() -> None:
    reply = '{"reasoning": "the \\"answer\\": is \\"no\\"", "answer": "x"}'
    for size in (1, 2, 3, 7, len(reply)):
        assert field_text("json", reply, size) == "x"


def test_json_key_in_a_nested_object_is_not_the_field() -> None:
    reply = '{"meta": {"answer": "nested", "list": [{"answer": 1}]}, "answer": "top"}'
    for size in (1, 3, len(reply)):
        assert field_text("json", reply, size) == "top"


def test_json_escaped_key_is_decoded_before_comparing() -> None:
    assert field_text("json", '{"\\u0061nswer": "yes"}', 2) == "yes"


def test_json_text_around_the_object_is_ignored() -> None:
    reply = 'Sure:\n```json\n{\n  "answer": "fenced"\n}\n```\nDone "answer": "no"'
    assert field_text("json", reply, 3) == "fenced"


def test_json_whitespace_and_newlines_between_tokens_are_accepted() -> None:
    reply = '{\n  "reasoning" :\n "r" ,\n  "answer"\n  :\n  "spaced out"\n}'
    assert field_text("json", reply, 2) == "spaced out"


# -------------------------------------------------------------------------------------- xml


@pytest.mark.parametrize("size", [1, 2, 3, 5, 1000])
def test_xml_field_ends_only_at_its_exact_closing_tag(size: int) -> None:
    value = "a < b, <b>bold</b> </answe </answerx <answer> </ANSWER> a<"
    reply = f"<reasoning>why </answer></reasoning>\n<answer>\n{value}\n</answer>"
    assert field_text("xml", reply, size) == value


def test_xml_entities_are_passed_through_as_written() -> None:
    assert field_text("xml", "<answer>1 &lt; 2 &amp; 3</answer>", 4) == "1 &lt; 2 &amp; 3"


def test_xml_unclosed_field_is_flushed_and_trimmed_at_the_end_of_the_reply() -> None:
    assert field_text("xml", "<answer>\n unfinished </answ  ", 3) == "unfinished </answ"


# ------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"signature_field_name": 3}, TypeError, "signature_field_name must be a str naming"),
        ({"signature_field_name": ""}, ValueError, "signature_field_name must not be empty"),
        (
            {"signature_field_name": "an swer"},
            ValueError,
            "signature_field_name must contain only letters, digits and underscores "
            "(the name of an output field), got 'an swer'",
        ),
        (
            {"signature_field_name": "a" * 201},
            ValueError,
            "signature_field_name is 201 characters long; field names are limited to 200",
        ),
        (
            {"signature_field_name": "a", "predict_name": 1},
            TypeError,
            "predict_name must be a str or None, got int",
        ),
        (
            {"signature_field_name": "a", "allow_reuse": 1},
            TypeError,
            "allow_reuse must be True or False, got int",
        ),
        (
            {"signature_field_name": "a", "field_format": "yaml"},
            ValueError,
            'field_format must be "chat", "json", "xml", a FieldFormat instance or None, '
            "got 'yaml'",
        ),
        (
            {"signature_field_name": "a", "field_format": 3},
            TypeError,
            'field_format must be "chat", "json", "xml", a FieldFormat instance or None, got int',
        ),
        (
            {"signature_field_name": "a", "field_format": XMLFormat},
            TypeError,
            "field_format must be a FieldFormat instance, not the class XMLFormat; "
            "pass XMLFormat() instead",
        ),
    ],
)
def test_bad_arguments_are_refused_at_construction_with_a_message_saying_what_to_do(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        StreamListener(**kwargs)
    assert message in str(caught.value)


def test_a_200_character_field_name_is_accepted() -> None:
    name = "f" * 200
    reply = f"[[ ## {name} ## ]] ok [[ ## completed ## ]]"
    assert field_text("chat", reply, 5, field=name) == "ok"


@pytest.mark.parametrize("method", ["receive", "feed"])
def test_non_str_chunk_raises_type_error_naming_the_type(method: str) -> None:
    listener = StreamListener("answer")
    with pytest.raises(TypeError) as caught:
        getattr(listener, method)(b"[[ ## answer ## ]]")
    assert str(caught.value) == (
        f"StreamListener.{method}() takes str chunks, got bytes; decode it first"
    )
    with pytest.raises(
        TypeError, match=rf"StreamListener\.{method}\(\) takes str chunks, got int$"
    ):
        getattr(listener, method)(5)


def test_str_subclass_chunks_are_accepted() -> None:
    class Token(str):
        pass

    assert field_text("chat", Token(DSPY_REPLY), 4) == "How are you doing?"


def test_check_field_format_returns_a_valid_value_and_refuses_a_bad_one() -> None:
    assert check_field_format("xml") == "xml"
    assert check_field_format(None) is None
    with pytest.raises(ValueError, match=r"^@module\(field_format=\.\.\.\) must be"):
        check_field_format("yml", "@module(field_format=...)")


# ------------------------------------------------------------------------ copy, reset, bind


def test_copy_is_unstarted_independent_and_configured_the_same() -> None:
    fmt = XMLFormat()
    listener = StreamListener("answer", "predict", "qa", True, field_format=fmt)
    assert listener.feed("<answer>Hel") == [StreamResponse("qa", "answer", "Hel", False)]
    clone = listener.copy()
    assert type(clone) is StreamListener
    assert (clone.signature_field_name, clone.predict, clone.predict_name) == (
        "answer",
        "predict",
        "qa",
    )
    assert (clone.allow_reuse, clone.field_format) == (True, fmt)
    assert clone.feed("lo</answer>") == []  # fresh: the field has not started in the copy
    assert text_of(listener.feed("lo</answer>")) == "lo"
    assert text_of(run(clone, ["<answer>copy</answer>"])) == "copy"
    assert not listener.copy().completed_any


def test_reset_forgets_the_streamed_field_and_the_held_text() -> None:
    listener = StreamListener("answer")
    run(listener, [DSPY_REPLY])
    listener.feed("[[ ## answer ## ]] abc [[ ## ")
    listener.reset()
    assert not listener.completed_any
    assert text_of(run(listener, [DSPY_REPLY])) == "How are you doing?"


def test_bind_tags_responses_and_chooses_the_format_only_when_none_was_given() -> None:
    listener = StreamListener("answer")
    listener._bind("qa", "call-2", "call-1", "json")
    assert listener.active_format.name == "json"
    assert run(listener, ['{"answer": "hi"}']) == [
        StreamResponse("qa", "answer", "hi", True, "call-2", "call-1")
    ]
    listener._bind("qa", "call-3", None, None)
    assert listener.active_format.name == "chat"

    fixed = StreamListener("answer", field_format="xml")
    fixed._bind("qa", "c", None, "json")
    assert fixed.active_format.name == "xml"
    assert text_of(run(fixed, ["<answer>x</answer>"])) == "x"


def test_fast_built_responses_are_ordinary_equal_stream_responses() -> None:
    listener = StreamListener("answer")
    listener._bind("qa", "c2", "c1", None)
    (response,) = run(listener, ["[[ ## answer ## ]] hi [[ ## completed ## ]]"])
    plain = StreamResponse("qa", "answer", "hi", True, "c2", "c1")
    assert _FAST, "StreamResponse changed shape: the listener fell back to the slow constructor"
    assert type(response) is StreamResponse
    assert response == plain
    assert hash(response) == hash(plain)
    assert repr(response) == repr(plain)
    assert vars(response) == vars(plain)
    assert list(vars(response)) == list(vars(plain))


def test_held_back_text_stays_bounded_however_long_the_field() -> None:
    # Per-chunk cost depends on the chunk plus the held-back tail; the tail must not grow.
    listener = StreamListener("answer")
    listener.feed("[[ ## answer ## ]]")
    longest = 0
    for _ in range(5000):
        listener.feed("x [[ ## y")
        listener.feed(" ## z [")
        longest = max(longest, len(listener._scanner._pending))  # type: ignore[attr-defined]
    assert longest <= 16


# ------------------------------------------------------------------------------ plug-ins


class HeadingFormat(MarkerFormat):
    """Markdown-like replies: ``### answer`` heading lines; a field ends at the next one."""

    name = "heading"
    start = "### {field}\n"
    end = ("\n### ", "\n---")


class YamlishFormat(MarkerFormat):
    """``answer: ...`` lines; a field ends where the next ``name:`` line begins."""

    name = "yamlish"
    start = "\n{field}:"
    end = "\n{name}:"
    preamble = "\n"  # so that the first line of the reply can start a field too


@pytest.mark.parametrize("size", [1, 2, 3, 100])
def test_custom_marker_format_subclass_streams_its_field(size: int) -> None:
    reply = "### reasoning\nbecause\n\n### answer\n  It is # not ## a ### heading  \n---\nbye"
    assert field_text(HeadingFormat(), reply, size) == "It is # not ## a ### heading"


@pytest.mark.parametrize("size", [1, 2, 3, 100])
def test_custom_format_with_preamble_matches_a_field_on_the_first_line(size: int) -> None:
    fmt = YamlishFormat()
    assert field_text(fmt, "answer: first line\nnote: x", size) == "first line"
    reply = "reasoning: the answer: is\nnot: here\nanswer:  two\n  lines \nconfidence: high"
    assert field_text(fmt, reply, size) == "two\n  lines"


def test_marker_format_can_be_built_from_templates_without_subclassing() -> None:
    fmt = MarkerFormat(start="<<{field}>>", end="<</{{{field}}}>>", trim=False)
    assert field_text(fmt, "<<answer>> a <</{answer}>> ", 2) == " a "
    assert repr(fmt) == "MarkerFormat(start='<<{field}>>', end='<</{{{field}}}>>')"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "", "end": "x"}, "start marker template is empty"),
        ({"start": "{name}:", "end": "x"}, "unknown placeholder {name}"),
        ({"start": "<{fld}>", "end": "x"}, "unknown placeholder {fld}"),
        ({"start": "<{field}>", "end": "{name}:"}, "must begin with literal text"),
        ({"start": "<{field}>", "end": "<{name}"}, "{name} must be followed by literal text"),
        ({"start": "<{field}>", "end": "<{name}x"}, "{name} must be followed by literal text"),
        ({"start": "<{field", "end": "x"}, "is malformed"),
        ({"start": "<{field}>", "end": ()}, "end must be a str or a non-empty tuple"),
    ],
)
def test_bad_marker_templates_are_refused_when_the_format_is_built(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises((TypeError, ValueError)) as caught:
        MarkerFormat(**kwargs)
    assert message in str(caught.value)


class WholeReplyFormat(FieldFormat):
    """A low-level plug-in: the whole reply is the field (a plain, unstructured LM)."""

    name = "whole"

    def new_scanner(self, field: str) -> FieldScanner:
        return WholeReplyScanner()


class WholeReplyScanner(FieldScanner):
    def __init__(self) -> None:
        self.open = False

    def feed(self, text: str) -> Sequence[Piece]:
        if not text:
            return ()
        self.open = True
        return [(text, False)]

    def finish(self) -> Sequence[Piece]:
        was_open, self.open = self.open, False
        return [("", True)] if was_open else ()

    def reset(self) -> None:
        self.open = False


def test_low_level_field_format_plug_in_is_used_as_is() -> None:
    responses = run(StreamListener("answer", field_format=WholeReplyFormat()), ["Hel", "lo"])
    assert [(r.chunk, r.is_last_chunk) for r in responses] == [
        ("Hel", False),
        ("lo", False),
        ("", True),
    ]


def test_builtin_formats_are_field_format_instances_with_names() -> None:
    assert [f.name for f in (ChatFormat(), JSONFormat(), XMLFormat())] == ["chat", "json", "xml"]
    assert repr(StreamListener("answer", field_format="xml", allow_reuse=True)) == (
        "StreamListener('answer', allow_reuse=True, field_format='xml')"
    )


def test_json_escaped_quote_split_from_its_backslash_does_not_end_a_skipped_string() -> None:
    # A scanner that lost the escape would close "reasoning" early and read a fake key.
    reply = json.dumps({"reasoning": 'x", "answer": "fake', "answer": "real"})
    for size in (1, 2, 3):
        assert field_text("json", reply, size) == "real"


def test_copy_of_a_subclass_keeps_its_class_and_its_own_attributes() -> None:
    class Tagged(StreamListener):
        def __init__(self, field: str, tag: str) -> None:
            super().__init__(field)
            self.tag = tag

    clone = Tagged("answer", "t1").copy()
    assert type(clone) is Tagged
    assert clone.tag == "t1"
    assert text_of(run(clone, [DSPY_REPLY])) == "How are you doing?"
