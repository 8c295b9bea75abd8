"""Ready weights loaders, one module per framework, picked from a table by the file's kind.

>>> from loader.frameworks import load_weights
>>> session = load_weights(Path("model.onnx"), device="cpu")  # doctest: +SKIP

The heavy libraries (onnxruntime, torch, tensorflow, scikit-learn) are imported on first use,
so importing this package costs nothing; a missing one is a BundleError naming the pip extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loader.errors import BundleError
from loader.frameworks import onnx, sklearn, tensorflow, torch
from loader.frameworks.contract import FrameworkSupport, OutputBinding, import_framework
from loader.frameworks.kinds import find_weights, framework_of, is_weights, weights_candidates

#: Framework name -> how to load and call its weights.
FRAMEWORKS: dict[str, FrameworkSupport] = {
    support.name: support
    for support in (
        onnx.SUPPORT,
        torch.SUPPORT,
        tensorflow.SUPPORT,
        tensorflow.KERAS,
        sklearn.SUPPORT,
    )
}
#: Other names people use for the same frameworks.
ALIASES = {"torch": "pytorch", "tf": "tensorflow", "scikit-learn": "sklearn"}


def framework_support(name: str) -> FrameworkSupport:
    """The table entry of framework ``name`` (aliases such as "torch" accepted)."""
    support = FRAMEWORKS.get(ALIASES.get(name, name))
    if support is None:
        raise BundleError(
            f"no weights loader for framework {name!r} (known: {', '.join(sorted(FRAMEWORKS))})",
            reason="UNKNOWN_WEIGHTS_FORMAT",
        )
    return support


def load_weights(
    path: Path,
    device: str = "cpu",
    *,
    framework: str | None = None,
    architecture: type | None = None,
    config: Mapping[str, Any] | None = None,
) -> Any:
    """Load a weights file or SavedModel folder onto ``device`` with its framework's loader.

    The framework comes from the file's kind (see ``framework_of``) unless ``framework`` names
    it. A PyTorch state dict needs ``architecture``, built as ``architecture(**config)``. Returns
    the framework's own model object: an onnxruntime InferenceSession, an ``nn.Module`` (eval
    mode, on ``device``), a keras.Model or SavedModel object, or a scikit-learn estimator.

    >>> model = load_weights(Path("net.pt"), "cuda:0", architecture=Net)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise BundleError(f"weights {str(path)!r} not found", reason="INVALID_WEIGHTS")
    support = framework_support(framework or framework_of(path))
    return support.load(path, device, architecture=architecture, config=config)


def load_bundle_weights(
    bundle_dir: Path, name: str | None = None, device: str = "cpu", **options: Any
) -> Any:
    """``load_weights`` of ``name`` inside a bundle, or of its only weights when ``name`` is None.

    The runtime hands this to every model as ``self.context.load_weights``.
    """
    return load_weights(find_weights(bundle_dir, name), device, **options)


__all__ = [
    "FRAMEWORKS",
    "FrameworkSupport",
    "OutputBinding",
    "find_weights",
    "framework_of",
    "framework_support",
    "import_framework",
    "is_weights",
    "load_bundle_weights",
    "load_weights",
    "weights_candidates",
]
