import numpy as np

from .backbone import CLASSES


class PixelLoss:
    """Mean cross-entropy of the pixel classes against ground-truth boxes.

    ``gts`` lists the blocks that are really there: [{"box": [x_min, y_min, x_max, y_max],
    "label": "red"}, ...]; every pixel outside them is background.
    """

    def __call__(self, y_pred, gts):
        probabilities = np.asarray(y_pred.detach().cpu() if hasattr(y_pred, "detach") else y_pred)
        probabilities = probabilities[0]  # [4, H, W]
        target = np.zeros(probabilities.shape[1:], dtype=np.int64)
        for truth in gts:
            x_min, y_min, x_max, y_max = (int(v) for v in truth["box"])
            target[y_min:y_max, x_min:x_max] = CLASSES.index(truth["label"])
        picked = np.take_along_axis(probabilities, target[np.newaxis], axis=0)[0]
        return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())
