"""Write this bundle's model.onnx: a tiny colour classifier built with onnx.helper (no training).

Run it as a script (``python examples/color-classifier/build_weights.py``) or through
``python examples/build.py``. The output is byte-for-byte the same on every run.

The graph: image float32 [N, 3, H, W] in [0, 1]
  -> ReduceMean over H and W  -> the mean colour [N, 3]
  -> Gemm with fixed weights  -> one logit per label: how much a channel beats the other two
  -> Softmax                  -> probabilities [N, 3] for red, green, blue
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LABELS = ("red", "green", "blue")
# Logit of a label = SHARPNESS * (its channel - mean of the other two): pure red gives
# (8, -4, -4), a confident "red"; grey gives (0, 0, 0), a three-way tie.
SHARPNESS = 8.0
OPSET = 17  # ReduceMean still takes `axes` as an attribute here; any onnxruntime >= 1.13 runs it
IR_VERSION = 8


def build_model() -> onnx.ModelProto:
    """Return the classifier as an ONNX model (weights fixed, no randomness)."""
    # weights[c, k]: contribution of input channel c to the logit of label k.
    weights = SHARPNESS * (1.5 * np.eye(3, dtype=np.float32) - 0.5)
    bias = np.zeros(3, dtype=np.float32)
    graph = helper.make_graph(
        nodes=[
            helper.make_node("ReduceMean", ["image"], ["mean_rgb"], axes=[2, 3], keepdims=0),
            helper.make_node("Gemm", ["mean_rgb", "weights", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        name="color_classifier",
        inputs=[helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
        initializer=[
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(bias, "bias"),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="modelrt-examples",
        doc_string="Labels: " + ", ".join(LABELS),
    )
    onnx.checker.check_model(model)
    return model


def build(output: Path | None = None) -> Path:
    """Write model.onnx (next to this script by default); skip the write when it is up to date."""
    output = output or Path(__file__).with_name("model.onnx")
    data = build_model().SerializeToString()
    if not output.exists() or output.read_bytes() != data:
        output.write_bytes(data)
    return output


if __name__ == "__main__":
    path = build()
    print(f"wrote {path} ({path.stat().st_size} bytes)")
