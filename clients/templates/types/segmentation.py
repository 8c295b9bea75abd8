"""The segmentation template: an image in, a label mask and what it covers out."""

from __future__ import annotations

from clients.templates.clarifai import SIBLING_IMPORTS
from clients.templates.spec import ClarifaiPieces, GesundPieces, ModelTypeTemplate
from clients.templates.types.image import CHECK_IMAGE, COLOUR_WEIGHTS, IMAGE_INPUT

MODEL_PY = '''\
"""A semantic segmentation model, served over Predict.

Input ``image`` (uint8 [H, W, 3]); outputs the tensor ``mask`` (uint8 [H, W], the index of each
pixel's label) and, checked against Segmentation, the labels by index and the number of pixels
of each label present.
"""

import pydantic
from registry import InvalidInputError, ModelRunner, Request, outschema, register

import backend  # this bundle's own modules
import processing


@outschema("$name")
class Segmentation(pydantic.BaseModel):
    """The structured part of every answer; the runtime checks each one against this schema."""

    labels: list[str]  # labels[i] is the label of mask value i
    pixels: dict[str, int]  # pixels of each label present in the mask


@register("$name")
class Segmenter(ModelRunner):
    def load_model(self) -> None:
        # The runtime picks the device ("cpu" or "cuda:N"); the model only follows it.
        self.model = backend.load(self.context.path(backend.WEIGHTS), self.context.device)

    def predict(self, request: Request) -> dict[str, object]:
        try:
            features, shape = processing.preprocess(request["image"])
        except ValueError as exc:  # the caller's mistake: INVALID_ARGUMENT, not INTERNAL
            raise InvalidInputError(f"input 'image': {exc}") from None
        mask = processing.postprocess(self.model.run(features), shape)
        # The mask (an array) becomes a named tensor output; the rest is the structured output.
        return {"mask": mask, **processing.summarize(mask)}
'''

PROCESSING_PY = (
    '''\
"""Pre- and post-processing: image -> pixel features -> mask.

The tiny model that build_model.py writes labels each pixel by its colour (background, red,
green or blue). Replace these functions, the labels and the model with your own; keep
NUM_FEATURES and LABELS in step with it.
"""

import numpy as np

LABELS = ("background", "red", "green", "blue")
NUM_FEATURES = 3  # the model's input: a pixel's red, green and blue, in 0..1

'''
    + CHECK_IMAGE
    + '''

def preprocess(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """uint8 [H, W, 3] -> features float32 [H * W, NUM_FEATURES] and the mask's shape (H, W)."""
    image = check_image(image)
    features = image.reshape(-1, 3).astype(np.float32) / 255.0
    return features, (image.shape[0], image.shape[1])


def postprocess(probabilities: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixel probabilities [H * W, len(LABELS)] -> the mask, uint8 [H, W] of label indices."""
    return probabilities.argmax(axis=1).astype(np.uint8).reshape(shape)


def summarize(mask: np.ndarray) -> dict[str, object]:
    """Every label by index, and the pixel count of each label present in ``mask``."""
    counts = np.bincount(mask.ravel(), minlength=len(LABELS))
    pixels = {label: int(n) for label, n in zip(LABELS, counts, strict=True) if n}
    return {"labels": list(LABELS), "pixels": pixels}


# -- the tiny reference model, used by build_model.py -------------------------------------------
'''
    + COLOUR_WEIGHTS
)

CONFIG = "labels: [background, red, green, blue]\n" + IMAGE_INPUT

GESUND_PREPROCESS_PY = '''\
"""Preprocess: an image -> the features of its pixels (see processing.py)."""

from . import processing


class Preprocess:
    """An HxWx3 uint8 RGB image (PNG/JPEG bytes arrive decoded) -> {"features": [H * W, F],
    "shape": (H, W)}. With batch=True, a list of images in and a list out."""

    def __call__(self, input, batch=False):
        if batch:
            return [self(image) for image in input]
        features, shape = processing.preprocess(input)
        return {"features": features, "shape": shape}
'''

GESUND_POSTPROCESS_PY = '''\
"""Postprocess: pixel probabilities -> the Response of schema.py: the mask and its labels."""

from . import processing


class Postprocess:
    """{"probabilities", "shape"} -> the mask (H rows of W label indices), the labels by index
    and the pixel count of each label present. With batch=True, a list in and a list out."""

    def __call__(self, input, batch=False, context=None):
        if batch:
            return [self(item) for item in input]
        mask = processing.postprocess(input["probabilities"], input["shape"])
        return {"mask": mask.tolist(), **processing.summarize(mask), "status": 200}
'''

GESUND_SCHEMA_PY = '''\
"""The Response every answer is checked against, registered for this model."""

from pydantic import BaseModel, Field
from register import outschema


@outschema.register_module("$name", default=False)
class Response(BaseModel):
    mask: list[list[int]] = Field(description="The label index of each pixel, row by row")
    labels: list[str] = Field(description="labels[i] is the label of mask value i")
    pixels: dict[str, int] = Field(description="The pixels of each label present in the mask")
'''

CLARIFAI_MODEL_PY = (
    '''\
"""A semantic segmentation model as a Clarifai model class: an Image in, a Region per label.

predict (served by Predict) answers one Region per label present in the image: its mask (a PNG,
white where the label is) and its concept, valued by the share of the image it covers.
"""

import sys
from pathlib import Path

import numpy as np
from clarifai.runners.models.model_class import ModelClass
from clarifai.runners.utils.data_types import Concept, Image, Region
'''
    + SIBLING_IMPORTS
    + '''

class Segmenter(ModelClass):
    def load_model(self) -> None:
        # config.yaml asks for no accelerator: the model runs on the CPU.
        self.model = backend.load(HERE / backend.WEIGHTS, "cpu")

    @ModelClass.method
    def predict(self, image: Image) -> list[Region]:
        """A Region (mask and concept) for each label present in ``image``."""
        features, shape = processing.preprocess(np.asarray(image.to_pil().convert("RGB")))
        mask = processing.postprocess(self.model.run(features), shape)
        regions = []
        for index, label in enumerate(processing.LABELS):
            where = mask == index
            if where.any():
                concept = Concept(name=label, value=float(where.mean()), id=label)
                pixels = Image.from_numpy(where.astype(np.uint8) * 255)
                regions.append(Region(mask=pixels, concepts=[concept]))
        return regions
'''
)

TEMPLATE = ModelTypeTemplate(
    name="segmentation",
    config_type="segmentation",
    summary="semantic segmentation model",
    model_py=MODEL_PY,
    processing_py=PROCESSING_PY,
    config=CONFIG,
    hooks=("predict",),
    gesund=GesundPieces("Segmenter", GESUND_PREPROCESS_PY, GESUND_POSTPROCESS_PY, GESUND_SCHEMA_PY),
    clarifai=ClarifaiPieces(
        "visual-segmenter", CLARIFAI_MODEL_PY, concepts=("background", "red", "green", "blue")
    ),
)
