"""The ONNX framework template: onnxruntime runs model.onnx, built with onnx.helper."""

from __future__ import annotations

from clients.templates.spec import FrameworkTemplate

BACKEND_PY = '''\
"""Loads model.onnx with onnxruntime and runs it: features [N, F] in, probabilities [N, K] out.

model.py only uses load() and Model.run(); any ONNX graph with a float32 input ``features``
[N, F] and an output ``probabilities`` [N, K] works here.
"""

from pathlib import Path

import numpy as np
import onnxruntime as ort

WEIGHTS = "model.onnx"


class Model:
    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session

    def run(self, features: np.ndarray) -> np.ndarray:
        inputs = {"features": np.ascontiguousarray(features, dtype=np.float32)}
        (probabilities,) = self.session.run(["probabilities"], inputs)
        return probabilities


def load(path: Path, device: str) -> Model:
    """The model in ``path``, on ``device`` ("cpu" or "cuda:N", chosen by the runtime)."""
    if not path.exists():
        raise FileNotFoundError(f"{path.name} is missing: run `python build_model.py` first")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a tiny model; keeps many instances from fighting for cores
    providers: list[str | tuple[str, dict[str, str]]] = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        cuda = ("CUDAExecutionProvider", {"device_id": device.partition(":")[2] or "0"})
        providers.insert(0, cuda)
    session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    return Model(session)
'''

BUILD_PY = '''\
"""Writes model.onnx: a tiny working model, a linear layer and a softmax built with onnx.helper.

Its weights come from processing.reference_weights(). Replace this script with your own export
(torch.onnx.export, tf2onnx, skl2onnx, ...): model.py only needs a graph from ``features``
float32 [N, F] to ``probabilities`` float32 [N, K]. Run it from anywhere:

    python build_model.py
"""

from pathlib import Path

import onnx
from onnx import TensorProto, helper, numpy_helper

import processing
from backend import WEIGHTS

HERE = Path(__file__).resolve().parent  # the folder of this script, backend.py and the weights

OPSET = 17
IR_VERSION = 8  # readable by any onnxruntime >= 1.13


def build_model() -> onnx.ModelProto:
    weights, bias = processing.reference_weights()
    num_labels = len(processing.LABELS)
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Gemm", ["features", "weights", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        name="$name",
        inputs=[
            helper.make_tensor_value_info(
                "features", TensorProto.FLOAT, ["N", processing.NUM_FEATURES]
            )
        ],
        outputs=[
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", num_labels])
        ],
        initializer=[
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(bias, "bias"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model)
    return model


def build(folder: Path = HERE) -> Path:
    path = folder / WEIGHTS
    onnx.save(build_model(), str(path))
    return path


if __name__ == "__main__":
    print(f"wrote {build()}")
'''

TEMPLATE = FrameworkTemplate(
    name="onnx",
    config_framework="onnx",
    summary="ONNX, run with onnxruntime",
    backend_py=BACKEND_PY,
    build_py=BUILD_PY,
    weights="model.onnx",
    requirements=("numpy>=1.26", "onnxruntime>=1.18", "onnx>=1.16  # build_model.py only"),
)
