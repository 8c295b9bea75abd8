"""The object-detection template: an image in, labelled boxes with scores out."""

from __future__ import annotations

from clients.templates.clarifai import SIBLING_IMPORTS
from clients.templates.spec import ClarifaiPieces, GesundPieces, ModelTypeTemplate
from clients.templates.types.image import CHECK_IMAGE, COLOUR_WEIGHTS, IMAGE_INPUT

MODEL_PY = '''\
"""An object detector, served over Predict.

Input ``image`` (uint8 [H, W, 3]); output ``detections``: a label, a score and a box
(left, top, right, bottom in pixels) for each object found, checked against Detections.
Parameter ``score_threshold`` (a request parameter, else modelrt.yaml's) drops weak ones.
"""

import pydantic
from registry import InvalidInputError, ModelRunner, Request, outschema, register

import backend  # this bundle's own modules
import processing


class Detection(pydantic.BaseModel):
    label: str
    score: float = pydantic.Field(ge=0.0, le=1.0)
    xyxy: tuple[float, float, float, float]  # left, top, right, bottom, in pixels


@outschema("$name")
class Detections(pydantic.BaseModel):
    """What every answer holds; the runtime checks each one against this schema."""

    detections: list[Detection]


@register("$name")
class Detector(ModelRunner):
    def load_model(self) -> None:
        # The runtime picks the device ("cpu" or "cuda:N"); the model only follows it.
        self.model = backend.load(self.context.path(backend.WEIGHTS), self.context.device)
        self.grid = int(self.context.parameters.get("grid", 8))

    def predict(self, request: Request) -> dict[str, object]:
        threshold = _threshold(request, self.context.parameters.get("score_threshold", 0.5))
        try:
            features, boxes = processing.preprocess(request["image"], self.grid)
        except ValueError as exc:  # the caller's mistake: INVALID_ARGUMENT, not INTERNAL
            raise InvalidInputError(f"input 'image': {exc}") from None
        probabilities = self.model.run(features)
        return processing.postprocess(probabilities, boxes, threshold)


def _threshold(request: Request, default: object) -> float:
    value = request.param("score_threshold", default)
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"parameter 'score_threshold' is not a number: {value!r}") from None
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInputError(f"parameter 'score_threshold' must be in 0..1, got {threshold}")
    return threshold
'''

PROCESSING_PY = (
    '''\
"""Pre- and post-processing: image -> grid cells -> boxes.

The tiny model that build_model.py writes labels each cell of a grid laid over the image by its
mean colour (background, red, green or blue); a detection is the box around the cells of one
label. Replace these functions, the labels and the model with your own; keep NUM_FEATURES and
LABELS in step with it.
"""

from itertools import pairwise

import numpy as np

LABELS = ("background", "red", "green", "blue")  # index 0 is never reported
NUM_FEATURES = 3  # the model's input: a cell's mean red, green and blue, in 0..1

'''
    + CHECK_IMAGE
    + '''

def preprocess(image: np.ndarray, grid: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [H, W, 3] -> features float32 [cells, NUM_FEATURES] and cell boxes [cells, 4]."""
    image = check_image(image)
    height, width = image.shape[:2]
    rows = np.linspace(0, height, min(grid, height) + 1).astype(int)
    cols = np.linspace(0, width, min(grid, width) + 1).astype(int)
    features, boxes = [], []
    for top, bottom in pairwise(rows):
        for left, right in pairwise(cols):
            cell = image[top:bottom, left:right].reshape(-1, 3)
            features.append(cell.mean(axis=0) / 255.0)
            boxes.append((left, top, right, bottom))
    return np.asarray(features, dtype=np.float32), np.asarray(boxes, dtype=np.float32)


def postprocess(
    probabilities: np.ndarray, boxes: np.ndarray, threshold: float
) -> dict[str, object]:
    """Cell probabilities [cells, len(LABELS)] -> one box per label around the cells it wins."""
    best = probabilities.argmax(axis=1)
    detections = []
    for index, label in enumerate(LABELS[1:], start=1):
        hits = (best == index) & (probabilities[:, index] >= threshold)
        if not hits.any():
            continue
        cells = boxes[hits]
        xyxy = [cells[:, 0].min(), cells[:, 1].min(), cells[:, 2].max(), cells[:, 3].max()]
        score = float(probabilities[hits, index].mean())
        detections.append({"label": label, "score": score, "xyxy": [float(v) for v in xyxy]})
    detections.sort(key=lambda detection: -detection["score"])
    return {"detections": detections}


# -- the tiny reference model, used by build_model.py -------------------------------------------
'''
    + COLOUR_WEIGHTS
)

CONFIG = (
    "labels: [background, red, green, blue]\n"
    + IMAGE_INPUT
    + """\
parameters:
  grid: 8  # the image is cut into grid x grid cells
  score_threshold: 0.5  # the default; a request may send its own
"""
)

