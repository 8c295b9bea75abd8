"""Detects a bundle's layout and finds its root; one entry per layout in a dispatch table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from loader.errors import BundleError
from loader.frameworks.kinds import weights_candidates

NATIVE_CONFIG_NAMES = ("modelrt.yaml", "modelrt.yml", "config.yaml")


@dataclass(frozen=True)
class Layout:
    """How a bundle is laid out: its format name, code root and config file."""

    format: str
    code_root: Path
    config_file: Path | None


def native_layout(root: Path) -> Layout | None:
    """modelrt's own layout: model.py and modelrt.yaml (or config.yaml) at the top; or, for a
    model with no code at all, the config and weights without model.py (weights_only_layout)."""
    if not (root / "model.py").is_file():
        return weights_only_layout(root)
    for name in NATIVE_CONFIG_NAMES:
        if (root / name).is_file():
            return Layout("native", root, root / name)
    return None


def weights_only_layout(root: Path) -> Layout | None:
    """A native bundle with no model code: the config and weights, and no model.py at the top or
    one folder down (a model.py there is another format's code)."""
    if any(root.glob("*/model.py")) or not weights_candidates(root):
        return None
    for name in NATIVE_CONFIG_NAMES:
        if (root / name).is_file():
            return Layout("native", root, root / name)
    return None


def weights_only(root: Path) -> bool:
    """Whether the native bundle at ``root`` is served from its weights (it has no model.py)."""
    return not (root / "model.py").is_file()


def bundle_root(folder: Path) -> Path:
    """The folder holding the bundle: ``folder``, or its only subfolder when a zip wraps one."""
    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].name.isdigit():
        return entries[0]
    return folder


def detect_layout(
    folder: Path, detectors: Sequence[Callable[[Path], Layout | None]] = (native_layout,)
) -> Layout:
    """The layout of the bundle in ``folder`` (the first detector that knows it); BundleError
    says what a bundle needs. loader.formats passes every format's detector."""
    root = bundle_root(folder)
    for detect in detectors:
        layout = detect(root)
        if layout is not None:
            return layout
    present = ", ".join(sorted(p.name for p in root.iterdir())[:10]) or "nothing"
    raise BundleError(
        f"{folder.name}: not a model bundle: expected model.py with modelrt.yaml (or config.yaml)"
        " at the top level, or the config with a weights file and no model.py;"
        f" found {present}"
    )
