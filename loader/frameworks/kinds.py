"""Which framework a weights file or folder belongs to, and finding the weights in a bundle.

One table maps file suffixes to frameworks; a folder holding ``saved_model.pb`` is a TensorFlow
SavedModel. Nothing here imports a framework library.
"""

from __future__ import annotations

from pathlib import Path

from loader.errors import BundleError

#: Weights file suffix -> framework name.
SUFFIXES: dict[str, str] = {
    ".onnx": "onnx",
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".h5": "keras",
    ".hdf5": "keras",
    ".keras": "keras",
    ".joblib": "sklearn",
    ".pkl": "sklearn",
    ".sklearn": "sklearn",
}
#: A folder holding one of these files is a TensorFlow SavedModel.
SAVED_MODEL_MARKERS = ("saved_model.pb", "saved_model.pbtxt")
_SKIPPED_DIRS = frozenset({"__pycache__", "__MACOSX", "node_modules"})


def _known() -> str:
    return ", ".join(sorted(SUFFIXES)) + " or a SavedModel folder"


def is_saved_model(path: Path) -> bool:
    """Whether ``path`` is a TensorFlow SavedModel folder."""
    return path.is_dir() and any((path / marker).is_file() for marker in SAVED_MODEL_MARKERS)


def is_weights(path: Path) -> bool:
    """Whether ``path`` is a weights file or folder that some framework loader reads."""
    if path.is_dir():
        return is_saved_model(path)
    return path.is_file() and path.suffix.lower() in SUFFIXES


def framework_of(path: Path) -> str:
    """The framework that reads ``path``: "onnx", "pytorch", "tensorflow", "keras" or "sklearn".

    >>> framework_of(Path("model.onnx"))
    'onnx'
    >>> framework_of(Path("net.pth"))
    'pytorch'
    """
    path = Path(path)
    if is_saved_model(path):
        return "tensorflow"
    framework = SUFFIXES.get(path.suffix.lower())
    if framework is None or path.is_dir():
        raise BundleError(
            f"{path.name}: not a weights file this runtime can load (expected {_known()})",
            reason="UNKNOWN_WEIGHTS_FORMAT",
        )
    return framework


def weights_candidates(root: Path) -> list[Path]:
    """Every weights file or SavedModel folder under ``root`` (hidden entries skipped), sorted.

    Files inside a SavedModel folder belong to it and are not listed on their own.
    """
    found: list[Path] = []
    pending = [root]
    while pending:
        folder = pending.pop()
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith(".") or entry.name in _SKIPPED_DIRS or entry.is_symlink():
                continue
            if is_weights(entry):
                found.append(entry)
            elif entry.is_dir():
                pending.append(entry)
    return sorted(found)


def find_weights(root: Path, name: str | None = None) -> Path:
    """The weights in bundle folder ``root``: ``name`` (relative to it), else the only candidate.

    BundleError when ``name`` is missing or leaves the bundle, or when ``name`` is None and the
    bundle holds no weights or several (they are listed, so the config can name one).
    """
    root = Path(root)
    if name is not None:
        path = (root / name).resolve()
        if not path.is_relative_to(root.resolve()):
            raise BundleError(f"weights {name!r} lie outside the bundle", reason="INVALID_WEIGHTS")
        if not path.exists():
            raise BundleError(f"weights {name!r} not found in the bundle", reason="INVALID_WEIGHTS")
        framework_of(path)
        return path
    candidates = weights_candidates(root)
    if not candidates:
        raise BundleError(
            f"no weights found in the bundle (expected a file ending in {_known()})",
            reason="INVALID_WEIGHTS",
        )
    if len(candidates) > 1:
        listed = ", ".join(str(p.relative_to(root)) for p in candidates[:10])
        raise BundleError(
            f"several weights found in the bundle ({listed}): name one, with `weights:` in the"
            " config or load_weights('<file>')",
            reason="INVALID_WEIGHTS",
        )
    return candidates[0]
