"""Tiny real models of every framework, built at test time (no downloads), and a fixed input.

Each ``write_*`` function writes weights into a folder and returns their path. The heavy
libraries are imported inside the functions that need them.
"""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: The input every tiny model takes: two rows of three float32 features.
X = np.array([[0.1, -0.2, 0.3], [1.0, 0.5, -1.5]], dtype=np.float32)


class TinyNet(torch.nn.Module):
    """The architecture a state-dict bundle ships (as net.py, see NET_SOURCE)."""

    def __init__(self, hidden: int = 4) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(3, hidden)
        self.out = torch.nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


#: net.py of a state-dict bundle: TinyNet's own source.
NET_SOURCE = "import torch\n\n\n" + inspect.getsource(TinyNet)


def tiny_net(hidden: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    return TinyNet(hidden).eval()


def torch_output(model: Any, x: np.ndarray = X) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(x)).numpy()


def write_onnx(folder: Path, name: str = "model.onnx") -> Path:
    """x [N, 3] -> logits = x @ W + b and probabilities = softmax(logits): two named outputs."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.array([[1.0, -1.0], [0.5, 2.0], [-1.5, 0.25]], dtype=np.float32)
    bias = np.array([0.1, -0.1], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "w", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
        ],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


def onnx_outputs(path: Path, x: np.ndarray = X) -> dict[str, np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_outputs()]
    return dict(zip(names, session.run(names, {"x": x}), strict=True))


def write_torchscript(folder: Path, name: str = "scripted.pt") -> Path:
    path = folder / name
    torch.jit.save(torch.jit.script(tiny_net()), str(path))
    return path


def write_pickled_module(
    folder: Path, name: str = "whole.pth", *, sequential: bool = False
) -> Path:
    """``torch.save`` of a whole module: a TinyNet, or a Sequential (importable in any process)."""
    torch.manual_seed(0)
    module = (
        torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh()) if sequential else tiny_net()
    )
    path = folder / name
    torch.save(module.eval(), path)
    return path


def write_state_dict(folder: Path, name: str = "weights.pt", hidden: int = 4) -> Path:
    path = folder / name
    torch.save(tiny_net(hidden).state_dict(), path)
    return path


def sklearn_classifier() -> Any:
    """A logistic regression with string labels ("cat", "dog"), fitted on fixed data."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 3)).astype(np.float32)
    labels = np.where(features[:, 0] + features[:, 1] > 0, "dog", "cat")
    return LogisticRegression().fit(features, labels)


def write_sklearn(folder: Path, name: str = "model.joblib", estimator: Any = None) -> Path:
    """joblib for ``.joblib`` and ``.sklearn``, plain pickle for ``.pkl``."""
    import joblib

    estimator = estimator if estimator is not None else sklearn_classifier()
    path = folder / name
    if path.suffix == ".pkl":
        path.write_bytes(pickle.dumps(estimator))
    else:
        joblib.dump(estimator, path)
    return path


def keras_model() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)]
    )


def write_keras(folder: Path, name: str = "model.keras", model: Any = None) -> Path:
    path = folder / name
    (model if model is not None else keras_model()).save(str(path))
    return path


def write_saved_model(folder: Path, name: str = "saved") -> Path:
    """A tf.Module SavedModel whose serving signature maps ``x`` to ``{"scores": x @ W}``."""
    import tensorflow as tf

    class Scorer(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable([[1.0, 0.0], [0.0, 2.0], [1.0, -1.0]])

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x: Any) -> Any:
            return {"scores": tf.matmul(x, self.w)}

    scorer = Scorer()
    path = folder / name
    tf.saved_model.save(scorer, str(path), signatures={"serving_default": scorer.__call__})
    return path


SAVED_MODEL_W = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, -1.0]], dtype=np.float32)


def write_config(folder: Path, name: str, **config: Any) -> Path:
    """modelrt.yaml of a weights-only bundle: ``name`` plus ``config``; returns the folder."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"name": name, **config}, sort_keys=False)
    (folder / "modelrt.yaml").write_text(text, encoding="utf-8")
    return folder


#: The ``inputs`` entry of every tiny model's config.
X_INPUT = {"name": "x", "dtype": "float32", "shape": [-1, 3]}
