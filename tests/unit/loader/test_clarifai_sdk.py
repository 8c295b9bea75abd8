"""Tests for modelrt's stand-in Clarifai SDK: the names, constructors and behaviour bundles use."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from loader.clarifai.sdk.runners.models.model_class import ModelClass
from loader.clarifai.sdk.runners.utils.data_types import (
    JSON,
    Concept,
    Image,
    NamedFields,
    Region,
    Stream,
    Text,
    cast,
)
from loader.clarifai.sdk.runners.utils.data_utils import Param
from loader.clarifai.signatures import method_specs
from loader.clarifai.types import iterator_item


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cat", "cat"),
        ("Big cat!", "Big-cat"),
        ("a_b c-d", "ab-cd"),
        ("café au lait", "caf-au-lait"),
    ],
)
def test_concept_name_to_id_is_the_platform_rule(name: str, expected: str) -> None:
    assert Concept._concept_name_to_id(name) == expected
    assert Concept(name).id == expected


def test_stream_marks_streamed_arguments_and_returns_like_iterator() -> None:
    class Echo(ModelClass):
        @ModelClass.method
        def generate(self, prompt: Text) -> Stream[Text]:
            yield prompt

        @ModelClass.method
        def stream(self, chunks: Stream[Text], sep: str = "") -> Stream[Text]:
            yield from chunks

    specs = method_specs(Echo)
    assert (specs["generate"].kind, specs["generate"].returns) == ("generate", Text)
    assert (specs["stream"].kind, specs["stream"].streamed.name) == ("stream", "chunks")
    assert iterator_item(Stream[Image]) is Image
    assert iterator_item(Stream) is Any


def test_stream_is_an_iterator_over_its_values() -> None:
    stream: Iterator[str] = Stream(["a", "b"])
    assert list(stream) == ["a", "b"]


def test_region_refuses_a_box_that_is_not_four_numbers() -> None:
    with pytest.raises(TypeError, match=r"Region box: give \[xmin, ymin, xmax, ymax\]"):
        Region(box=[0.1, 0.2])
    assert Region(box=(0, 0, 1, 1), id="r").box == [0, 0, 1, 1]


def test_named_fields_with_types_is_a_type_and_with_values_a_record() -> None:
    record_type = NamedFields(caption=str, score=float)
    assert isinstance(record_type, type)
    assert record_type.__annotations__ == {"caption": str, "score": float}
    record = NamedFields(caption="a dog", score=0.5)
    assert (record.caption, record["score"], dict(record)) == ("a dog", 0.5, dict(record.items()))
    assert "caption" in record


def test_param_stands_for_its_default_when_a_method_is_called_directly() -> None:
    temperature = Param(default=0.5, min_value=0.0, max_value=2.0)
    assert (temperature * 2, 1 + temperature, float(temperature)) == (1.0, 1.5, 0.5)
    assert temperature == 0.5
    assert temperature < 1
    assert f"{temperature:.1f}" == "0.5"
    words = Param(default="ab")
    assert (words.upper(), len(words), "a" in words, words[1]) == ("AB", 2, True, "b")
    assert pickle.loads(pickle.dumps(temperature)).max_value == 2.0
    assert copy.copy(words).default == "ab"


def test_cast_turns_typed_values_into_the_annotated_types() -> None:
    assert cast(Text("hi"), str) == "hi"
    assert cast([Text("a"), Text("b")], list[str]) == ["a", "b"]
    assert JSON({"k": 1}).cast(dict) == {"k": 1}
    with pytest.raises(TypeError, match=r"a Text does not convert to int"):
        Text("x").cast(int)
