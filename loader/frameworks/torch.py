"""PyTorch weights: TorchScript, a whole pickled ``nn.Module``, or a state dict for an
architecture class the bundle ships. Loaded onto the instance's device, in eval mode."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loader.errors import BundleError
from loader.frameworks.contract import (
    FrameworkSupport,
    OutputBinding,
    Predictor,
    by_key,
    import_framework,
    positional,
)

if TYPE_CHECKING:
    from loader.frameworks.contract import Array

#: Keys under which training checkpoints commonly keep the state dict.
_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``), not a ``torch.save`` one."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(
            name.endswith("/constants.pkl") or "/code/" in name for name in archive.namelist()
        )


def _state_dict(loaded: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in _CHECKPOINT_KEYS:
        inner = loaded.get(key)
        if isinstance(inner, Mapping):
            return inner
    return loaded


def load(
    path: Path,
    device: str = "cpu",
    *,
    architecture: type | None = None,
    config: Mapping[str, Any] | None = None,
) -> Any:
    """The model in ``path`` on ``device``, in eval mode.

    A state dict (or a checkpoint holding one under "state_dict") needs ``architecture``: the
    class is built as ``architecture(**config)`` and the weights loaded into it.

    >>> load(Path("weights.pt"), "cpu", architecture=Net, config={"hidden": 8})  # doctest: +SKIP
    """
    torch = import_framework("torch", "torch")
    if is_torchscript(path):
        model = torch.jit.load(str(path), map_location=device)
    else:
        # weights_only=False on purpose: the file belongs to a bundle the user uploaded, and the
        # bundle's own code runs in this worker anyway, so unpickling it trusts nothing more.
        # Published bundles pickle whole modules, which torch >= 2.6 refuses by default.
        loaded = torch.load(str(path), map_location=device, weights_only=False)
        if isinstance(loaded, torch.nn.Module):
            model = loaded
        elif isinstance(loaded, Mapping):
            model = _from_state_dict(path, _state_dict(loaded), architecture, config)
        else:
            raise BundleError(
                f"{path.name}: holds a {type(loaded).__name__}, not a TorchScript model, an"
                " nn.Module or a state dict"
            )
    model.to(device)
    model.eval()
    return model


def _from_state_dict(
    path: Path,
    state: Mapping[str, Any],
    architecture: type | None,
    config: Mapping[str, Any] | None,
) -> Any:
    if architecture is None:
        raise BundleError(
            f"{path.name}: holds a state dict, which needs the model's class: pass"
            " load_weights(..., architecture=MyNet, config={...}) or set `architecture` in the"
            " bundle config",
            reason="ARCHITECTURE_REQUIRED",
        )
    model = architecture(**dict(config or {}))
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError) as exc:
        raise BundleError(
            f"{path.name}: the state dict does not fit {architecture.__name__}: {exc}"
        ) from exc
    return model


def predictor(model: Any, outputs: Sequence[OutputBinding] | None, device: str) -> Predictor:
    """Call ``model(*inputs)`` without gradients; a tensor, tuple or dict result is named."""
    import numpy as np

    torch = import_framework("torch", "torch")

    def run(inputs: Mapping[str, Array]) -> dict[str, Array]:
        tensors = [torch.from_numpy(np.ascontiguousarray(v)).to(device) for v in inputs.values()]
        with torch.inference_mode():
            result = model(*tensors)
        if isinstance(result, Mapping):
            return by_key({k: _numpy(v) for k, v in result.items()}, outputs)
        if isinstance(result, tuple | list):
            return positional(outputs, [_numpy(item) for item in result])
        return positional(outputs, [_numpy(result)])

    return run


def _numpy(tensor: Any) -> Array:
    import numpy as np

    return np.asarray(tensor.detach().cpu().numpy())


SUPPORT = FrameworkSupport("pytorch", "torch", load, predictor)
