"""Writes Gesund-style bundles for tests, in the style published bundles are written.

Flat packages: ``__init__.py``, ``model.py``, ``preprocess.py``, ``postprocess.py``, ``loss.py``,
``schema.py``, ``reqs.txt`` pinning the old versions such bundles pin, and a weights file.
The model maps an image to the mean of its channels: ``logits = [mean(R), mean(G)] / 255``, so a
test can tell whether the image reached preprocess as HxWx3 uint8. ``batch_size`` in the answer
says how many requests preprocess received together.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import textwrap
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

INIT = "from .model import *\n"

# Uses np without importing it, as published bundles do.
PREPROCESS = """
    def custom_preprocess_fxn(input, batch=False):
        def _preprocess_single_image(img):
            assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3, (
                type(img), getattr(img, "dtype", None), getattr(img, "shape", None))
            return (img[..., :3].reshape(-1, 3).mean(axis=0) / 255.0).astype(np.float32)

        if batch:
            assert isinstance(input, list), type(input)
            return np.stack([_preprocess_single_image(img) for img in input])
        return np.expand_dims(_preprocess_single_image(input), 0)


    class Preprocess:
        def __init__(self) -> None:
            self._preprocess = custom_preprocess_fxn

        def __call__(self, input, batch=False):
            return self._preprocess(input, batch)
"""

POSTPROCESS = """
    import numpy as np

    from .schema import Response


    def custom_postprocess_fxn(model_output, batch=False, context=None):
        if hasattr(model_output, "detach"):
            model_output = model_output.detach()
        logits = np.asarray(model_output)

        def _postprocess(row):
            prob = np.exp(row) / np.exp(row).sum()
            prediction_class = int(row.argmax())
            output = Response(
                prediction_class=prediction_class,
                confidence=float(prob[prediction_class]),
                logits=row.tolist(),
                batch_size=len(logits),
            ).dict()
            output["status"] = 200
            return output

        if batch:
            return [_postprocess(row) for row in logits]
        return _postprocess(logits[0])


    class Postprocess:
        def __init__(self) -> None:
            self._postprocess_fxn = custom_postprocess_fxn

        def __call__(self, input, batch=False, context=None):
            return self._postprocess_fxn(input, batch, context)
"""

# pydantic v1 style: class Config with v1 keys; postprocess calls .dict().
SCHEMA = """
    from pydantic import BaseModel

    from register import outschema


    @outschema.register_module('{ns}', default=False)
    class Response(BaseModel):
        prediction_class: int
        confidence: float
        logits: list
        batch_size: int

        class Config:
            anystr_strip_whitespace = True
"""

# Cross-entropy of the logits against integer labels, one value per sample.
LOSS = """
    import numpy as np


    class MyLoss:
        def __init__(self):
            pass

        def {method}(self, y_pred, gts):
            logits = np.asarray(y_pred.detach() if hasattr(y_pred, "detach") else y_pred)
            logits = logits.reshape(len(gts), -1).astype(np.float64)
            gts = np.asarray(list(map(lambda x: int(x), gts)))
            log_prob = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            return (-log_prob[np.arange(gts.size), gts]).tolist()
"""

# A PytorchModel subclass: super().load() reads the pickled module; AppLogger is not imported.
PYTORCH_MODEL = """
    from register.register import modelservice
    from core.engine.base_models import PytorchModel
    from .preprocess import Preprocess
    from .postprocess import Postprocess
    from .loss import MyLoss

    logger = AppLogger(__name__).get_logger()

    __all__ = ["TorchNet"]


    @modelservice.register_module(name='{ns}', default=False)
    class TorchNet(PytorchModel):
        def __init__(self, model_path) -> None:
            super().__init__(model_path)
            self.model_path = model_path
            self.preprocess = Preprocess()
            self.postprocess = Postprocess()
            self.loss_function = MyLoss()

        def load(self):
            self.model = super().load()
            logger.info("loaded %s", self.model_path)

        def predict(self, input):
            import torch

            return self.model(torch.from_numpy(input))

        def loss(self, y_pred, gts):
            return self.loss_function.calc_loss(y_pred, gts)
"""

# No base class: load() calls torch.load on a whole pickled module of the bundle's backbone.py.
DIRECT_TORCH_MODEL = """
    import torch
    import torch.nn as nn

    from register.register import modelservice
    from .preprocess import Preprocess
    from .postprocess import Postprocess

    __all__ = ["Direct"]


    @modelservice.register_module(name='{ns}', default=False)
    class Direct:
        def __init__(self, model_path) -> None:
            self.model_path = model_path
            self.preprocess = Preprocess()
            self.postprocess = Postprocess()

        def load(self):
            model = torch.load(self.model_path)
            model.eval()
            assert isinstance(model, nn.Module)
            self.model = model

        def predict(self, img):
            return self.model(torch.from_numpy(img))
