"""The classification template: an image in, the best label with every label's score out."""

from __future__ import annotations

from clients.templates.clarifai import SIBLING_IMPORTS
from clients.templates.spec import ClarifaiPieces, GesundPieces, ModelTypeTemplate
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

GESUND_PREPROCESS_PY = '''\
"""Preprocess: an image -> the model's features (see processing.py)."""

from . import processing


class Preprocess:
    """An HxWx3 uint8 RGB image (PNG/JPEG bytes arrive decoded) -> {"features": [1, F]}.

    With batch=True the input is a list of images, and the output a list of the same length.
    """

    def __call__(self, input, batch=False):
        if batch:
            return [self(image) for image in input]
        return {"features": processing.preprocess(input)}
'''

GESUND_POSTPROCESS_PY = '''\
"""Postprocess: the model's probabilities -> the Response of schema.py."""

from . import processing


class Postprocess:
    """{"probabilities": [1, K]} -> the best class (index and label), its confidence and every
    label's score. With batch=True, a list in and a list out."""

    def __call__(self, input, batch=False, context=None):
        if batch:
            return [self(item) for item in input]
        best = processing.postprocess(input["probabilities"][0])
        return {
            "prediction_class": processing.LABELS.index(best["label"]),
            "label": best["label"],
            "confidence": best["score"],
            "scores": best["scores"],
            "status": 200,  # the platform's habit; not in the Response, so it is dropped
        }
'''

GESUND_SCHEMA_PY = '''\
"""The Response every answer is checked against, registered for this model."""

from pydantic import BaseModel, Field
from register import outschema


@outschema.register_module("$name", default=False)
class Response(BaseModel):
    prediction_class: int = Field(description="The index of the best label in processing.LABELS")
    label: str = Field(description="The best label")
    confidence: float = Field(ge=0.0, le=1.0, description="The best label's probability")
    scores: dict[str, float] = Field(description="Every label's probability")
'''

CLARIFAI_MODEL_PY = (
    '''\
"""An image classifier as a Clarifai model class: an Image in, every concept's score out.

predict (served by Predict) scores the concepts listed in config.yaml, the labels of
processing.py, best first.
"""

import sys
from pathlib import Path

import numpy as np
from clarifai.runners.models.model_class import ModelClass
from clarifai.runners.utils.data_types import Concept, Image
'''
    + SIBLING_IMPORTS
    + '''

class Classifier(ModelClass):
    def load_model(self) -> None:
        # config.yaml asks for no accelerator: the model runs on the CPU.
        self.model = backend.load(HERE / backend.WEIGHTS, "cpu")

    @ModelClass.method
    def predict(self, image: Image) -> list[Concept]:
        """Every concept's score for ``image``, best first."""
        pixels = np.asarray(image.to_pil().convert("RGB"))
        probabilities = self.model.run(processing.preprocess(pixels))
        scores = processing.postprocess(probabilities[0])["scores"]
        ranked = sorted(scores.items(), key=lambda item: -item[1])
        return [Concept(name=label, value=score, id=label) for label, score in ranked]
'''
)

TEMPLATE = ModelTypeTemplate(
    name="classification",
    config_type="classification",
    summary="image classifier",
    model_py=MODEL_PY,
    processing_py=PROCESSING_PY,
    config=CONFIG,
    hooks=("predict_batch",),
    gesund=GesundPieces(
        "Classifier", GESUND_PREPROCESS_PY, GESUND_POSTPROCESS_PY, GESUND_SCHEMA_PY
    ),
    clarifai=ClarifaiPieces(
        "visual-classifier", CLARIFAI_MODEL_PY, concepts=("red", "green", "blue")
    ),
)
