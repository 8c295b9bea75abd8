"""Checkpoints are served from the bundle's ``1/checkpoints``; modelrt never downloads them.

On the platform, ``when: upload`` and ``when: build`` checkpoints are fetched before any model
code runs, so a folder declaring them must ship them: such a folder is refused at load without
them. ``when: runtime`` (the default) checkpoints are fetched only when model code asks for them,
so the folder loads, and only model code that asks for missing checkpoint files fails, through
the SDK's download helper or by opening a path under the checkpoints folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

from loader.clarifai.config import Checkpoints, read_clarifai_config
from loader.errors import BundleError
from registry.errors import ErrorCode

logger = logging.getLogger(__name__)

#: Where the platform puts downloaded checkpoints, relative to the folder.
CHECKPOINTS_DIR = Path("1") / "checkpoints"
_SHIPPED_BEFORE_CODE_RUNS = ("upload", "build")


class MissingCheckpointsError(BundleError):
    """Model code needs checkpoints that the bundle does not ship."""

    code = ErrorCode.FAILED_PRECONDITION
    reason = "CHECKPOINTS_MISSING"


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(path.is_file() for path in folder.rglob("*"))


def missing_checkpoints(checkpoints: Checkpoints, why: str) -> MissingCheckpointsError:
    """The error for checkpoints that are needed (``why``) and not shipped."""
    where = CHECKPOINTS_DIR.as_posix()
    return MissingCheckpointsError(
        f"{why}: config.yaml's checkpoints ({checkpoints.describe()}, when: {checkpoints.when})"
        f" are not in the bundle (no files in {where}/) and modelrt never downloads"
        f" checkpoints; download them into {where}/ and ship them with the bundle"
    )


def shipped_checkpoints(root: Path, checkpoints: Checkpoints | None) -> Path | None:
    """``root/1/checkpoints`` when the config has a checkpoints section; None when it has none.

    A section whose folder is missing or empty raises MissingCheckpointsError.

    >>> shipped_checkpoints(Path("bundle"), None) is None
    True
    """
    if checkpoints is None:
        return None
    folder = root / CHECKPOINTS_DIR
    if _has_files(folder):
        return folder
    raise missing_checkpoints(checkpoints, "model code asked for its checkpoints")


def check_checkpoints(root: Path, checkpoints: Checkpoints | None) -> None:
    """At load: refuse a folder without the checkpoints the platform would have fetched before
    its code ran; runtime checkpoints are only looked for when code asks."""
    if checkpoints is None:
        return
    if _has_files(root / CHECKPOINTS_DIR):
        logger.info("checkpoints served from %s", root / CHECKPOINTS_DIR)
    elif checkpoints.when in _SHIPPED_BEFORE_CODE_RUNS:
        why = f"checkpoints with when: {checkpoints.when} must be in place before model code runs"
        raise missing_checkpoints(checkpoints, why)
    else:
        logger.info(
            "checkpoints (%s) are not in the bundle; model code that asks for them will fail",
            checkpoints.describe(),
        )


def _mentions_checkpoints(exc: BaseException) -> bool:
    where = CHECKPOINTS_DIR.as_posix()
    seen: BaseException | None = exc
    for _ in range(5):  # the error and the ones it was raised from
        if seen is None:
            return False
        filename = getattr(seen, "filename", None)
        if where in str(seen) or (isinstance(filename, str) and where in filename):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def explain_failure(root: Path, exc: BaseException) -> MissingCheckpointsError | None:
    """The clear error behind a model failure that came from opening missing checkpoint files
    (a path under 1/checkpoints while the bundle ships none), else None."""
    if not _mentions_checkpoints(exc) or _has_files(root / CHECKPOINTS_DIR):
        return None
    try:
        checkpoints = read_clarifai_config(root).checkpoints
    except BundleError:
        return None
    if checkpoints is None:
        return None
    return missing_checkpoints(checkpoints, f"model code opened {CHECKPOINTS_DIR.as_posix()}/")
