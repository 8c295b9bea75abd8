"""Code shared by the image templates (classification, detection, segmentation)."""

from __future__ import annotations

#: The image check every image template's processing.py starts with.
CHECK_IMAGE = '''
def check_image(image: np.ndarray) -> np.ndarray:
    """The image as uint8 [H, W, 3]; a ValueError saying what is wrong otherwise."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise ValueError(f"expected a uint8 [H, W, 3] image, got {image.dtype} {list(image.shape)}")
    return image
'''

#: The config inputs of an image model: one RGB image of any size.
IMAGE_INPUT = """\
inputs:
  - name: image
    kind: tensor
    dtype: uint8
    shape: [-1, -1, 3]  # height and width of any size, three channels (RGB)
"""

#: Reference weights that tell coloured regions (red, green, blue) from the background.
COLOUR_WEIGHTS = '''

def reference_weights() -> tuple[np.ndarray, np.ndarray]:
    """Weights [NUM_FEATURES, len(LABELS)] and bias of the tiny reference model.

    A colour's score is how much its channel beats the other two; the background wins when no
    channel beats the others by enough (grey, black, white).
    """
    weights = np.zeros((NUM_FEATURES, len(LABELS)), dtype=np.float32)
    weights[:, 1:] = 8.0 * (1.5 * np.eye(3, dtype=np.float32) - 0.5)
    bias = np.array([2.0, 0.0, 0.0, 0.0], dtype=np.float32)
    return weights, bias


def training_data(rng: np.random.Generator, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic colours and their labels (indices into LABELS), for frameworks that fit."""
    features = rng.random((n, NUM_FEATURES), dtype=np.float32)
    weights, bias = reference_weights()
    return features, np.argmax(features @ weights + bias, axis=1)
'''
