"""The detector's network: a per-pixel classifier (plain PyTorch, no platform imports).

A 1x1 convolution scores every pixel for each class and a softmax turns the scores into
probabilities. build_weights.py imports this module too, to save the weights as a state dict.
"""

import torch
from torch import nn

#: The classes, in the order of the network's output channels.
CLASSES = ("background", "red", "green", "blue")


class BlockNet(nn.Module):
    """float32 [N, 3, H, W] RGB in 0..1 -> float32 [N, 4, H, W] class probabilities per pixel."""

    def __init__(self) -> None:
        super().__init__()
        self.pixels = nn.Conv2d(3, len(CLASSES), kernel_size=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.pixels(images), dim=1)
