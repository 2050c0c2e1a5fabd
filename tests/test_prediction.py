"""A program's result always arrives as a ``Prediction``, whatever mapping it returns: its keys
become fields where they can, and the value itself, every key included, is ``.raw``."""

from __future__ import annotations

import copy
import enum
import json
import pickle
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamify import Prediction, encode_item, streamify, streaming_response


class Unprintable:
    """A hashable key whose ``str()`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str for this key")

    def __repr__(self) -> str:
        return "Unprintable()"


class Color(str, enum.Enum):
    RED = "red"  # str(Color.RED) is "Color.RED"; as a str, and in JSON, it is "red"


class UnreadableMapping(Mapping[str, int]):
    """A mapping whose items cannot be read."""

    def __getitem__(self, key: str) -> int:
        raise RuntimeError("unreadable")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("unreadable")

    def __len__(self) -> int:
        return 1


async def result_of(value: Any) -> Prediction:
    """What the consumer of a streamified program that returns ``value`` gets, last."""

    async def program() -> Any:
        return value

    items = [item async for item in streamify(program)()]
    assert len(items) == 1
    assert isinstance(items[0], Prediction)
    return items[0]


async def test_a_mapping_result_with_a_key_named_self_arrives_as_a_prediction() -> None:
    value = {"self": 1, "cls": 2, "value": 3}
    prediction = await result_of(value)
    assert prediction["self"] == 1
    assert prediction.cls == 2
    assert prediction.value == 3
    assert prediction.raw is value
    assert Prediction(self=1)["self"] == 1  # the constructor takes any field name too


async def test_a_result_with_a_key_whose_str_raises_arrives_with_that_key_in_raw() -> None:
    key = Unprintable()
    value = {key: "kept", "answer": 42}
    prediction = await result_of(value)
    assert prediction.toDict() == {"answer": 42}
    assert prediction.raw is value
    assert prediction.raw[key] == "kept"


async def test_keys_sharing_a_name_keep_both_values_the_str_key_as_field_the_other_in_raw() -> None:
    for value in ({1: "a", "1": "b"}, {"1": "b", 1: "a"}):
        prediction = await result_of(value)
        assert prediction.toDict() == {"1": "b"}  # the str key wins, wherever it is
        assert prediction.raw[1] == "a"
        assert "raw=" in repr(prediction)  # the fields do not hold all of it: repr shows it
    prediction = await result_of({2: "x", 2.5: "y", None: "z"})
    assert prediction.toDict() == {"2": "x", "2.5": "y", "None": "z"}
    assert repr(prediction) == "Prediction(2='x', 2.5='y', None='z')"


async def test_str_subclass_keys_are_fields_by_their_string_value() -> None:
    prediction = await result_of({Color.RED: 1})
    assert prediction.toDict() == {"red": 1}
    assert type(next(iter(prediction))) is str
    assert encode_item(prediction)["data"] == {"red": 1}  # the same name as in JSON


async def test_a_mapping_whose_items_cannot_be_read_still_arrives() -> None:
    value = UnreadableMapping()
    prediction = await result_of(value)
    assert prediction.toDict() == {}
    assert prediction.raw is value


async def test_a_mapping_result_with_any_keys_reaches_an_sse_client_as_a_prediction() -> None:
    async def program() -> dict[Any, Any]:
        return {"self": 1, Unprintable(): 2, 3: "three", "3": "drei", True: "t", "True": "T"}

    frames = [frame async for frame in streaming_response(streamify(program)())]
    assert frames[-1] == "data: [DONE]\n\n"
    payload = json.loads(frames[0][len("data: ") :])
    assert payload["type"] == "prediction"
    assert payload["data"] == {"self": 1, "3": "drei", "True": "T"}
    # "raw" (sent when the fields do not hold every key) cannot be encoded here: its key
    # Unprintable() is no JSON key, and 3 and "3" would be the same one; so it is left out
    assert "raw" not in payload


def test_a_prediction_payload_carries_raw_when_the_fields_do_not_hold_every_key() -> None:
    assert encode_item(Prediction.from_value({True: 1, "True": 2})) == {
        "type": "prediction",
        "data": {"True": 2},
        "raw": {"true": 1, "True": 2},
    }
    assert encode_item(Prediction.from_value({"a": 1, 2: "b"})) == {
        "type": "prediction",
        "data": {"a": 1, "2": "b"},
    }


keys = st.one_of(
    st.text(max_size=3),
    st.sampled_from(["self", "cls", "value", "raw", "1", "True", "None"]),
    st.integers(-3, 3),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.tuples(st.integers(0, 2)),
    st.builds(Unprintable),
    st.sampled_from(list(Color)),
)


@settings(max_examples=300, deadline=None, database=None)
@given(value=st.dictionaries(keys, st.integers(), max_size=6))
def test_from_value_never_raises_and_every_value_stays_reachable(value: dict[Any, int]) -> None:
    prediction = Prediction.from_value(value)
    assert prediction.raw is value
    for key, item in value.items():
        if isinstance(key, str):  # a str key is always a field, by its string value
            assert prediction[str.__str__(key)] is item
    # every field is one key's value, named after that key
    names: dict[str, Any] = {}
    for key in value:
        if isinstance(key, str):
            names.setdefault(str.__str__(key), key)
    for key in value:
        if not isinstance(key, str):
            try:
                names.setdefault(str(key), key)
            except RuntimeError:
                pass
    assert prediction.toDict() == {name: value[key] for name, key in names.items()}


@pytest.mark.parametrize("value", [{"a": [1], "self": 2}, 5, None, Prediction(answer="x")])
def test_a_prediction_survives_copy_deepcopy_and_pickle_with_fields_and_raw(value: Any) -> None:
    prediction = Prediction.from_value(value)
    for twin in (
        copy.copy(prediction),
        copy.deepcopy(prediction),
        pickle.loads(pickle.dumps(prediction)),
    ):
        assert twin == prediction
        assert dict(twin) == dict(prediction)
        if prediction.raw is prediction:
            assert twin.raw is twin
        else:
            assert twin.raw == prediction.raw
    deep = copy.deepcopy(prediction)
    if "a" in deep:
        deep["a"].append(2)
        assert prediction["a"] == [1]
