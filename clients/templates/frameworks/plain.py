"""The "other" framework template: plain numpy, the weights in model.npz."""

from __future__ import annotations

from clients.templates.spec import FrameworkTemplate

BACKEND_PY = '''\
"""Loads model.npz and runs it with numpy: features [N, F] in, probabilities [N, K] out.

model.py only uses load() and Model.run(): put any framework behind them.
"""

from pathlib import Path

import numpy as np

WEIGHTS = "model.npz"


class Model:
    def __init__(self, weights: np.ndarray, bias: np.ndarray) -> None:
        self.weights = weights
        self.bias = bias

    def run(self, features: np.ndarray) -> np.ndarray:
        logits = np.asarray(features, dtype=np.float32) @ self.weights + self.bias
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def load(path: Path, device: str) -> Model:
    """The model in ``path``; numpy runs on the CPU whatever the device."""
    if not path.exists():
        raise FileNotFoundError(f"{path.name} is missing: run `python build_model.py` first")
    with np.load(path) as arrays:
        return Model(arrays["weights"], arrays["bias"])
'''

BUILD_PY = '''\
"""Writes model.npz: the weights and bias of a tiny working linear model.

They come from processing.reference_weights(). Replace this script with your own training,
keeping what backend.py reads. Run it from anywhere:

    python build_model.py
"""

from pathlib import Path

import numpy as np

import processing
from backend import WEIGHTS

HERE = Path(__file__).resolve().parent  # the folder of this script, backend.py and the weights


def build(folder: Path = HERE) -> Path:
    weights, bias = processing.reference_weights()
    path = folder / WEIGHTS
    np.savez(path, weights=weights, bias=bias)
    return path


if __name__ == "__main__":
    print(f"wrote {build()}")
'''

TEMPLATE = FrameworkTemplate(
    name="other",
    config_framework="other",
    summary="plain numpy",
    backend_py=BACKEND_PY,
    build_py=BUILD_PY,
    weights="model.npz",
    requirements=("numpy>=1.26",),
)
