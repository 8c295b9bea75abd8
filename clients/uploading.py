"""What both clients do before an Upload: zip a folder, measure and hash it, cut it into messages.

The bundle is read from disk one chunk at a time, so memory stays small whatever its size.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from modelrt.v1 import model_pb2, runtime_pb2

#: Bytes per Upload message; well under gRPC's message limits, big enough to keep overhead low.
CHUNK_BYTES = 1024 * 1024
_SKIPPED_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints"}
_FORMATS = {"": 0, "native": 1, "gesund": 2, "clarifai": 3}

#: Called as bytes go out: ``progress(sent, total)``.
Progress = Callable[[int, int], None]
#: Called as an upload moves on: ``phase("pack")`` (zip and hash), ``phase("send")`` (the header,
#: then the bytes) and ``phase("check")`` (all sent; the server checks and stores the bundle).
Phase = Callable[[str], None]
#: The server's rule for a namespace or version (a folder name in its store).
_STORE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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


def _is_inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _link_entry(link: Path, name: str, root: Path) -> zipfile.ZipInfo:
    """A zip entry that recreates ``link`` as a link; BundleFileError when it leaves the folder.

    The server's unpacker accepts a link only when it resolves, through every link on the way,
    inside the bundle; a link that would be refused there is refused here, before any upload.
    """
    target = os.readlink(link)
    try:
        resolved = link.resolve(strict=True)
    except (OSError, RuntimeError):  # missing target, or a loop
        raise BundleFileError(
            f"{name} is a symlink to {target!r} that cannot be resolved; remove it or "
            "replace it with the file"
        ) from None
    # As the unpacker reads it: relative to the link's folder, never climbing out, even on the way.
    lexical = os.path.normpath(PurePosixPath(name).parent / target.replace("\\", "/"))
    climbs = lexical == ".." or lexical.startswith("../")
    if os.path.isabs(target) or climbs or not _is_inside(resolved, root):
        raise BundleFileError(
            f"{name} is a symlink to {target!r}, which leaves the bundle folder; the server "
            "refuses such links: copy the file into the folder instead"
        )
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix: the mode below is read as a file type
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _zip_folder(folder: Path, archive: Path) -> None:
    """Zip ``folder``; links inside it stay links, links that leave it are refused."""
    root = folder.resolve()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for here, dirs, files in os.walk(folder):
            dirs.sort()
            names = [*(d for d in dirs if d not in _SKIPPED_DIRS), *sorted(files)]
            # Links to folders are stored as links and not walked into (like the unpacker's).
            dirs[:] = [
                d for d in dirs if d not in _SKIPPED_DIRS and not (Path(here) / d).is_symlink()
            ]
            for entry in names:
                full = Path(here) / entry
                name = full.relative_to(folder).as_posix()
                if full.is_symlink():
                    out.writestr(_link_entry(full, name, root), os.readlink(full))
                elif entry in files and not entry.endswith(".pyc"):
                    if not full.is_file():  # a FIFO would block the read; a socket has no bytes
                        raise BundleFileError(
                            f"{name} is not a regular file, folder or symlink; the server "
                            "refuses such entries"
                        )
                    out.write(full, name)


def measure(archive: Path) -> tuple[int, str]:
    """The size and hex sha256 of ``archive``, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with archive.open("rb") as data:
        while chunk := data.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def check_upload_names(namespace: str, version: str) -> None:
    """Refuse, before anything is zipped or sent, a namespace or version the server would refuse.

    >>> check_upload_names("iris-v2", "")
    """
    for kind, value in (("namespace", namespace), ("version", version)):
        if value and (not _STORE_NAME.match(value) or value in (".", "..")):
            raise ValueError(
                f"{kind} {value!r} is not allowed: use letters, digits, '.', '_' or '-' "
                "(at most 128, starting with a letter or digit)"
            )


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
    phase: Phase | None = None,
) -> Iterator[runtime_pb2.UploadRequest]:
    """The header, then the archive in chunks, read lazily as gRPC asks for the next message.

    The server may answer as soon as it has the header (a refused namespace): gRPC then stops
    asking for chunks, and the rest of the archive is never read.
    """
    if phase is not None:
        phase("send")
    yield runtime_pb2.UploadRequest(header=header)
    sent = 0
    with archive.open("rb") as data:
        while chunk := data.read(chunk_bytes):
            yield runtime_pb2.UploadRequest(chunk=chunk)
            sent += len(chunk)
            if progress is not None:
                progress(sent, header.total_size)
    if phase is not None:
        phase("check")
