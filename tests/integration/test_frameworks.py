"""Bundles of every framework served by a real `modelrt serve`: weights-only bundles (a config
and weights, no code) and a bundle whose model.py loads its weights in one line.

One server (a subprocess) serves every bundle of the module, so each framework's worker starts
once; each answer is compared with the same model run directly in the test.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clients import Client
from tests import framework_models as fm
from tests.serve_process import start_serve, stop

pytestmark = pytest.mark.timeout(120)

README = Path(__file__).resolve().parents[2] / "README.md"
IRIS_CONFIG = "# iris/modelrt.yaml"

ONE_LINE_MODEL = """\
    from registry import ModelRunner, register

    from net import TinyNet


    @register("torch-one-line")
    class OneLine(ModelRunner):
        def load_model(self):
            self.net = self.context.load_weights(architecture=TinyNet, config={"hidden": 8})

        def predict(self, request):
            import torch

            with torch.inference_mode():
                return {"scores": self.net(torch.from_numpy(request["x"])).numpy()}
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one weights-only bundle per framework, a one-line model.py and a bad one."""
    store = tmp_path_factory.mktemp("frameworks")
    inputs = [fm.X_INPUT]
    fm.write_onnx(fm.write_config(store / "onnx", "onnx-plain", inputs=inputs))
    fm.write_torchscript(
        fm.write_config(store / "ts", "torch-script", inputs=inputs, outputs=[{"name": "scores"}])
    )
    fm.write_pickled_module(
        fm.write_config(store / "pickled", "torch-pickled", inputs=inputs), sequential=True
    )
    state = fm.write_config(
        store / "state",
        "torch-state-dict",
        inputs=inputs,
        architecture="net:TinyNet",
        architecture_config={"hidden": 8},
    )
    fm.write_state_dict(state, hidden=8)
    (state / "net.py").write_text(fm.NET_SOURCE)
    fm.write_sklearn(fm.write_config(store / "sk", "sklearn-plain", inputs=inputs))
    fm.write_keras(fm.write_config(store / "keras", "keras-plain", inputs=inputs))
    fm.write_saved_model(
        fm.write_config(
            store / "tf",
            "tf-saved",
            inputs=inputs,
            outputs=[{"name": "y", "source": "scores"}],
            batching={"max_batch_size": 4, "max_queue_delay_ms": 20},
        )
    )
    one_line = store / "one-line"
    one_line.mkdir()
    (one_line / "modelrt.yaml").write_text("name: torch-one-line\nframework: pytorch\n")
    (one_line / "model.py").write_text(textwrap.dedent(ONE_LINE_MODEL))
    (one_line / "net.py").write_text(fm.NET_SOURCE)
    fm.write_state_dict(one_line, "net.pt", hidden=8)
    iris = store / "iris"
    iris.mkdir()
    (iris / "modelrt.yaml").write_text(_readme_block(IRIS_CONFIG))
    fm.write_sklearn(iris, estimator=_iris_classifier())
    # A bundle that fails to prepare is listed under its folder's name.
    ambiguous = fm.write_config(store / "two-weights", "two-weights")
    fm.write_onnx(ambiguous, "a.onnx")
    fm.write_onnx(ambiguous, "b.onnx")
    return store


def _readme_block(marker: str) -> str:
    """The README's fenced code block whose first line is ``marker``."""
    for block in re.findall(r"```[a-z]*\n(.*?)```", README.read_text(), flags=re.S):
        if block.startswith(marker):
            return str(block)
    raise AssertionError(f"README has no code block starting with {marker!r}")


def _iris_classifier() -> Any:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    features = rng.normal(size=(30, 4)).astype(np.float32)
    return LogisticRegression().fit(features, np.where(features[:, 3] > 0, "virginica", "setosa"))