GESUND_PREPROCESS_PY = '''\
"""Preprocess: an image -> the features and boxes of its grid cells (see processing.py)."""

from . import processing

GRID = 8  # the image is cut into GRID x GRID cells


class Preprocess:
    """An HxWx3 uint8 RGB image (PNG/JPEG bytes arrive decoded) -> {"features": [cells, F],
    "boxes": [cells, 4]}. With batch=True, a list of images in and a list out."""

    def __call__(self, input, batch=False):
        if batch:
            return [self(image) for image in input]
        features, boxes = processing.preprocess(input, GRID)
        return {"features": features, "boxes": boxes}
'''

GESUND_POSTPROCESS_PY = '''\
"""Postprocess: cell probabilities -> the Response of schema.py, one box per object."""

from . import processing

DEFAULT_SCORE_THRESHOLD = 0.5


class Postprocess:
    """{"probabilities", "boxes"} -> each object's box, label and score, best first. Objects
    scoring under the request's score_threshold parameter (default 0.5) are dropped."""

    def __call__(self, input, batch=False, context=None):
        if batch:
            contexts = context if isinstance(context, list) else [context] * len(input)
            return [self(item, False, each) for item, each in zip(input, contexts, strict=True)]
        threshold = _score_threshold(context)
        found = processing.postprocess(input["probabilities"], input["boxes"], threshold)
        detections = found["detections"]
        return {
            "boxes": [detection["xyxy"] for detection in detections],
            "labels": [detection["label"] for detection in detections],
            "scores": [detection["score"] for detection in detections],
            "status": 200,  # the platform's habit; not in the Response, so it is dropped
        }


def _score_threshold(context):
    parameters = (context or {}).get("parameters", {})
    threshold = float(parameters.get("score_threshold", DEFAULT_SCORE_THRESHOLD))
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"score_threshold must be in 0..1, got {threshold}")
    return threshold
'''

GESUND_SCHEMA_PY = '''\
"""The Response every answer is checked against, registered for this model."""

from pydantic import BaseModel, Field
from register import outschema


@outschema.register_module("$name", default=False)
class Response(BaseModel):
    boxes: list[list[float]] = Field(description="[left, top, right, bottom] in pixels, each")
    labels: list[str] = Field(description="The label of each box: red, green or blue")
    scores: list[float] = Field(description="The confidence in each box, 0 to 1")
'''

CLARIFAI_MODEL_PY = (
    '''\
"""An object detector as a Clarifai model class: an Image in, a Region per object out.

predict (served by Predict) answers each object's box ([left, top, right, bottom] as fractions
of the image's width and height) and concept; the request parameter score_threshold drops weak
ones.
"""

import sys
from pathlib import Path

import numpy as np
from clarifai.runners.models.model_class import ModelClass
from clarifai.runners.utils.data_types import Concept, Image, Region
from clarifai.runners.utils.data_utils import Param
'''
    + SIBLING_IMPORTS
    + '''
GRID = 8  # the image is cut into GRID x GRID cells
SCORE_THRESHOLD = Param(default=0.5, min_value=0.0, max_value=1.0, description="weakest score")


class Detector(ModelClass):
    def load_model(self) -> None:
        # config.yaml asks for no accelerator: the model runs on the CPU.
        self.model = backend.load(HERE / backend.WEIGHTS, "cpu")

    @ModelClass.method
    def predict(self, image: Image, score_threshold: float = SCORE_THRESHOLD) -> list[Region]:
        """A Region per object in ``image``, best first."""
        pixels = np.asarray(image.to_pil().convert("RGB"))
        features, boxes = processing.preprocess(pixels, GRID)
        found = processing.postprocess(self.model.run(features), boxes, score_threshold)
        height, width = pixels.shape[:2]
        regions = []
        for detection in found["detections"]:
            left, top, right, bottom = detection["xyxy"]
            label, score = detection["label"], detection["score"]
            concept = Concept(name=label, value=score, id=label)
            box = [left / width, top / height, right / width, bottom / height]
            regions.append(Region(box=box, concepts=[concept]))
        return regions
'''
)

TEMPLATE = ModelTypeTemplate(
    name="object-detection",
    config_type="object_detection",
    summary="object detector",
    model_py=MODEL_PY,
    processing_py=PROCESSING_PY,
    config=CONFIG,
    hooks=("predict",),
    gesund=GesundPieces("Detector", GESUND_PREPROCESS_PY, GESUND_POSTPROCESS_PY, GESUND_SCHEMA_PY),
    clarifai=ClarifaiPieces(
        "visual-detector", CLARIFAI_MODEL_PY, concepts=("red", "green", "blue")
    ),
)
