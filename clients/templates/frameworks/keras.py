"""The Keras framework template: a keras.Model saved whole (architecture and weights) as .keras."""

from __future__ import annotations

from clients.templates.spec import FrameworkTemplate

BACKEND_PY = '''\
"""Loads model.keras (a Keras model) and runs it: features [N, F] in, probabilities [N, K] out.

model.py only uses load() and Model.run(); any Keras model from float32 [N, F] to
probabilities [N, K] works here. Keras runs on its backend (TensorFlow unless KERAS_BACKEND
says otherwise), which uses the GPUs the runtime makes visible to this instance.
"""

from pathlib import Path

import keras
import numpy as np

WEIGHTS = "model.keras"


class Model:
    def __init__(self, network: keras.Model) -> None:
        self.network = network

    def run(self, features: np.ndarray) -> np.ndarray:
        inputs = np.ascontiguousarray(features, dtype=np.float32)
        # A direct call: no tf.function tracing per batch size, as predict() would do.
        outputs = self.network(inputs, training=False)
        return np.asarray(keras.ops.convert_to_numpy(outputs), dtype=np.float32)


def load(path: Path, device: str) -> Model:
    """The model in ``path``; ``device`` ("cpu" or "cuda:N") is already the only one visible."""
    if not path.exists():
        raise FileNotFoundError(f"{path.name} is missing: run `python build_model.py` first")
    return Model(keras.models.load_model(path, compile=False))
'''

BUILD_PY = '''\
"""Writes model.keras: a tiny working Keras model, a dense layer with a softmax.

Its weights come from processing.reference_weights(). Replace this script with your own
training: save any keras.Model from float32 [N, F] to probabilities [N, K] with model.save().
Run it from anywhere:

    python build_model.py
"""

from pathlib import Path

import keras

import processing
from backend import WEIGHTS

HERE = Path(__file__).resolve().parent  # the folder of this script, backend.py and the weights


def build_network() -> keras.Model:
    weights, bias = processing.reference_weights()
    features = keras.Input(shape=(processing.NUM_FEATURES,), name="features")
    dense = keras.layers.Dense(len(processing.LABELS), activation="softmax", name="probabilities")
    network = keras.Model(features, dense(features))
    dense.set_weights([weights, bias])
    return network


def build(folder: Path = HERE) -> Path:
    path = folder / WEIGHTS
    build_network().save(path)
    return path


if __name__ == "__main__":
    print(f"wrote {build()}")
'''

TEMPLATE = FrameworkTemplate(
    name="keras",
    config_framework="keras",
    summary="Keras 3",
    backend_py=BACKEND_PY,
    build_py=BUILD_PY,
    weights="model.keras",
    requirements=(
        "numpy>=1.26",
        "keras>=3.0",
        "tensorflow-cpu>=2.16  # Keras's backend; tensorflow instead for GPUs",
    ),
)
