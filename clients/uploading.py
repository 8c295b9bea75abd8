"""What both clients do before an Upload: zip a folder, measure and hash it, cut it into messages.

The bundle is read from disk one chunk at a time, so memory stays small whatever its size.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from modelrt.v1 import model_pb2, runtime_pb2

#: Bytes per Upload message; well under gRPC's message limits, big enough to keep overhead low.
CHUNK_BYTES = 1024 * 1024
_SKIPPED_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints"}
_FORMATS = {"": 0, "native": 1, "gesund": 2, "clarifai": 3}

#: Called as bytes go out: ``progress(sent, total)``.
Progress = Callable[[int, int], None]


class BundleFileError(ValueError):
    """The path given to upload is not a bundle folder or zip."""


@contextmanager
def bundle_archive(path: Path) -> Iterator[Path]:
    """``path`` itself when it is a zip; a folder is zipped into a temporary file first.

    >>> with bundle_archive(Path("examples/sentiment")) as archive:  # doctest: +SKIP
    ...     archive.suffix
    '.zip'
    """
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise BundleFileError(f"{path} is not a zip file (give a bundle folder or a .zip)")
        yield path
        return
    if not path.is_dir():
        raise BundleFileError(f"{path} does not exist")
    handle, name = tempfile.mkstemp(prefix=f"{path.name}-", suffix=".zip")
    os.close(handle)
    archive = Path(name)
    try:
        _zip_folder(path, archive)
        yield archive
    finally:
        archive.unlink(missing_ok=True)


def _zip_folder(folder: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
            for file in sorted(files):
                if file.endswith(".pyc"):
                    continue
                full = Path(root) / file
                out.write(full, full.relative_to(folder).as_posix())


def measure(archive: Path) -> tuple[int, str]:
    """The size and hex sha256 of ``archive``, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with archive.open("rb") as data:
        while chunk := data.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _enum_value(enum: object, prefix: str, word: str, what: str) -> int:
    if not word:
        return 0
    name = f"{prefix}{word.upper().replace('-', '_')}"
    names = enum.keys()  # type: ignore[attr-defined]
    if name not in names:
        offered = ", ".join(
            n.removeprefix(prefix).lower() for n in names if not n.endswith("_UNSPECIFIED")
        )
        raise ValueError(f"unknown {what} {word!r}; use one of: {offered}")
    return int(enum.Value(name))  # type: ignore[attr-defined]


def upload_header(
    size: int,
    sha256: str,
    *,
    namespace: str = "",
    version: str = "",
    bundle_format: str = "",
    model_type: str = "",
    framework: str = "",
    description: str = "",
    labels: Sequence[str] = (),
    skip_load: bool = False,
) -> runtime_pb2.UploadHeader:
    """The first message of an Upload; ``model_type`` etc. are words as in a bundle config.

    >>> upload_header(3, "ab", model_type="classification").card.model_type
    1
    """
    if bundle_format not in _FORMATS:
        raise ValueError(f"unknown bundle format {bundle_format!r}; use native, gesund or clarifai")
    card = model_pb2.ModelCard(
        model_type=_enum_value(model_pb2.ModelType, "MODEL_TYPE_", model_type, "model type"),  # type: ignore[arg-type]
        framework=_enum_value(model_pb2.Framework, "FRAMEWORK_", framework, "framework"),  # type: ignore[arg-type]
        description=description,
        labels=list(labels),
    )
    return runtime_pb2.UploadHeader(
        namespace=namespace,
        version=version,
        format=_FORMATS[bundle_format],  # type: ignore[arg-type]
        total_size=size,
        sha256=sha256,
        card=card,
        skip_load=skip_load,
    )


def upload_messages(
    archive: Path,
    header: runtime_pb2.UploadHeader,
    chunk_bytes: int = CHUNK_BYTES,
    progress: Progress | None = None,
) -> Iterator[runtime_pb2.UploadRequest]:
    """The header, then the archive in chunks, read lazily as gRPC asks for the next message."""
    yield runtime_pb2.UploadRequest(header=header)
    sent = 0
    with archive.open("rb") as data:
        while chunk := data.read(chunk_bytes):
            yield runtime_pb2.UploadRequest(chunk=chunk)
            sent += len(chunk)
            if progress is not None:
                progress(sent, header.total_size)
