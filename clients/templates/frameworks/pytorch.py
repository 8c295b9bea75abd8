"""The PyTorch framework template: a torch.nn.Module whose state dict is model.pt."""

from __future__ import annotations

from clients.templates.spec import FrameworkTemplate

BACKEND_PY = '''\
"""The network, and loading model.pt (its state dict): features [N, F] in, probabilities out.

model.py only uses load() and Model.run(). Put your own architecture in Network; build_model.py
saves its state dict, which load() reads back into a fresh Network of the same size.
"""

from pathlib import Path

import numpy as np
import torch

WEIGHTS = "model.pt"


class Network(torch.nn.Module):
    """A linear layer and a softmax: features [N, F] -> probabilities [N, K]."""

    def __init__(self, num_features: int, num_labels: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(num_features, num_labels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(features), dim=1)


class Model:
    def __init__(self, network: Network, device: str) -> None:
        self.network = network
        self.device = device

    def run(self, features: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        with torch.inference_mode():
            return self.network(batch.to(self.device)).cpu().numpy()


def load(path: Path, device: str) -> Model:
    """The model in ``path``, on ``device`` ("cpu" or "cuda:N", chosen by the runtime)."""
    if not path.exists():
        raise FileNotFoundError(f"{path.name} is missing: run `python build_model.py` first")
    # weights_only: a state dict holds tensors only, so nothing else may be unpickled.
    state = torch.load(path, map_location="cpu", weights_only=True)
    num_labels, num_features = state["linear.weight"].shape  # the size the network was built at
    network = Network(num_features, num_labels)
    network.load_state_dict(state)
    return Model(network.to(device).eval(), device)
'''

BUILD_PY = '''\
"""Writes model.pt: the state dict of a tiny working Network (see backend.py).

Its weights come from processing.reference_weights(). Replace this script with your own
training: save your Network's state dict to model.pt. Run it from anywhere:

    python build_model.py
"""

from pathlib import Path

import torch

import processing
from backend import WEIGHTS, Network

HERE = Path(__file__).resolve().parent  # the folder of this script, backend.py and the weights


def build(folder: Path = HERE) -> Path:
    weights, bias = processing.reference_weights()
    network = Network(processing.NUM_FEATURES, len(processing.LABELS))
    with torch.no_grad():
        network.linear.weight.copy_(torch.from_numpy(weights.T.copy()))
        network.linear.bias.copy_(torch.from_numpy(bias))
    path = folder / WEIGHTS
    torch.save(network.state_dict(), path)
    return path


if __name__ == "__main__":
    print(f"wrote {build()}")
'''

TEMPLATE = FrameworkTemplate(
    name="pytorch",
    config_framework="pytorch",
    summary="PyTorch",
    backend_py=BACKEND_PY,
    build_py=BUILD_PY,
    weights="model.pt",
    requirements=("numpy>=1.26", "torch>=2.1"),
)
