import numpy as np


class Preprocess:
    """An HxWx3 uint8 RGB image (PNG/JPEG bytes arrive decoded) -> float32 [1, 3, H, W] in 0..1.

    With batch=True the input is a list of images of one size, stacked into [N, 3, H, W].
    """

    def __call__(self, input, batch=False):
        images = input if batch else [input]
        return np.stack([self._to_chw(image) for image in images])

    @staticmethod
    def _to_chw(image):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] < 3:
            raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
        return (image[..., :3].astype(np.float32) / 255.0).transpose(2, 0, 1)
