"""Tests for the serving side of loader.gesund: input decoding, the model's steps, the answer and
its schema, the generated runner, and the torch a bundle sees."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import pytest
from pydantic import v1 as pydantic_v1

from loader.bundle import BundleSpec, import_bundle, prepare_bundle
from loader.gesund import GesundPackage
from loader.gesund.images import model_input
from loader.gesund.response import answer, field_names, with_loss
from loader.gesund.steps import Steps, flexible
from loader.unpack import UnpackLimits
from registry.errors import HookNotImplementedError, InvalidInputError
from registry.runner import ModelContext, ModelRunner, Request, implemented_hooks
from tests import gesund_factory as gf

pytestmark = pytest.mark.timeout(60)


# -- the input preprocess receives ---------------------------------------------------------


def test_png_bytes_reach_preprocess_as_hxwx3_uint8() -> None:
    pixels = gf.image(5, 7)

    decoded = model_input(Request(inputs={"scan": gf.png(pixels)}))

    assert decoded.dtype == np.uint8
    assert decoded.shape == (5, 7, 3)
    assert np.array_equal(decoded, pixels)


def test_jpeg_and_grayscale_images_decode_to_three_channels() -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4), 128, dtype=np.uint8)).save(buffer, format="JPEG")

    decoded = model_input(Request(inputs={"image": buffer.getvalue()}))

    assert decoded.shape == (4, 4, 3)
    assert decoded.dtype == np.uint8


def test_a_tensor_arrives_as_a_writable_array() -> None:
    wire = np.frombuffer(gf.image().tobytes(), dtype=np.uint8).reshape(6, 4, 3)

    decoded = model_input(Request(inputs={"image": wire}))

    decoded[0, 0, 0] = 1  # a read-only view would raise
    assert decoded.shape == (6, 4, 3)


def test_other_bytes_text_and_json_pass_unchanged() -> None:
    assert model_input(Request(inputs={"blob": b"\x00\x01"})) == b"\x00\x01"
    assert model_input(Request(inputs={"json": {"a": 1}})) == {"a": 1}


@pytest.mark.parametrize(
    ("value", "got"),
    [
        (b"\x00\x01", "got 2 bytes that are not a PNG or JPEG file"),
        ("a scan", "got text"),
        ([1, 2], "got a JSON array"),
        (True, "got a JSON boolean"),
        (None, "got a JSON null"),
        (np.zeros((0, 4, 3), np.uint8), "got a tensor of shape [0, 4, 3]"),
        (np.zeros((4, 4), bool), "got a tensor of bool"),
    ],
)
def test_an_image_model_refuses_values_that_are_no_image(value: Any, got: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        model_input(Request(inputs={"scan": value}), image_model=True)

    assert str(caught.value) == (
        "input 'scan' must be a PNG or JPEG image (bytes) or an image tensor (HxW or HxWxC"
        f" numbers); {got}"
    )
    assert caught.value.metadata == {"input": "scan"}


def test_an_image_model_takes_grayscale_and_float_tensors() -> None:
    gray = np.ones((5, 4), np.float32)

    assert model_input(Request(inputs={"image": gray}), image_model=True).shape == (5, 4)


def test_several_inputs_pick_image_then_input() -> None:
    assert model_input(Request(inputs={"meta": "x", "image": "pic", "input": "in"})) == "pic"
    assert model_input(Request(inputs={"meta": "x", "input": "in"})) == "in"


def test_several_unnamed_inputs_or_none_are_invalid_argument() -> None:
    with pytest.raises(InvalidInputError, match=r"name one 'image' or 'input' \(inputs sent: a, b"):
        model_input(Request(inputs={"a": 1, "b": 2}))
    with pytest.raises(InvalidInputError, match="inputs sent: none"):
        model_input(Request())


def test_a_corrupt_png_is_invalid_argument_naming_the_input() -> None:
    with pytest.raises(InvalidInputError, match="input 'image' is not a readable PNG/JPEG"):
        model_input(Request(inputs={"image": b"\x89PNG\r\n\x1a\n" + b"junk"}))


# -- steps -----------------------------------------------------------------------------------


def test_flexible_passes_only_the_arguments_a_step_takes() -> None:
    class TwoArgs:
        def __call__(self, input: Any, batch: bool = False) -> Any:
            return (input, batch)

    assert flexible(TwoArgs())("x", True, {"context": 1}) == ("x", True)
    assert flexible(lambda *args: args)("x", True, {}) == ("x", True, {})


def _package(tmp_path: Path, files: dict[str, str]) -> GesundPackage:
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return GesundPackage(tmp_path)


@pytest.fixture
def package_of(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], GesundPackage]]:
    mounted: list[GesundPackage] = []

    def build(files: dict[str, str]) -> GesundPackage:
        mounted.append(_package(tmp_path, files))
        return mounted[-1]

    yield build
    for package in mounted:
        package.unmount()


class _Model:
    def predict(self, input: Any) -> Any:
        return input


@pytest.mark.parametrize(
    ("loss_py", "expected"),
    [
        ("def loss(y_pred, gts):\n    return ['function', y_pred, gts]\n", "function"),
        (
            "class Loss:\n    def __call__(self, y_pred, gts):\n"
            "        return ['call', y_pred, gts]\n",
            "call",
        ),
        (
            "class MyLoss:\n    def calc_loss(self, y_pred, gts):\n"
            "        return ['calc_loss', y_pred, gts]\n",
            "calc_loss",
        ),
    ],
)
def test_loss_is_found_in_loss_py_as_bundles_write_it(
    package_of: Callable[[dict[str, str]], GesundPackage], loss_py: str, expected: str
) -> None:
    steps = Steps.of(_Model(), package_of({"loss.py": loss_py}))

    assert steps.loss is not None
    assert steps.loss(1, [0]) == [expected, 1, [0]]


def test_the_models_own_loss_wins_and_an_object_with_calc_loss_works(
    package_of: Callable[[dict[str, str]], GesundPackage],
) -> None:
    class Calc:
        def calc_loss(self, y_pred: Any, gts: Any) -> str:
            return "own"

    model = _Model()
    model.loss = Calc()  # type: ignore[attr-defined]  # as MyNet does: self.loss = MyLoss()
    steps = Steps.of(model, package_of({"loss.py": "def loss(y_pred, gts):\n    return 'file'\n"}))

    assert steps.loss is not None
    assert steps.loss(1, [0]) == "own"


def test_stages_come_from_the_model_else_from_their_modules(
    package_of: Callable[[dict[str, str]], GesundPackage],
) -> None:
    package = package_of(
        {
            "preprocess.py": "class Preprocess:\n    def __call__(self, input, batch):\n"
            "        return ('pre', input, batch)\n",
        }
    )
    model = _Model()
    model.postprocess = lambda output, batch: ("post", output, batch)  # type: ignore[attr-defined]

    steps = Steps.of(model, package)

    assert steps.preprocess("x", True) == ("pre", "x", True)
    assert steps.postprocess("y", False, {"request_id": "r"}) == ("post", "y", False)


# -- the answer and its schema ---------------------------------------------------------------


class ResponseV2(pydantic.BaseModel):
    prediction_class: int
    confidence: float


class ResponseV1(pydantic_v1.BaseModel):
    prediction_class: int
    confidence: float

    class Config:
        anystr_strip_whitespace = True


def test_answer_drops_keys_the_response_lacks_and_adds_the_loss() -> None:
    out = {"prediction_class": 1, "confidence": 0.5, "status": 200}
    fields = field_names(ResponseV2)

    assert answer(out, fields) == {"prediction_class": 1, "confidence": 0.5}
    assert answer(out, fields, np.float32(0.25))["loss"] == 0.25
    assert answer(out, None) == out


def test_served_schema_has_an_optional_loss_left_out_when_absent() -> None:
    served = with_loss(ResponseV2)
    assert served is not None

    plain = served.model_validate({"prediction_class": 1, "confidence": 0.5, "status": 200})  # type: ignore[attr-defined]
    scored = served.model_validate({"prediction_class": 1, "confidence": 0.5, "loss": [0.1]})  # type: ignore[attr-defined]

    assert plain.model_dump(mode="json") == {"prediction_class": 1, "confidence": 0.5}
    assert scored.model_dump(mode="json")["loss"] == [0.1]
    assert "loss" in served.model_json_schema()["properties"]  # type: ignore[attr-defined]
    assert served.model_json_schema()["title"] == "ResponseV2"  # type: ignore[attr-defined]


def test_pydantic_v1_schemas_get_the_loss_too() -> None:
    served = with_loss(ResponseV1)
    assert served is not None

    plain = served.parse_obj({"prediction_class": 1, "confidence": 0.5, "status": 200})  # type: ignore[attr-defined]
    scored = served.parse_obj({"prediction_class": 1, "confidence": 0.5, "loss": 0.3})  # type: ignore[attr-defined]

    assert plain.json() == '{"prediction_class": 1, "confidence": 0.5}'
    assert '"loss": 0.3' in scored.json()
    assert field_names(ResponseV1) == {"prediction_class", "confidence"}


# -- the generated runner --------------------------------------------------------------------


def _runner(tmp_path: Path, model_py: str, weights: tuple[str, bytes], **settings: str) -> Any:
    bundle = gf.write_gesund(tmp_path / "bundle", "ns", model_py, weights, files=settings)
    prepared = prepare_bundle(bundle, tmp_path / "work", UnpackLimits())
    spec = import_bundle(prepared, strict_requirements=False)
    runner: ModelRunner = spec.runner_cls(
        ModelContext(name="ns", version="1", bundle_dir=prepared.root)
    )
    runner.load_model()
    return runner, spec


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    specs: list[BundleSpec] = []

    def build(model_py: str, weights: tuple[str, bytes], **settings: str) -> Any:
        runner, spec = _runner(tmp_path, model_py, weights, **settings)
        specs.append(spec)
        return runner

    yield build
    for spec in specs:
        spec.package.unmount()


def test_a_batch_reaches_preprocess_as_a_list_with_batch_true(served: Callable[..., Any]) -> None:
    settings = {"modelrt-gesund.yaml": "batching: {max_batch_size: 4}\n"}
    runner = served(gf.ONNX_MODEL, ("model.onnx", gf.onnx_weights()), **settings)
    pixels = [gf.image(), np.full((2, 2, 3), 255, dtype=np.uint8), gf.image(3, 3)]

    answers = runner.predict_batch([Request(inputs={"image": p}) for p in pixels])

    assert [a["batch_size"] for a in answers] == [3, 3, 3]
    for got, sent in zip(answers, pixels, strict=True):
        assert got["logits"] == pytest.approx(gf.expected_logits(sent))
    assert all("status" not in a for a in answers)


def test_ground_truth_in_a_batch_is_scored_on_its_own_prediction(
    served: Callable[..., Any],
) -> None:
    settings = {"modelrt-gesund.yaml": "batching: {max_batch_size: 4}\n"}
    runner = served(gf.ONNX_MODEL, ("model.onnx", gf.onnx_weights()), **settings)
    scored = Request(inputs={"image": gf.image()}, parameters={"ground_truth": [0]})

    answers = runner.predict_batch([Request(inputs={"image": gf.image()}), scored])

    assert [a["batch_size"] for a in answers] == [1, 1]
    assert "loss" not in answers[0]
    assert answers[1]["loss"] == pytest.approx(
        [gf.cross_entropy(gf.expected_logits(gf.image()), 0)]
    )


def test_ground_truth_without_any_loss_is_unimplemented(
    served: Callable[..., Any], tmp_path: Path
) -> None:
    runner = served(gf.ONNX_MODEL, ("model.onnx", gf.onnx_weights()), **{"loss.py": "X = 1\n"})

    with pytest.raises(HookNotImplementedError, match="has no loss"):
        runner.predict(Request(inputs={"image": gf.image()}, parameters={"ground_truth": [1]}))


def test_unbatched_bundles_answer_predict_only(served: Callable[..., Any]) -> None:
    runner = served(gf.ONNX_MODEL, ("model.onnx", gf.onnx_weights()))

    assert implemented_hooks(type(runner)) == {"predict"}


# -- torch as bundle code sees it ------------------------------------------------------------


def test_bundle_code_imports_torch_submodules_as_usual(
    package_of: Callable[[dict[str, str]], GesundPackage],
) -> None:
    probe = """
        import torch
        import torch.nn as nn
        import torch.utils.model_zoo
        from torch.nn import functional as F
        from torch.utils import show_pickle
        from torch import hub

        results = (
            nn.Linear, F.relu, torch.utils.model_zoo.__name__, show_pickle.__name__, hub.__name__
        )
        LOAD = torch.load
    """
    import torch

    module = package_of({"probe.py": probe}).import_code("probe")

    expected = (
        torch.nn.Linear,
        torch.nn.functional.relu,
        "torch.utils.model_zoo",
        "torch.utils.show_pickle",
        "torch.hub",
    )
    assert module.results == expected
    assert module.LOAD is not torch.load
    assert module.torch.Tensor is torch.Tensor


def test_torch_load_in_bundle_code_reads_a_pickled_module_of_its_backbone(
    served: Callable[..., Any], tmp_path: Path
) -> None:
    import torch

    weights = gf.torch_backbone_weights(tmp_path)
    backbone = {"backbone.py": gf.BACKBONE}
    runner = served(gf.DIRECT_TORCH_MODEL, ("model.pth", weights), **backbone)

    answer = runner.predict(Request(inputs={"image": gf.image()}))

    assert answer["logits"] == pytest.approx(gf.expected_logits(gf.image()))
    assert type(runner.model.model).__module__.endswith(".backbone")
    with pytest.raises(Exception, match="Weights only load failed"):  # torch itself unchanged
        torch.load(io.BytesIO(weights))
