"""The classification template: an image in, the best label with every label's score out."""

from __future__ import annotations

from clients.templates.spec import ModelTypeTemplate
from clients.templates.types.image import CHECK_IMAGE, IMAGE_INPUT

MODEL_PY = '''\
"""An image classifier, served over Predict.

Input ``image`` (uint8 [H, W, 3]); output the best label, its score and every label's score
(checked against Prediction) plus the ``probabilities`` tensor. Predict calls are batched
(``batching`` in modelrt.yaml): predict_batch gets a list of requests and answers a list of the
same length, in order.
"""

import numpy as np
import pydantic
from registry import InvalidInputError, ModelRunner, Request, outschema, register

import backend  # this bundle's own modules
import processing


@outschema("$name")
class Prediction(pydantic.BaseModel):
    """What every answer holds; the runtime checks each one against this schema."""

    label: str
    score: float = pydantic.Field(ge=0.0, le=1.0)
    scores: dict[str, float]


@register("$name")
class Classifier(ModelRunner):
    def load_model(self) -> None:
        # The runtime picks the device ("cpu" or "cuda:N"); the model only follows it.
        self.model = backend.load(self.context.path(backend.WEIGHTS), self.context.device)

    def predict_batch(self, requests: list[Request]) -> list[dict[str, object]]:
        features = np.concatenate([_features(request) for request in requests])
        probabilities = self.model.run(features)
        # Arrays become named tensor outputs; the rest is the structured output.
        return [{**processing.postprocess(row), "probabilities": row} for row in probabilities]


def _features(request: Request) -> np.ndarray:
    try:
        return processing.preprocess(request["image"])
    except ValueError as exc:  # the caller's mistake: INVALID_ARGUMENT, not INTERNAL
        raise InvalidInputError(f"input 'image': {exc}") from None
'''

PROCESSING_PY = (
    '''\
"""Pre- and post-processing: image -> features -> label and scores.

The tiny model that build_model.py writes looks only at an image's mean colour. Replace these
functions, the labels and the model with your own; keep NUM_FEATURES and LABELS in step with it.
"""

import numpy as np

LABELS = ("red", "green", "blue")
NUM_FEATURES = 3  # the model's input: the image's mean red, green and blue, in 0..1

'''
    + CHECK_IMAGE
    + '''

def preprocess(image: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 [1, NUM_FEATURES]: the mean colour in 0..1."""
    pixels = check_image(image).reshape(-1, 3)
    return (pixels.mean(axis=0) / 255.0).astype(np.float32)[np.newaxis]


def postprocess(probabilities: np.ndarray) -> dict[str, object]:
    """One row of probabilities [len(LABELS)] -> the best label, its score and every score."""
    scores = {label: float(p) for label, p in zip(LABELS, probabilities, strict=True)}
    best = max(scores, key=scores.__getitem__)
    return {"label": best, "score": scores[best], "scores": scores}


# -- the tiny reference model, used by build_model.py -------------------------------------------


def reference_weights() -> tuple[np.ndarray, np.ndarray]:
    """Weights [NUM_FEATURES, len(LABELS)] and bias: how much a channel beats the other two."""
    weights = 8.0 * (1.5 * np.eye(3, dtype=np.float32) - 0.5)
    return weights, np.zeros(len(LABELS), dtype=np.float32)


def training_data(rng: np.random.Generator, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic colours and their labels (indices into LABELS), for frameworks that fit."""
    features = rng.random((n, NUM_FEATURES), dtype=np.float32)
    weights, bias = reference_weights()
    return features, np.argmax(features @ weights + bias, axis=1)
'''
)

CONFIG = (
    "labels: [red, green, blue]\n"
    + IMAGE_INPUT
    + """\
batching:
  max_batch_size: 8  # Predict calls waiting together reach predict_batch as one list
"""
)

TEMPLATE = ModelTypeTemplate(
    name="classification",
    config_type="classification",
    summary="image classifier",
    model_py=MODEL_PY,
    processing_py=PROCESSING_PY,
    config=CONFIG,
    hooks=("predict_batch",),
)
