"""PreparedBundle: a bundle on disk whose layout and config are known, before its code runs.

A leaf of the loader: every format's ``load`` reads it, so it imports no format and no pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loader.config import BundleConfig


@dataclass(frozen=True)
class PreparedBundle:
    """A bundle on disk whose layout and config are known; its code is not imported yet.

    >>> PreparedBundle(Path("b.zip"), Path("/tmp/b"), "native", config).name  # doctest: +SKIP
    'sentiment'
    """

    source: Path
    root: Path
    format: str
    config: BundleConfig
    unpacked: bool = False

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def version(self) -> str:
        return self.config.version
