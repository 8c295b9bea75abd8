"""Writes the GPU benchmark's bundle: gpu_net.py's network behind ``predict_batch``, with dynamic
batching and a given number of instances (on the GPU, or where the server puts them in smoke runs).
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
MODEL_NAME = "resnet"
MAX_BATCH = 64
QUEUE_DELAY_MS = 1
GPU_MEMORY_MB = 4000
IMAGE_SHAPE = [1, 3, 224, 224]

MODEL_PY = """
    import numpy as np

    import gpu_net  # this bundle's copy of benchmarks/gpu_net.py
    from registry import ModelRunner, register


    @register("{name}")
    class ImageClassifier(ModelRunner):
        def load_model(self):
            arch = self.context.parameters.get("arch", "resnet50")
            self.net = gpu_net.Net(arch, self.context.device)
            self.net.warm_up((1, 8, 16, 32, {max_batch}))

        def predict_batch(self, requests):
            images = np.concatenate([request["image"] for request in requests])
            classes, scores = self.net.infer(images)
            return [
                {{"classes": classes[i : i + 1], "scores": scores[i : i + 1]}}
                for i in range(len(requests))
            ]
"""


def instance_group(count: int, gpu: bool) -> dict[str, Any]:
    """``count`` instances on GPU 0 (``kind: gpu``, so no GPU is a load failure, never a silent
    CPU run), or where the server decides (``kind: auto``) for smoke runs without a GPU.

    >>> instance_group(2, gpu=True)["kind"]
    'gpu'
    """
    if gpu:
        return {"count": count, "kind": "gpu", "gpus": [0], "gpu_memory_mb": GPU_MEMORY_MB}
    return {"count": count, "kind": "auto"}


def write_bundle(store: Path, arch: str, instances: int, gpu: bool) -> Path:
    """Write the bundle into ``store`` (created if missing) and return its folder."""
    bundle = store / MODEL_NAME
    bundle.mkdir(parents=True, exist_ok=True)
    source = MODEL_PY.format(name=MODEL_NAME, max_batch=MAX_BATCH)
    (bundle / "model.py").write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    shutil.copyfile(HERE / "gpu_net.py", bundle / "gpu_net.py")
    config = {
        "name": MODEL_NAME,
        "framework": "pytorch",
        "model_type": "classification",
        "parameters": {"arch": arch},
        "inputs": [{"name": "image", "kind": "tensor", "dtype": "uint8", "shape": IMAGE_SHAPE}],
        "batching": {"max_batch_size": MAX_BATCH, "max_queue_delay_ms": QUEUE_DELAY_MS},
        "instances": [instance_group(instances, gpu)],
    }
    text = yaml.safe_dump(config, sort_keys=False)
    (bundle / "modelrt.yaml").write_text(text, encoding="utf-8")
    return bundle
