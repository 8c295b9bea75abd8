"""The scikit-learn framework template: a classifier fitted on synthetic data, in model.joblib."""

from __future__ import annotations

from clients.templates.spec import FrameworkTemplate

BACKEND_PY = '''\
"""Loads model.joblib (a fitted scikit-learn classifier): features [N, F] in, probabilities out.

model.py only uses load() and Model.run(); any classifier with predict_proba works here.
model.joblib holds {"estimator": the classifier, "num_labels": K}: labels it never saw in
training have no column in predict_proba, and K says how many columns to answer.
"""

from pathlib import Path

import joblib
import numpy as np

WEIGHTS = "model.joblib"


class Model:
    def __init__(self, estimator: object, num_labels: int) -> None:
        self.estimator = estimator
        self.num_labels = num_labels

    def run(self, features: np.ndarray) -> np.ndarray:
        proba = self.estimator.predict_proba(np.asarray(features, dtype=np.float32))
        # Labels never seen in training have no column: give them probability 0.
        probabilities = np.zeros((len(proba), self.num_labels), dtype=np.float32)
        probabilities[:, self.estimator.classes_] = proba
        return probabilities


def load(path: Path, device: str) -> Model:
    """The model in ``path``; scikit-learn runs on the CPU whatever the device."""
    if not path.exists():
        raise FileNotFoundError(f"{path.name} is missing: run `python build_model.py` first")
    # Unpickling runs code: load only models you built or trust, with the same scikit-learn.
    saved = joblib.load(path)
    return Model(saved["estimator"], saved["num_labels"])
'''

BUILD_PY = '''\
"""Writes model.joblib: a tiny working classifier, fitted on processing.training_data().

Replace this script with your own training: fit any classifier with predict_proba on features
[N, F] and label indices into processing.LABELS, then joblib.dump it with the number of labels.
Run it from anywhere:

    python build_model.py
"""

from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

import processing
from backend import WEIGHTS

HERE = Path(__file__).resolve().parent  # the folder of this script, backend.py and the weights


def build(folder: Path = HERE) -> Path:
    features, labels = processing.training_data(np.random.default_rng(0))
    estimator = LogisticRegression(C=100.0, max_iter=2000).fit(features, labels)
    path = folder / WEIGHTS
    joblib.dump({"estimator": estimator, "num_labels": len(processing.LABELS)}, path)
    return path


if __name__ == "__main__":
    print(f"wrote {build()}")
'''

TEMPLATE = FrameworkTemplate(
    name="sklearn",
    config_framework="sklearn",
    summary="scikit-learn",
    backend_py=BACKEND_PY,
    build_py=BUILD_PY,
    weights="model.joblib",
    requirements=("numpy>=1.26", "scikit-learn>=1.4"),
)
