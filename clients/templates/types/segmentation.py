"""The segmentation template: an image in, a label mask and what it covers out."""

from __future__ import annotations

from clients.templates.spec import ModelTypeTemplate
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

TEMPLATE = ModelTypeTemplate(
    name="segmentation",
    config_type="segmentation",
    summary="semantic segmentation model",
    model_py=MODEL_PY,
    processing_py=PROCESSING_PY,
    config=CONFIG,
    hooks=("predict",),
)
