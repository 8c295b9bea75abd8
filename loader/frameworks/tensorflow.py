"""TensorFlow and Keras weights: a SavedModel folder (``tf.saved_model.load``) or a Keras file
(``.keras``, ``.h5``) through ``keras.models.load_model``.

TensorFlow places work on the GPUs the worker can see (the runtime sets CUDA_VISIBLE_DEVICES per
instance), so ``device`` needs no extra handling here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loader.frameworks.contract import (
    FrameworkSupport,
    OutputBinding,
    Predictor,
    by_key,
    import_framework,
    positional,
)
from loader.frameworks.kinds import is_saved_model

if TYPE_CHECKING:
    from loader.frameworks.contract import Array

SERVING_SIGNATURE = "serving_default"


def load(
    path: Path,
    device: str = "cpu",
    *,
    architecture: type | None = None,
    config: Mapping[str, Any] | None = None,
) -> Any:
    """A SavedModel folder as a trackable object, or a Keras file as an uncompiled keras.Model."""
    if is_saved_model(path):
        tf = import_framework("tensorflow", "tensorflow")
        return tf.saved_model.load(str(path))
    keras = import_framework("keras", "tensorflow")
    return keras.models.load_model(str(path), compile=False)


def predictor(model: Any, outputs: Sequence[OutputBinding] | None, device: str) -> Predictor:
    """Call the SavedModel's serving signature by input name, else call the model itself."""
    import numpy as np

    signatures = getattr(model, "signatures", None)
    if signatures is not None and SERVING_SIGNATURE in signatures:
        return _signature_predictor(signatures[SERVING_SIGNATURE], outputs)
    is_keras = hasattr(model, "predict_on_batch")

    def run(inputs: Mapping[str, Array]) -> dict[str, Array]:
        values = list(inputs.values())
        argument: Any = values[0] if len(values) == 1 else values
        result = model(argument, training=False) if is_keras else model(*values)
        if isinstance(result, Mapping):
            return by_key({k: np.asarray(v) for k, v in result.items()}, outputs)
        if isinstance(result, tuple | list):
            return positional(outputs, [np.asarray(item) for item in result])
        return positional(outputs, [np.asarray(result)])

    return run


def _signature_predictor(signature: Any, outputs: Sequence[OutputBinding] | None) -> Predictor:
    import numpy as np

    specs: dict[str, Any] = dict(signature.structured_input_signature[1])

    def run(inputs: Mapping[str, Array]) -> dict[str, Array]:
        if len(inputs) != len(specs):
            raise ValueError(
                f"the SavedModel signature takes {len(specs)} input(s) ({sorted(specs)}),"
                f" got {len(inputs)}"
            )
        by_name = all(name in inputs for name in specs)
        values = [inputs[name] for name in specs] if by_name else list(inputs.values())
        feed = {
            name: np.asarray(value, dtype=spec.dtype.as_numpy_dtype)
            for (name, spec), value in zip(specs.items(), values, strict=True)
        }
        result = signature(**feed)
        return by_key({k: np.asarray(v) for k, v in result.items()}, outputs)

    return run


SUPPORT = FrameworkSupport("tensorflow", "tensorflow", load, predictor)
KERAS = FrameworkSupport("keras", "tensorflow", load, predictor)
