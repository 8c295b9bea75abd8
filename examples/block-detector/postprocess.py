import numpy as np
from scipy import ndimage

from .backbone import CLASSES

#: Blobs smaller than this many pixels are noise, not blocks.
MIN_AREA = 4


class Postprocess:
    """Per-pixel probabilities [N, 4, H, W] -> boxes, labels and scores, best first.

    Pixels are grouped by their most likely class; each connected group of a colour is one block:
    its box is [x_min, y_min, x_max, y_max] in pixels (max one past the last pixel), its score the
    mean probability of its colour over the group's pixels.
    """

    def __call__(self, input, batch=False, context=None):
        probabilities = input.detach().cpu().numpy() if hasattr(input, "detach") else input
        detections = [self._detect(np.asarray(p)) for p in probabilities]
        return detections if batch else detections[0]

    @staticmethod
    def _detect(probabilities):
        winners = probabilities.argmax(axis=0)
        found = []
        for index, label in enumerate(CLASSES):
            if label == "background":
                continue
            blobs, _ = ndimage.label(winners == index)  # 4-connected groups of pixels
            for number, (rows, cols) in enumerate(ndimage.find_objects(blobs), start=1):
                pixels = blobs[rows, cols] == number
                if pixels.sum() < MIN_AREA:
                    continue
                score = float(probabilities[index][rows, cols][pixels].mean())
                found.append((score, label, [cols.start, rows.start, cols.stop, rows.stop]))
        found.sort(key=lambda detection: -detection[0])
        return {
            "boxes": [box for _, _, box in found],
            "labels": [label for _, label, _ in found],
            "scores": [round(score, 4) for score, _, _ in found],
            "status": 200,  # the platform's habit; not in the Response, so it is dropped
        }
