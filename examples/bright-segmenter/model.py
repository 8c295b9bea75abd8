"""Bright-segmenter example: a tiny Keras segmentation model, served over Predict.

The model labels every pixel of an RGB image "background" or "bright" (see build_weights.py for
its three convolutions). The answer is the mask itself, a uint8 tensor [H, W] holding each
pixel's label index, plus a structured summary: the labels and how many pixels carry each.
"""

import numpy as np
import pydantic

from registry import InvalidInputError, ModelRunner, Request, outschema, register

# The order of the model's output channels (fixed by build_weights.py), also the mask's values.
LABELS = ("background", "bright")


@outschema("bright-segmenter")
class Segmentation(pydantic.BaseModel):
    """The structured part of the answer; the mask itself is the tensor output ``mask``."""

    labels: list[str] = pydantic.Field(description="The label of each mask value (its index).")
    pixels: dict[str, int] = pydantic.Field(description="How many pixels carry each label.")


@register("bright-segmenter")
class BrightSegmenter(ModelRunner):
    """Predict: ``image`` (uint8 [H, W, 3]) in; ``mask`` (uint8 [H, W]) and a Segmentation out."""

    def load_model(self) -> None:
        # The bundle's only weights file (bright_segmenter.keras) as a keras.Model, on the
        # device the runtime chose; the framework comes from the file's extension.
        self.model = self.context.load_weights()

    def predict(self, request: Request) -> dict[str, object]:
        image = np.asarray(request["image"])
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise InvalidInputError(
                f"input 'image' must be a uint8 [H, W, 3] tensor, got {image.dtype} {image.shape}"
            )
        batch = image[np.newaxis].astype(np.float32) / 255.0  # [1, H, W, 3] in 0..1
        probabilities = np.asarray(self.model(batch, training=False))[0]  # [H, W, 2]
        mask = probabilities.argmax(axis=-1).astype(np.uint8)
        counts = np.bincount(mask.ravel(), minlength=len(LABELS))
        return {
            "labels": list(LABELS),
            "pixels": {label: int(n) for label, n in zip(LABELS, counts, strict=True)},
            "mask": mask,  # a numpy array: sent as the tensor output "mask"
        }
