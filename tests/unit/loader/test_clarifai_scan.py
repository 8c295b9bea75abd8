"""Tests for loader.clarifai.scan: what each RPC of a Clarifai folder takes, read from source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from loader.clarifai.scan import InputHint, input_hints, kind_of, marked_methods
from loader.config import BundleConfig
from runtime.local.samples import build_sample, encode_png, sample_image
from tests.clarifai_factory import write_clarifai


@pytest.mark.parametrize(
    ("hint", "kind", "streamed"),
    [
        ("str", "text", False),
        ("Text", "text", False),
        ("dt.Image", "image", False),
        ("PIL.Image.Image", "image", False),
        ("Optional[Audio]", "audio", False),
        ("Video | None", "video", False),
        ("np.ndarray", "tensor", False),
        ("List[str]", "list:text", False),
        ("Iterator[np.ndarray]", "tensor", True),
        ("Stream[Text]", "text", True),
        ("'Text'", "text", False),
        ("Frame", "other", False),
    ],
)
def test_type_hints_map_to_the_kind_of_sample_they_take(
    hint: str, kind: str, streamed: bool
) -> None:
    assert kind_of(ast.parse(hint, mode="eval").body) == (kind, streamed)


SOURCE = """
from clarifai.runners.models.model_class import ModelClass

class Model(ModelClass):
    @ModelClass.method
    def predict(self, text: Text, top_k: int = Param(default=3)) -> list[Concept]: ...

    @ModelClass.method
    def caption(self, image: Image) -> Stream[Text]: ...

    @ModelClass.method
    def stream(self, chunks: Stream[Audio], language: str = "en") -> Stream[Text]: ...

    def helper(self, x: Image) -> str: ...
"""


def test_marked_methods_are_read_with_their_rpc_and_arguments() -> None:
    methods = marked_methods(SOURCE)
    assert sorted(methods) == ["caption", "predict", "stream"]
    assert methods["predict"] == (
        "predict",
        (InputHint("text", "text"), InputHint("top_k", "int", required=False)),
    )
    assert methods["caption"] == ("generate", (InputHint("image", "image"),))
    assert methods["stream"][0] == "stream"
    assert methods["stream"][1][0] == InputHint("chunks", "audio", streamed=True)


def test_a_text_method_gets_text_whatever_the_model_type(tmp_path: Path) -> None:
    folder = write_clarifai(tmp_path, "m", SOURCE, model_type_id="visual-classifier")
    sample = build_sample(BundleConfig(name="m", model_type="classification"), input_hints(folder))
    assert sample.inputs == {"text": "the cat"}
    assert sample.for_generate == {"image": encode_png(sample_image())}
    assert list(sample.stream[0]) == ["chunks"]


def test_a_proto_style_folder_is_described_by_its_model_type(tmp_path: Path) -> None:
    code = "class Model(ModelRunner):\n    def predict(self, request): ...\n"
    folder = write_clarifai(tmp_path, "m", code, model_type_id="text-classifier")
    assert input_hints(folder)["predict"] == (InputHint("text", "text", streamed=True),)
