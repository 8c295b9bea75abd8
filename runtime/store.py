"""The model store on disk: which bundles (folders or zips) it holds, and removing one."""

from __future__ import annotations

import shutil
from pathlib import Path


def scan_store(store: Path) -> list[Path]:
    """Bundle sources in ``store``: each visible subfolder and each ``.zip``, sorted by name."""
    if not store.is_dir():
        return []
    return sorted(
        entry
        for entry in store.iterdir()
        if not entry.name.startswith(".")
        and (entry.is_dir() or (entry.is_file() and entry.suffix == ".zip"))
    )


def remove_source(store: Path, source: Path) -> None:
    """Delete a bundle's files; refuses anything outside ``store``."""
    resolved = source.resolve()
    if not resolved.is_relative_to(store.resolve()) or resolved == store.resolve():
        raise ValueError(f"{source} is not inside the model store {store}")
    if source.is_dir() and not source.is_symlink():
        shutil.rmtree(source)
    elif source.exists() or source.is_symlink():
        source.unlink()
