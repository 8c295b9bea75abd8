"""Write this bundle's bright_segmenter.keras: three convolutions, fixed weights (no training).

Run it as a script or through ``python examples/build.py``; every run writes the same bytes.

The model, fully convolutional (any image size):
  image float32 [N, H, W, 3] in 0..1
  -> Conv2D 1x1 "bright", sigmoid: is the pixel's luminance (0.299 R + 0.587 G + 0.114 B)
     above LUMINANCE_THRESHOLD? about 1 if so, about 0 if not             [N, H, W, 1]
  -> Conv2D 3x3 "neighbours": the share of bright pixels around each pixel  [N, H, W, 1]
  -> Conv2D 1x1 "classes": SHARPNESS * (share - SHARE_THRESHOLD), negated for background
  -> Softmax: P(background), P(bright) per pixel                          [N, H, W, 2]
The neighbourhood vote removes specks thinner than two pixels and keeps a bright region's
outline exact: a corner has 4 of 9 bright neighbours, above SHARE_THRESHOLD, and a pixel
beside the region at most 3 of 9, below it.
"""

import io
import json
import tempfile
import zipfile
from pathlib import Path

import keras
import numpy as np

LUMINANCE = (0.299, 0.587, 0.114)  # ITU-R BT.601
LUMINANCE_THRESHOLD = 0.5
SHARE_THRESHOLD = 0.4
SHARPNESS = 10.0


def build_model() -> keras.Model:
    """The segmenter with its weights set."""
    # A dtype per layer: layers sharing the default policy object would be saved with that
    # object's memory address as its id, which differs from run to run.
    f32 = {"dtype": "float32"}
    image = keras.Input(shape=(None, None, 3), name="image")
    bright = keras.layers.Conv2D(1, 1, activation="sigmoid", name="bright", **f32)(image)
    share = keras.layers.Conv2D(1, 3, padding="same", use_bias=False, name="neighbours", **f32)(
        bright
    )
    logits = keras.layers.Conv2D(2, 1, name="classes", **f32)(share)
    probabilities = keras.layers.Softmax(name="probabilities", **f32)(logits)
    model = keras.Model(image, probabilities, name="bright_segmenter")

    steep = 4 * SHARPNESS  # a steep sigmoid: nearly 0 or 1 except close to the threshold
    model.get_layer("bright").set_weights(
        [steep * np.reshape(LUMINANCE, (1, 1, 3, 1)), np.array([-steep * LUMINANCE_THRESHOLD])]
    )
    model.get_layer("neighbours").set_weights([np.full((3, 3, 1, 1), 1 / 9)])
    to_classes = np.reshape([-SHARPNESS, SHARPNESS], (1, 1, 1, 2))  # background, bright
    model.get_layer("classes").set_weights([to_classes, -SHARE_THRESHOLD * to_classes.reshape(2)])
    return model


def reproducible(saved: Path) -> bytes:
    """The .keras file's bytes without what changes from run to run: the zip entries' times and
    the save date in metadata.json (the weights and config are the same on every run)."""
    out = io.BytesIO()
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "metadata.json":
                metadata = json.loads(data)
                metadata.pop("date_saved", None)
                data = json.dumps(metadata).encode()
            target.writestr(zipfile.ZipInfo(entry.filename), data)
    return out.getvalue()


def build(output: Path | None = None) -> Path:
    """Write bright_segmenter.keras (next to this script by default); skip it when up to date."""
    output = output or Path(__file__).with_name("bright_segmenter.keras")
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / output.name
        build_model().save(saved)
        data = reproducible(saved)
    if not output.exists() or output.read_bytes() != data:
        output.write_bytes(data)
    return output


if __name__ == "__main__":
    path = build()
    print(f"wrote {path} ({path.stat().st_size} bytes)")
