"""Write this bundle's block_detector.pt: the state dict of backbone.BlockNet (fixed weights).

Run it as a script or through ``python examples/build.py``; every run writes the same bytes. Not
part of the Gesund layout itself: a zip for that platform would hold only the built weights.

The 1x1 convolution scores a pixel (r, g, b) in 0..1 for each colour c as
  SHARPNESS * (c - mean of the other two channels - THRESHOLD)
and background as 0: a pixel is a colour when that channel beats the others by THRESHOLD,
so dark, grey and white pixels are background.
"""

import importlib.util
import io
from pathlib import Path

import torch

SHARPNESS = 12.0
THRESHOLD = 0.25
HERE = Path(__file__).resolve().parent


def _backbone():
    # backbone.py is a module of the bundle's package; load it on its own, by path.
    spec = importlib.util.spec_from_file_location("block_detector_backbone", HERE / "backbone.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def state_dict() -> dict[str, torch.Tensor]:
    """The network's weights: rows are background, red, green, blue (backbone.CLASSES)."""
    colours = SHARPNESS * (1.5 * torch.eye(3) - 0.5)  # c - (sum of the others) / 2
    weight = torch.cat([torch.zeros(1, 3), colours])[:, :, None, None]  # [4, 3, 1, 1]
    bias = torch.tensor([0.0] + [-SHARPNESS * THRESHOLD] * 3)
    net = _backbone().BlockNet()
    net.load_state_dict({"pixels.weight": weight, "pixels.bias": bias})
    return net.state_dict()


def build(output: Path | None = None) -> Path:
    """Write block_detector.pt (next to this script by default); skip the write when up to date."""
    output = output or HERE / "block_detector.pt"
    buffer = io.BytesIO()
    torch.save(state_dict(), buffer)
    if not output.exists() or output.read_bytes() != buffer.getvalue():
        output.write_bytes(buffer.getvalue())
    return output


if __name__ == "__main__":
    path = build()
    print(f"wrote {path} ({path.stat().st_size} bytes)")
