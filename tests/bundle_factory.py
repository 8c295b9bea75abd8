"""Writes real bundle folders and zips for tests: model.py, modelrt.yaml and any extra files."""

from __future__ import annotations

import textwrap
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def write_bundle(
    root: Path,
    name: str,
    model_py: str,
    *,
    config: Mapping[str, Any] | None = None,
    files: Mapping[str, str | bytes] | None = None,
    folder: str | None = None,
) -> Path:
    """Create ``root/<folder or name>/`` holding model.py (dedented), modelrt.yaml and ``files``."""
    bundle = root / (folder or name)
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "model.py").write_text(textwrap.dedent(model_py), encoding="utf-8")
    cfg: dict[str, Any] = {"name": name, **(config or {})}
    (bundle / "modelrt.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    for relative, content in (files or {}).items():
        path = bundle / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return bundle


def zip_folder(folder: Path, archive: Path) -> Path:
    """Zip ``folder``'s contents (paths relative to it) into ``archive``."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return archive
