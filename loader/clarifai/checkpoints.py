"""Checkpoints are served from the bundle's ``1/checkpoints``; modelrt never downloads them."""

from __future__ import annotations

from pathlib import Path

from loader.clarifai.config import Checkpoints
from loader.errors import BundleError

#: Where the platform puts downloaded checkpoints, relative to the folder.
CHECKPOINTS_DIR = Path("1") / "checkpoints"


def shipped_checkpoints(root: Path, checkpoints: Checkpoints | None) -> Path | None:
    """``root/1/checkpoints`` when the config has a checkpoints section; None when it has none.

    A section whose folder is missing or empty is a BundleError: the files must be shipped.

    >>> shipped_checkpoints(Path("bundle"), None) is None
    True
    """
    if checkpoints is None:
        return None
    folder = root / CHECKPOINTS_DIR
    if folder.is_dir() and any(path.is_file() for path in folder.rglob("*")):
        return folder
    raise BundleError(
        f"config.yaml has a checkpoints section ({checkpoints.describe()}, when:"
        f" {checkpoints.when}) but the bundle has no files in {CHECKPOINTS_DIR.as_posix()}/:"
        " modelrt never downloads checkpoints at run time; ship them in the bundle under"
        f" {CHECKPOINTS_DIR.as_posix()}/"
    )
