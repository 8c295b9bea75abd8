"""Tests for loader.weights.runner: WeightsModel serving a weights-only bundle, run
in-process on tiny real models (the integration tests serve every framework over gRPC)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loader.bundle import prepare_bundle
from loader.errors import BundleError
from loader.frameworks import load_bundle_weights
from loader.unpack import UnpackLimits
from loader.weights.runner import WeightsModel
from registry.runner import ModelContext, Request
from tests import framework_models as fm

pytestmark = pytest.mark.timeout(30)


def _model(bundle: Path, tmp_path: Path) -> WeightsModel:
    prepared = prepare_bundle(bundle, tmp_path / "work", UnpackLimits())
    context = ModelContext(
        name=prepared.name,
        version=prepared.version,
        bundle_dir=prepared.root,
        config=prepared.config.model_dump(mode="json"),
        weights_loader=load_bundle_weights,
    )
    model = WeightsModel(context)
    model.load_model()
    return model


def _reduce_sum_onnx(folder: Path) -> Path:
    """x [N, K] (any K) -> total [N]: rows of different widths cannot be stacked."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0, axes=[1])],
        "sum",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "K"])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, ["N"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=8)
    path = folder / "sum.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_predict_answers_the_onnx_graph_outputs_by_name(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny", inputs=[fm.X_INPUT])
    expected = fm.onnx_outputs(fm.write_onnx(bundle))
    outputs = _model(bundle, tmp_path).predict(Request({"x": fm.X}))
    assert outputs.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_allclose(outputs[name], value, rtol=1e-6)


def test_inputs_are_cast_to_the_types_the_onnx_graph_takes(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny")
    expected = fm.onnx_outputs(fm.write_onnx(bundle))
    outputs = _model(bundle, tmp_path).predict(Request({"x": fm.X.astype(np.float64)}))
    np.testing.assert_allclose(outputs["logits"], expected["logits"], rtol=1e-6)


def test_declared_outputs_rename_the_onnx_outputs_in_graph_order(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny", outputs=[{"name": "z"}, {"name": "p"}])
    expected = fm.onnx_outputs(fm.write_onnx(bundle))
    outputs = _model(bundle, tmp_path).predict(Request({"x": fm.X}))
    np.testing.assert_allclose(outputs["p"], expected["probabilities"], rtol=1e-6)
    assert set(outputs) == {"z", "p"}


def test_an_output_the_onnx_graph_lacks_is_refused_when_the_model_loads(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny", outputs=[{"name": "p", "source": "nope"}])
    fm.write_onnx(bundle)
    with pytest.raises(BundleError, match=r"\['nope'\] are not outputs of the ONNX graph"):
        _model(bundle, tmp_path)


def test_a_declared_sklearn_output_names_its_method(tmp_path: Path) -> None:
    outputs_config: list[dict[str, Any]] = [{"name": "scores", "source": "decision_function"}]
    bundle = fm.write_config(tmp_path / "b", "tiny", outputs=outputs_config)
    reference = fm.sklearn_classifier()
    fm.write_sklearn(bundle, estimator=reference)
    outputs = _model(bundle, tmp_path).predict(Request({"x": fm.X}))
    np.testing.assert_allclose(outputs["scores"], reference.decision_function(fm.X), rtol=1e-6)


def test_a_sklearn_method_the_estimator_lacks_is_refused_when_the_model_loads(
    tmp_path: Path,
) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny", outputs=[{"name": "embedding"}])
    fm.write_sklearn(bundle)
    with pytest.raises(BundleError, match="has no method embedding"):
        _model(bundle, tmp_path)


def test_predict_batch_stacks_requests_and_gives_each_its_own_rows(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "tiny", inputs=[fm.X_INPUT])
    fm.write_torchscript(bundle)
    model = _model(bundle, tmp_path)
    rows = [fm.X[:1], fm.X, fm.X[1:]]
    answers = model.predict_batch([Request({"x": x}) for x in rows])
    assert [a["output"].shape for a in answers] == [(1, 2), (2, 2), (1, 2)]
    for x, answer in zip(rows, answers, strict=True):
        expected = model.predict(Request({"x": x}))["output"]
        np.testing.assert_allclose(answer["output"], expected, rtol=1e-5)


def test_predict_batch_runs_requests_that_do_not_stack_one_by_one(tmp_path: Path) -> None:
    bundle = fm.write_config(tmp_path / "b", "sum")
    _reduce_sum_onnx(bundle)
    model = _model(bundle, tmp_path)
    narrow, wide = np.ones((1, 2), np.float32), np.ones((2, 3), np.float32)
    answers = model.predict_batch([Request({"x": narrow}), Request({"x": wide})])
    assert [a["total"].tolist() for a in answers] == [[2.0], [3.0, 3.0]]