@pytest.fixture(scope="module")
def client(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    process, address = start_serve(store, tmp_path_factory.mktemp("logs"))
    try:
        with Client(address) as client:
            yield client
    finally:
        stop(process)


def _predict(client: Client, model: str, x: np.ndarray = fm.X) -> dict[str, Any]:
    return client.predict(model, {"x": x}, timeout=30).outputs


def test_every_weights_only_bundle_is_ready_and_a_bad_one_names_its_weights(client) -> None:
    states = {m.name: (m.state, m.reason) for m in client.list_models(timeout=10)}
    failed = states.pop("two-weights")
    assert set(states.values()) == {("READY", "")}, states
    assert len(states) == 9
    assert failed[0] == "FAILED"
    assert "several weights found in the bundle (a.onnx, b.onnx)" in failed[1]


def test_weights_only_bundles_report_the_framework_of_their_weights(client) -> None:
    frameworks = {m.name: m.framework for m in client.list_models(timeout=10)}
    assert frameworks["onnx-plain"] == "onnx"
    assert frameworks["torch-pickled"] == "pytorch"
    assert frameworks["keras-plain"] == "keras"
    assert frameworks["tf-saved"] == "tensorflow"
    assert frameworks["sklearn-plain"] == "sklearn"


def test_onnx_weights_only_bundle_answers_with_the_graph_outputs(client, store: Path) -> None:
    outputs = _predict(client, "onnx-plain")
    expected = fm.onnx_outputs(store / "onnx" / "model.onnx")
    assert set(outputs) == {"logits", "probabilities"}
    for name, value in expected.items():
        np.testing.assert_allclose(outputs[name], value, rtol=1e-5)


def test_torchscript_weights_only_bundle_answers_the_declared_output(client) -> None:
    outputs = _predict(client, "torch-script")
    np.testing.assert_allclose(outputs["scores"], fm.torch_output(fm.tiny_net()), rtol=1e-5)


def test_pickled_module_bundle_loads_and_answers_output(client, store: Path) -> None:
    import torch

    module = torch.load(store / "pickled" / "whole.pth", weights_only=False)
    outputs = _predict(client, "torch-pickled")
    np.testing.assert_allclose(outputs["output"], fm.torch_output(module), rtol=1e-5)


def test_state_dict_bundle_builds_the_architecture_it_ships(client) -> None:
    outputs = _predict(client, "torch-state-dict")
    np.testing.assert_allclose(outputs["output"], fm.torch_output(fm.tiny_net(8)), rtol=1e-5)


def test_sklearn_weights_only_bundle_answers_label_and_probabilities(client) -> None:
    reference = fm.sklearn_classifier()
    outputs = _predict(client, "sklearn-plain")
    assert list(outputs["label"]) == list(reference.predict(fm.X))
    np.testing.assert_allclose(outputs["probabilities"], reference.predict_proba(fm.X), rtol=1e-5)


def test_keras_weights_only_bundle_answers_output(client, store: Path) -> None:
    import keras

    model = keras.models.load_model(store / "keras" / "model.keras")
    outputs = _predict(client, "keras-plain")
    np.testing.assert_allclose(outputs["output"], np.asarray(model(fm.X)), rtol=1e-5)


def test_saved_model_bundle_answers_the_signature_output_it_binds(client) -> None:
    outputs = _predict(client, "tf-saved")
    np.testing.assert_allclose(outputs["y"], fm.X @ fm.SAVED_MODEL_W, rtol=1e-5)


def test_concurrent_requests_to_a_batching_bundle_each_get_their_rows(client) -> None:
    from concurrent.futures import ThreadPoolExecutor

    rows = [fm.X[:1], fm.X, fm.X[1:]]
    with ThreadPoolExecutor(len(rows)) as pool:
        answers = list(pool.map(lambda x: _predict(client, "tf-saved", x)["y"], rows))
    for x, y in zip(rows, answers, strict=True):
        np.testing.assert_allclose(y, x @ fm.SAVED_MODEL_W, rtol=1e-5)


def test_model_py_loads_its_weights_in_one_line(client) -> None:
    outputs = _predict(client, "torch-one-line")
    np.testing.assert_allclose(outputs["scores"], fm.torch_output(fm.tiny_net(8)), rtol=1e-5)


def test_the_readme_weights_only_example_serves_as_documented(client) -> None:
    features = np.array([[0.1, 0.2, 0.3, 1.5], [0.0, 0.0, 0.0, -2.0]], np.float32)
    reference = _iris_classifier()
    outputs = client.predict("iris", {"features": features}, timeout=30).outputs
    assert list(outputs["label"]) == list(reference.predict(features)) == ["virginica", "setosa"]
    np.testing.assert_allclose(
        outputs["probabilities"], reference.predict_proba(features), rtol=1e-5
    )
