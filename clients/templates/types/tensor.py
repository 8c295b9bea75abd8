"""The "other" template: a float tensor in, a tensor and structured JSON out."""

from __future__ import annotations

from clients.templates.clarifai import SIBLING_IMPORTS
from clients.templates.spec import ClarifaiPieces, GesundPieces, ModelTypeTemplate

MODEL_PY = '''\
"""A model over plain tensors, served over Predict.

Input ``features`` (float32 [N, 4]: N rows of 4 numbers); outputs the tensor ``probabilities``
(float32 [N, 2]) and, checked against Output, each row's label.
"""

import pydantic
from registry import InvalidInputError, ModelRunner, Request, outschema, register

import backend  # this bundle's own modules
import processing


@outschema("$name")
class Output(pydantic.BaseModel):
    """The structured part of every answer; the runtime checks each one against this schema."""

    labels: list[str]  # one per input row


@register("$name")
class TensorModel(ModelRunner):
    def load_model(self) -> None:
        # The runtime picks the device ("cpu" or "cuda:N"); the model only follows it.
        self.model = backend.load(self.context.path(backend.WEIGHTS), self.context.device)

    def predict(self, request: Request) -> dict[str, object]:
        try:
            features = processing.preprocess(request["features"])
        except ValueError as exc:  # the caller's mistake: INVALID_ARGUMENT, not INTERNAL
            raise InvalidInputError(f"input 'features': {exc}") from None
        probabilities = self.model.run(features)
        # The array becomes a named tensor output; the rest is the structured output.
        return {"probabilities": probabilities, **processing.postprocess(probabilities)}
'''

PROCESSING_PY = '''\
"""Pre- and post-processing: rows of numbers -> probabilities -> labels.

The tiny model that build_model.py writes is a linear one with fixed weights. Replace these
functions, the labels and the model with your own; keep NUM_FEATURES and LABELS in step with it.
"""

import numpy as np

LABELS = ("negative", "positive")
NUM_FEATURES = 4  # the model's input: rows of 4 numbers


def preprocess(features: np.ndarray) -> np.ndarray:
    """float [N, NUM_FEATURES] -> float32 [N, NUM_FEATURES]."""
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] != NUM_FEATURES:
        raise ValueError(f"expected [N, {NUM_FEATURES}] numbers, got {list(features.shape)}")
    if not np.issubdtype(features.dtype, np.number):
        raise ValueError(f"expected numbers, got {features.dtype}")
    return features.astype(np.float32)


def postprocess(probabilities: np.ndarray) -> dict[str, object]:
    """Probabilities [N, len(LABELS)] -> the label of each row."""
    return {"labels": [LABELS[int(i)] for i in probabilities.argmax(axis=1)]}


# -- the tiny reference model, used by build_model.py -------------------------------------------


def reference_weights() -> tuple[np.ndarray, np.ndarray]:
    """Weights [NUM_FEATURES, len(LABELS)] and bias: "positive" when 2a - b + c > 0."""
    score = np.array([2.0, -1.0, 1.0, 0.0], dtype=np.float32)
    weights = np.stack([-score, score], axis=1)
    return weights, np.zeros(len(LABELS), dtype=np.float32)


def training_data(rng: np.random.Generator, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic rows and their labels (indices into LABELS), for frameworks that fit."""
    features = rng.normal(size=(n, NUM_FEATURES)).astype(np.float32)
    weights, bias = reference_weights()
    return features, np.argmax(features @ weights + bias, axis=1)
'''

CONFIG = """\
labels: [negative, positive]
inputs:
  - name: features
    kind: tensor
    dtype: float32
    shape: [-1, 4]  # any number of rows of 4 numbers
"""

GESUND_PREPROCESS_PY = '''\
"""Preprocess: rows of numbers -> the model's features (see processing.py)."""

from . import processing


class Preprocess:
    """float [N, F] -> {"features": float32 [N, F]}. With batch=True, a list in and a list out."""

    def __call__(self, input, batch=False):
        if batch:
            return [self(rows) for rows in input]
        return {"features": processing.preprocess(input)}
'''

GESUND_POSTPROCESS_PY = '''\
"""Postprocess: probabilities -> the Response of schema.py."""

from . import processing


class Postprocess:
    """{"probabilities": [N, K]} -> each row's label and probabilities. With batch=True, a list
    in and a list out."""

    def __call__(self, input, batch=False, context=None):
        if batch:
            return [self(item) for item in input]
        probabilities = input["probabilities"]
        labels = processing.postprocess(probabilities)["labels"]
        return {"labels": labels, "probabilities": probabilities.tolist(), "status": 200}
'''

GESUND_SCHEMA_PY = '''\
"""The Response every answer is checked against, registered for this model."""

from pydantic import BaseModel, Field
from register import outschema


@outschema.register_module("$name", default=False)
class Response(BaseModel):
    labels: list[str] = Field(description="The label of each input row")
    probabilities: list[list[float]] = Field(description="Each row's probability of each label")
'''

CLARIFAI_MODEL_PY = (
    '''\
"""A model over plain tensors as a Clarifai model class: an array in, labels and a tensor out.

predict (served by Predict) takes ``features`` (float [N, 4]) and answers each row's label and
the probabilities [N, 2] as a tensor output.
"""

import sys
from pathlib import Path

import numpy as np
from clarifai.runners.models.model_class import ModelClass
from clarifai.runners.utils.data_types import NamedFields
'''
    + SIBLING_IMPORTS
    + '''
Output = NamedFields(labels=list[str], probabilities=np.ndarray)


class TensorModel(ModelClass):
    def load_model(self) -> None:
        # config.yaml asks for no accelerator: the model runs on the CPU.
        self.model = backend.load(HERE / backend.WEIGHTS, "cpu")

    @ModelClass.method
    def predict(self, features: np.ndarray) -> Output:
        """Each row's label, and the probabilities of every label."""
        probabilities = self.model.run(processing.preprocess(features))
        labels = processing.postprocess(probabilities)["labels"]
        return Output(labels=labels, probabilities=probabilities)
'''
)

TEMPLATE = ModelTypeTemplate(
    name="other",
    config_type="other",
    summary="model over plain tensors",
    model_py=MODEL_PY,
    processing_py=PROCESSING_PY,
    config=CONFIG,
    hooks=("predict",),
    gesund=GesundPieces(
        "TensorModel", GESUND_PREPROCESS_PY, GESUND_POSTPROCESS_PY, GESUND_SCHEMA_PY
    ),
    clarifai=ClarifaiPieces("any-to-any", CLARIFAI_MODEL_PY),
)
