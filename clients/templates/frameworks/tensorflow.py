"""The TensorFlow framework template: a tf.Module saved as a SavedModel folder with a signature."""

from __future__ import annotations

from clients.templates.spec import FrameworkTemplate

BACKEND_PY = '''\
"""Loads the SavedModel folder saved_model/ and runs its serving signature: features [N, F] in,
probabilities [N, K] out.

model.py only uses load() and Model.run(); any SavedModel whose "serving_default" signature
takes float32 ``features`` [N, F] and returns ``probabilities`` [N, K] works here (a Keras
model's model.export(), tf.saved_model.save, ...). TensorFlow uses the GPUs the runtime makes
visible to this instance.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

WEIGHTS = "saved_model"  # a folder
SIGNATURE = "serving_default"


class Model:
    def __init__(self, saved: object) -> None:
        self.saved = saved  # keeps the variables the signature reads alive
        self.signature = saved.signatures[SIGNATURE]

    def run(self, features: np.ndarray) -> np.ndarray:
        inputs = tf.constant(np.asarray(features, dtype=np.float32))
        return self.signature(features=inputs)["probabilities"].numpy()


def load(path: Path, device: str) -> Model:
    """The model in ``path``; ``device`` ("cpu" or "cuda:N") is already the only one visible."""
    if not path.exists():
        raise FileNotFoundError(f"{path.name} is missing: run `python build_model.py` first")
    return Model(tf.saved_model.load(str(path)))
'''

BUILD_PY = '''\
"""Writes saved_model/: a tiny working SavedModel, a linear layer and a softmax in a tf.Module.

Its weights come from processing.reference_weights(). Replace this script with your own
training or export: backend.py needs a SavedModel whose "serving_default" signature maps
``features`` float32 [N, F] to ``probabilities`` [N, K]. Run it from anywhere:

    python build_model.py
"""

from pathlib import Path

import tensorflow as tf

import processing
from backend import SIGNATURE, WEIGHTS

HERE = Path(__file__).resolve().parent  # the folder of this script, backend.py and the weights


class Linear(tf.Module):
    """probabilities = softmax(features @ kernel + bias)."""

    def __init__(self) -> None:
        super().__init__()
        kernel, bias = processing.reference_weights()
        self.kernel = tf.Variable(kernel, name="kernel")
        self.bias = tf.Variable(bias, name="bias")

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, processing.NUM_FEATURES], tf.float32, name="features")
        ]
    )
    def serve(self, features: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"probabilities": tf.nn.softmax(features @ self.kernel + self.bias)}


def build(folder: Path = HERE) -> Path:
    path = folder / WEIGHTS
    module = Linear()
    tf.saved_model.save(module, str(path), signatures={SIGNATURE: module.serve})
    return path


if __name__ == "__main__":
    print(f"wrote {build()}")
'''

TEMPLATE = FrameworkTemplate(
    name="tensorflow",
    config_framework="tensorflow",
    summary="a TensorFlow SavedModel",
    backend_py=BACKEND_PY,
    build_py=BUILD_PY,
    weights="saved_model",
    requirements=("numpy>=1.26", "tensorflow-cpu>=2.16  # tensorflow instead for GPUs"),
)
