"""Tests for loader.clarifai.schema: a ModelClass's output schema from its methods' return types."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loader.clarifai.schema import output_schema
from loader.clarifai.sdk.runners.models.model_class import ModelClass
from loader.clarifai.sdk.runners.utils.data_types import Concept, Image, Region
from loader.clarifai.signatures import method_specs


def _schema(cls: type) -> type | None:
    return output_schema(cls, method_specs(cls))


class Labeller(ModelClass):
    @ModelClass.method
    def predict(self, text: str) -> list[Concept]:
        return [Concept(id="a", name="A", value=1.0)]


class Writer(ModelClass):
    @ModelClass.method
    def predict(self, prompt: str) -> str:
        return prompt

    @ModelClass.method
    def generate(self, prompt: str) -> Iterator[str]:
        yield prompt


class Mixed(ModelClass):
    @ModelClass.method
    def predict(self, prompt: str) -> str:
        return prompt

    @ModelClass.method
    def detect(self, image: Image) -> list[Region]:
        return []


class Painter(ModelClass):
    @ModelClass.method
    def predict(self, prompt: str) -> Image:
        return Image(bytes=b"")


def test_a_list_of_concepts_is_an_array_of_id_name_value() -> None:
    schema = _schema(Labeller)
    assert schema is not None
    assert schema.model_json_schema()["items"] == {"$ref": "#/$defs/ConceptOut"}
    assert schema.model_validate([{"id": "a", "name": "A", "value": 0.5}]).model_dump() == [
        {"id": "a", "name": "A", "value": 0.5}
    ]
    with pytest.raises(ValueError, match="name"):
        schema.model_validate([{"id": "a", "value": 0.5}])


def test_predict_and_generate_items_of_one_type_share_one_schema() -> None:
    schema = _schema(Writer)
    assert schema is not None
    assert schema.model_json_schema()["type"] == "string"


def test_methods_of_different_types_accept_either_answer() -> None:
    schema = _schema(Mixed)
    assert schema is not None
    assert schema.model_validate("hi").model_dump() == "hi"
    assert schema.model_validate([{"id": "r", "box": [0, 0, 1, 1]}]).model_dump()[0]["box"] == [
        0.0, 0.0, 1.0, 1.0
    ]  # fmt: skip


def test_a_method_returning_media_leaves_the_model_without_a_schema() -> None:
    assert _schema(Painter) is None
