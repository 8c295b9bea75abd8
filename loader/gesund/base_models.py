"""``core.engine.base_models`` for Gesund-style bundles: TensorflowModel, PytorchModel, OnnxModel.

Each is built as ``cls(model_path)``; ``load()`` reads the weights file with the runtime's
framework loader (loader.frameworks) onto the instance's device, keeps it as ``self.model`` and
returns it, as bundles written for that platform expect (``self.model = super().load()``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from loader.frameworks import import_framework, load_weights


class PlatformModel:
    """What the three base classes share; ``device`` is the one the runtime assigned.

    >>> class Net(PytorchModel):  # doctest: +SKIP
    ...     def load(self):
    ...         self.model = super().load()
    """

    framework: ClassVar[str | None] = None
    #: The runtime's device for this bundle's instance; set per bundle (see platform.py).
    current_device: ClassVar[Callable[[], str]] = staticmethod(lambda: "cpu")

    def __init__(self, model_path: str | Path) -> None:
        self.model_path = str(model_path)
        self.device = type(self).current_device()
        self.model: Any = None

    def load(self) -> Any:
        """Load the weights file with the framework's loader; returns the framework's model."""
        self.model = load_weights(Path(self.model_path), self.device, framework=self.framework)
        return self.model

    def predict(self, input: Any) -> Any:
        """Run the loaded model on what preprocess returned."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict(self, input)")


class TensorflowModel(PlatformModel):
    """A Keras model (.h5/.keras) or a SavedModel folder."""

    framework = None  # keras or tensorflow, from the weights file

    def predict(self, input: Any) -> Any:
        model = self.model
        return model.predict(input) if hasattr(model, "predict") else model(input)


class PytorchModel(PlatformModel):
    """A TorchScript file or a whole pickled ``nn.Module`` (.pt/.pth), in eval mode."""

    framework = "pytorch"

    def predict(self, input: Any) -> Any:
        import numpy as np

        torch = import_framework("torch", "torch")
        if isinstance(input, np.ndarray):
            input = torch.from_numpy(np.ascontiguousarray(input))
        if isinstance(input, torch.Tensor):
            input = input.to(self.device)
        with torch.no_grad():
            return self.model(input)


class OnnxModel(PlatformModel):
    """An ONNX graph, run by an onnxruntime InferenceSession (``self.model``)."""

    framework = "onnx"

    def predict(self, input: Any) -> Any:
        import numpy as np

        session = self.model
        if isinstance(input, dict):
            feed = {name: np.asarray(value) for name, value in input.items()}
        else:
            feed = {session.get_inputs()[0].name: np.asarray(input)}
        outputs = session.run(None, feed)
        return outputs[0] if len(outputs) == 1 else outputs


BASE_MODELS = (TensorflowModel, PytorchModel, OnnxModel)


def bound_to(device: Callable[[], str]) -> dict[str, type]:
    """Subclasses of the base models for one bundle, reading that bundle's device.

    >>> bound_to(lambda: "cpu")["PytorchModel"].__name__
    'PytorchModel'
    """
    return {
        base.__name__: type(
            base.__name__,
            (base,),
            {"current_device": staticmethod(device), "__module__": "core.engine.base_models"},
        )
        for base in BASE_MODELS
    }
