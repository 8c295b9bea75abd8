"""A bundle folder as one file: a zip that is the same bytes every time, and a file's digest.

The bucket stores each version's bundle as such a zip, so re-publishing an unchanged bundle
gives the same digest, and a replica checks what it downloads against the digest its manifest
records.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from pathlib import Path

__all__ = ["file_digest", "zip_bundle"]

_CHUNK = 1024 * 1024


def zip_bundle(folder: Path, archive: Path) -> Path:
    """Zip ``folder`` the same way every time: sorted entries, fixed dates, stored (no ratio).

    Stored rather than deflated: the zip is unpacked under the same ratio limit as an upload.

    >>> zip_bundle(Path("store/iris/1/bundle"), Path("/tmp/bundle.zip"))  # doctest: +SKIP
    """
    entries = []
    for root, dirs, files in os.walk(folder):
        for name in [*files, *(d for d in dirs if os.path.islink(os.path.join(root, d)))]:
            entries.append(Path(root, name))
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(entries, key=lambda p: p.relative_to(folder).as_posix()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
            mode = path.lstat().st_mode
            info.external_attr = (stat.S_IFMT(mode) | stat.S_IMODE(mode)) << 16
            if path.is_symlink():
                zf.writestr(info, os.readlink(path))
                continue
            info.file_size = path.stat().st_size
            with path.open("rb") as src, zf.open(info, "w") as out:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
    return archive


def file_digest(path: Path) -> tuple[str, int]:
    """The SHA-256 (hex) and size of ``path``, read in chunks."""
    sha = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest(), path.stat().st_size
