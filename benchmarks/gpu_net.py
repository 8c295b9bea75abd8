"""The GPU benchmark's network: ResNet-50 (torchvision, random weights) or, without torchvision,
a tiny CNN; both take uint8 images [N, 3, 224, 224] and answer each image's top-5 classes.

The same file serves the bundle (copied next to its ``model.py``) and the in-process baseline,
so both run the very same code: upload of the uint8 batch, scaling on the device, the forward
pass and the copy of the top-5 back to the host. On a GPU: fp16 weights, channels_last.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import torch

IMAGE_SHAPE = (3, 224, 224)
TOP_K = 5
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def default_arch() -> str:
    """``resnet50`` where torchvision is installed, else ``tiny``.

    >>> default_arch() in {"resnet50", "tiny"}
    True
    """
    return "resnet50" if importlib.util.find_spec("torchvision") is not None else "tiny"


def _tiny() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, kernel_size=7, stride=4, padding=3),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 1000),
    )


def _resnet50() -> torch.nn.Module:
    import torchvision

    torch.manual_seed(0)
    module: torch.nn.Module = torchvision.models.resnet50(weights=None)
    return module


class Net:
    """One network on one device; ``infer`` is what a request batch costs end to end."""

    def __init__(self, arch: str, device: str) -> None:
        self.arch = arch
        self.device = torch.device(device)
        self.half = self.device.type == "cuda"
        self.dtype = torch.float16 if self.half else torch.float32
        # cudnn.benchmark stays off: dynamic batching sends every batch size from 1 to 64, and
        # each new size would stop the measured run to autotune ResNet-50's convolutions.
        module = _resnet50() if arch == "resnet50" else _tiny()
        module = module.eval().to(self.device, dtype=self.dtype, memory_format=torch.channels_last)
        self.module = module
        shape = (1, 3, 1, 1)
        self.mean = torch.tensor(MEAN, device=self.device, dtype=self.dtype).view(shape) * 255
        self.std = torch.tensor(STD, device=self.device, dtype=self.dtype).view(shape) * 255

    @property
    def precision(self) -> str:
        """How the network computes, for the report.

        >>> Net("tiny", "cpu").precision
        'fp32'
        """
        return "fp16, channels_last" if self.half else "fp32"

    def infer(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-5 class indices (int64) and probabilities (float32), each [N, 5].

        >>> Net("tiny", "cpu").infer(np.zeros((2, 3, 224, 224), np.uint8))[0].shape
        (2, 5)
        """
        with torch.inference_mode():
            x = torch.from_numpy(images).to(self.device, non_blocking=True)
            x = ((x.to(self.dtype) - self.mean) / self.std).contiguous(
                memory_format=torch.channels_last
            )
            probabilities = self.module(x).float().softmax(dim=1)
            top = probabilities.topk(TOP_K, dim=1)
            return top.indices.cpu().numpy(), top.values.cpu().numpy()

    def warm_up(self, batch_sizes: tuple[int, ...]) -> None:
        """Run each batch size a few times: kernels load, the allocator grows."""
        for size in batch_sizes:
            images = np.zeros((size, *IMAGE_SHAPE), np.uint8)
            for _ in range(3):
                self.infer(images)
        self.synchronize()

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def describe(net: Net) -> dict[str, Any]:
    """What the report says about the network.

    >>> describe(Net("tiny", "cpu"))["device"]
    'cpu'
    """
    return {
        "arch": net.arch,
        "device": str(net.device),
        "precision": net.precision,
        "torch_cuda": torch.version.cuda or "none",
        "cudnn": str(torch.backends.cudnn.version()),
    }
