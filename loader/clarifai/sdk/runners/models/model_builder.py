"""Stand-in for ``clarifai.runners.models.model_builder``: finds the shipped checkpoints.

Model code calls ``ModelBuilder(folder).download_checkpoints(stage="runtime")`` to get its
checkpoint folder; here that is the bundle's own ``1/checkpoints`` and nothing is downloaded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from loader.clarifai.checkpoints import CHECKPOINTS_DIR, shipped_checkpoints
from loader.clarifai.config import read_clarifai_config

logger = logging.getLogger(__name__)


class ModelBuilder:
    """The model folder (holding config.yaml) and where its checkpoints are.

    >>> ModelBuilder(folder, download_validation_only=True).download_checkpoints("runtime")
    ... # doctest: +SKIP
    '/store/my-model/1/1/checkpoints'
    """

    def __init__(self, folder: str | Path, *args: Any, **kwargs: Any) -> None:
        self.folder = str(folder)

    @property
    def config(self) -> dict[str, Any]:
        return read_clarifai_config(Path(self.folder)).model_dump()

    @property
    def checkpoint_path(self) -> str:
        return str(Path(self.folder) / CHECKPOINTS_DIR)

    def download_checkpoints(
        self, stage: str = "upload", checkpoint_path_override: str | None = None
    ) -> str:
        """The shipped checkpoint folder; a BundleError says so when it is missing."""
        config = read_clarifai_config(Path(self.folder))
        folder = shipped_checkpoints(Path(self.folder), config.checkpoints)
        if checkpoint_path_override:
            logger.warning(
                "checkpoints are served from %s, not %s", folder, checkpoint_path_override
            )
        return str(folder) if folder is not None else self.checkpoint_path