"""

BACKBONE = """
    import torch
    import torch.nn as nn


    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            return self.head(x)
"""

# An OnnxModel subclass that keeps the base class's load() and predict(); its loss is loss.py's.
ONNX_MODEL = """
    from logger import AppLogger
    from register.register import modelservice
    from core.engine.base_models import OnnxModel
    from .preprocess import Preprocess
    from .postprocess import Postprocess

    logger = AppLogger(__name__).get_logger()


    @modelservice.register_module(name='{ns}', default=False)
    class OnnxNet(OnnxModel):
        def __init__(self, model_path) -> None:
            super().__init__(model_path)
            self.preprocess = Preprocess()
            self.postprocess = Postprocess()
"""

REQS = "pydantic==1.9.0\ntorch==1.10.2\nregister\nlogger\nnumpy\n"

#: logits = x @ HEAD: the first two channel means, as they are.
HEAD = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=np.float32)


def _dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def write_gesund(
    folder: Path,
    ns: str,
    model_py: str,
    weights: tuple[str, bytes],
    *,
    loss_method: str = "calc_loss",
    files: Mapping[str, str | bytes] | None = None,
) -> Path:
    """A Gesund-style bundle folder; ``{ns}`` in the sources becomes the namespace."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = {
        "__init__.py": INIT,
        "model.py": model_py,
        "preprocess.py": PREPROCESS,
        "postprocess.py": POSTPROCESS,
        "schema.py": SCHEMA,
        "loss.py": LOSS.replace("{method}", loss_method),
        "reqs.txt": REQS,
    }
    for name, text in sources.items():
        (folder / name).write_text(_dedent(text).replace("{ns}", ns), encoding="utf-8")
    (folder / weights[0]).write_bytes(weights[1])
    for name, content in (files or {}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(_dedent(content), encoding="utf-8")
    return folder


def zip_gesund(folder: Path, archive: Path, *, top_folder: str | None = None) -> Path:
    """Zip a bundle flat (files at the root), or inside one ``top_folder``."""
    prefix = f"{top_folder}/" if top_folder else ""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


def torch_sequential_weights() -> bytes:
    """``torch.save`` of a whole ``nn.Sequential(nn.Linear(3, 2))`` computing ``x @ HEAD``."""
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(HEAD.T.copy()))
        net[0].bias.zero_()
    buffer = io.BytesIO()
    torch.save(net, buffer)
    return buffer.getvalue()


def torch_backbone_weights(workdir: Path) -> bytes:
    """``torch.save`` of a whole ``backbone.TinyNet``, pickled by reference to ``backbone``."""
    import torch

    source = workdir / "backbone.py"
    source.write_text(_dedent(BACKBONE), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("backbone", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["backbone"] = module  # pickle records classes by module name
    try:
        spec.loader.exec_module(module)
        net = module.TinyNet()
        with torch.no_grad():
            net.head.weight.copy_(torch.from_numpy(HEAD.T.copy()))
            net.head.bias.zero_()
        buffer = io.BytesIO()
        torch.save(net, buffer)
    finally:
        del sys.modules["backbone"]
    return buffer.getvalue()


def onnx_weights() -> bytes:
    """A tiny ONNX graph: ``logits = x @ HEAD`` for x of shape [N, 3] (float32)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "head"], ["logits"])],
        "gesund-head",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 2])],
        initializer=[numpy_helper.from_array(HEAD, name="head")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an HxWx3 uint8 array."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def image(height: int = 6, width: int = 4) -> np.ndarray:
    """An HxWx3 uint8 image whose red and green means differ (so the class is green)."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = 51  # mean red 0.2
    pixels[..., 1] = 204  # mean green 0.8
    pixels[: height // 2, :, 2] = 255
    return pixels


def expected_logits(pixels: np.ndarray) -> list[float]:
    """What the model answers for ``pixels``: the red and green means, scaled to 0..1."""
    means = pixels.reshape(-1, 3).mean(axis=0) / 255.0
    return [float(means[0]), float(means[1])]


def cross_entropy(logits: list[float], label: int) -> float:
    """The loss the bundles' loss.py computes for one sample."""
    values = np.asarray(logits, dtype=np.float64)
    return float(np.log(np.exp(values).sum()) - values[label])
