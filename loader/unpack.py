"""Defensive unpacking of bundle zips and safety checks of bundle folders.

Nothing here trusts an archive: names, sizes, ratios and links are all checked before use.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from loader.errors import BundleError, UnsafeBundleError

logger = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_MAX_LINK_TARGET = 4096
_DRIVE = re.compile(r"^[A-Za-z]:")
# BZIP2 and LZMA decompress a whole read at once (no output cap), so one small read of a bomb
# could fill memory before any limit is checked; bundles only need these two methods.
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}


@dataclass(frozen=True)
class UnpackLimits:
    """Caps applied while unpacking a zip or checking a folder.

    ``max_ratio`` is the largest uncompressed/compressed ratio, per entry and for the whole
    archive; entries (and archives) of at most ``ratio_exempt_bytes`` uncompressed are exempt,
    so tiny text files never trip it.

    >>> UnpackLimits(max_files=10).max_ratio
    200
    """

    max_files: int = 10_000
    max_total_bytes: int = 4 * 1024**3
    max_ratio: int = 200
    ratio_exempt_bytes: int = 64 * 1024


@dataclass(frozen=True)
class _Entry:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]  # the normalised relative path, never empty for files and links
    kind: Literal["dir", "file", "link"]


def _quote(name: str) -> str:
    """The name as the user wrote it (backslashes intact) unless it holds unprintable bytes."""
    return f"'{name}'" if name.isprintable() else repr(name)


def _unsafe(entry: str, problem: str) -> UnsafeBundleError:
    return UnsafeBundleError(f"bundle entry {_quote(entry)}: {problem}", metadata={"entry": entry})


def _relative_parts(name: str) -> tuple[str, ...]:
    """The path components of an entry name, or UnsafeBundleError if it could leave the bundle."""
    posix = name.replace("\\", "/")
    if "\x00" in posix:
        raise _unsafe(name, "contains a NUL character")
    if posix.startswith("/") or _DRIVE.match(posix):
        raise _unsafe(name, "is an absolute path")
    parts = tuple(part for part in posix.split("/") if part not in ("", "."))
    if ".." in parts:
        raise _unsafe(name, "contains a '..' component")
    return parts


def _classify(info: zipfile.ZipInfo) -> _Entry:
    parts = _relative_parts(info.filename)
    mode = info.external_attr >> 16
    if info.flag_bits & 0x1:
        raise BundleError(
            f"bundle entry {_quote(info.filename)} is encrypted; encrypted zips are refused"
        )
    if info.compress_type not in _METHODS:
        raise BundleError(
            f"bundle entry {_quote(info.filename)} uses unsupported compression method "
            f"{info.compress_type}; use stored or deflate"
        )
    kind: Literal["dir", "file", "link"] = "file"
    if stat.S_ISLNK(mode):
        kind = "link"
    elif info.filename.replace("\\", "/").endswith("/") or stat.S_ISDIR(mode):
        kind = "dir"
    if kind != "dir" and not parts:
        raise _unsafe(info.filename, "has no file name")
    return _Entry(info, parts, kind)


def _over_ratio(size: int, compressed: int, limits: UnpackLimits) -> bool:
    return size > limits.ratio_exempt_bytes and size > limits.max_ratio * max(compressed, 1)


def _check_sizes(
    info: zipfile.ZipInfo, size: int, total: int, archive_size: int, limits: UnpackLimits
) -> None:
    """Raise if ``size`` bytes of this entry, ``total`` bytes so far, cross a limit."""
    if total > limits.max_total_bytes:
        raise _unsafe(info.filename, f"unpacks beyond {limits.max_total_bytes} bytes in total")
    if _over_ratio(size, info.compress_size, limits):
        raise _unsafe(info.filename, f"compression ratio is over {limits.max_ratio}")
    # The archive's real size bounds the compressed bytes even when headers lie about theirs.
    if _over_ratio(total, archive_size, limits):
        raise _unsafe(info.filename, f"the bundle's compression ratio is over {limits.max_ratio}")


def _prescan(zf: zipfile.ZipFile, archive_size: int, limits: UnpackLimits) -> list[_Entry]:
    """Check every header before writing anything; honest headers fail fast here."""
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        name = infos[limits.max_files].filename
        raise _unsafe(name, f"the bundle has more than {limits.max_files} entries")
    entries = []
    declared = 0
    for info in infos:
        entry = _classify(info)
        declared += info.file_size
        _check_sizes(info, info.file_size, declared, archive_size, limits)
        entries.append(entry)
    return entries


class _Budget:
    """Counts the bytes actually decompressed and stops as soon as a limit is crossed."""

    def __init__(self, archive_size: int, limits: UnpackLimits) -> None:
        self.archive_size = archive_size
        self.limits = limits
        self.total = 0

    def take(self, entry: _Entry, written: int, chunk: int) -> None:
        self.total += chunk
        _check_sizes(entry.info, written, self.total, self.archive_size, self.limits)


def _chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    try:
        with zf.open(info) as source:
            while chunk := source.read(_CHUNK):
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise BundleError(f"bundle entry {_quote(info.filename)} is corrupt: {exc}") from None


def _write_file(zf: zipfile.ZipFile, entry: _Entry, target: Path, budget: _Budget) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    # "xb": a second entry with the same name is an error, never a silent overwrite.
    with open(target, "xb") as sink:
        for chunk in _chunks(zf, entry.info):
            written += len(chunk)
            budget.take(entry, written, len(chunk))
            sink.write(chunk)


def _read_link_target(zf: zipfile.ZipFile, entry: _Entry) -> str:
    name = entry.info.filename
    raw = b""
    for chunk in _chunks(zf, entry.info):
        raw += chunk
        if len(raw) > _MAX_LINK_TARGET:
            raise _unsafe(name, "is a symlink with an over-long target")
    try:
        target = raw.decode("utf-8").replace("\\", "/")
    except UnicodeDecodeError:
        raise _unsafe(name, "is a symlink whose target is not UTF-8") from None
    escapes = not target or "\x00" in target or target.startswith("/") or _DRIVE.match(target)
    inside = os.path.normpath(PurePosixPath(*entry.parts[:-1], target).as_posix())
    if escapes or inside == ".." or inside.startswith("../"):
        raise _unsafe(name, f"is a symlink to {_quote(target)}, which leaves the bundle")
    return target


def _is_inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _check_link(path: Path, name: str, root: Path) -> None:
    """Raise unless the link at ``path`` resolves, through every link on the way, inside root."""
    target = _quote(os.readlink(path))
    try:
        resolved = path.resolve()
    except (RuntimeError, OSError):  # RuntimeError: a symlink loop (Python < 3.13)
        raise _unsafe(name, f"is a symlink to {target} that cannot be resolved") from None
    if not _is_inside(resolved, root):
        raise _unsafe(name, f"is a symlink to {target}, which leaves the bundle")


def _make_links(links: list[tuple[_Entry, str]], tmp: Path) -> None:
    """Create links only after every file is written, then resolve each through the real tree.

    No write can follow a link (there are none while files are written), and the final
    resolution catches chains of links that each look inside on their own but together escape.
    """
    root = tmp.resolve()
    for entry, target in links:
        path = tmp.joinpath(*entry.parts)
        name = entry.info.filename
        for depth in range(1, len(entry.parts)):
            parent = tmp.joinpath(*entry.parts[:depth])
            if parent.is_symlink():  # a link made earlier; never write through one leading out
                _check_link(parent, name, root)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(target)
        except (FileExistsError, NotADirectoryError):
            raise BundleError(
                f"bundle entry {_quote(name)} clashes with another entry's path",
                metadata={"entry": name},
            ) from None
    for entry, _ in links:
        _check_link(tmp.joinpath(*entry.parts), entry.info.filename, root)


def _extract(zf: zipfile.ZipFile, entries: list[_Entry], tmp: Path, budget: _Budget) -> None:
    links: list[tuple[_Entry, str]] = []
    for entry in entries:
        target = tmp.joinpath(*entry.parts)
        try:
            if entry.kind == "dir":
                target.mkdir(parents=True, exist_ok=True)
            elif entry.kind == "file":
                _write_file(zf, entry, target, budget)
            else:
                links.append((entry, _read_link_target(zf, entry)))
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise BundleError(
                f"bundle entry {_quote(entry.info.filename)} clashes with another entry's path",
                metadata={"entry": entry.info.filename},
            ) from None
    _make_links(links, tmp)


def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise BundleError(f"{archive.name} is not a readable zip archive: {exc}") from None


def safe_unpack(archive: Path, dest: Path, limits: UnpackLimits = UnpackLimits()) -> Path:
    """Unpack the zip ``archive`` into ``dest`` (which must not exist yet) and return ``dest``.

    Entries are written into a temporary sibling of ``dest`` that is renamed into place only
    when everything succeeded, so on any failure neither ``dest`` nor the temporary folder is
    left behind (missing parents of ``dest`` are created and kept). Unsafe entries (absolute
    paths, ``..``, symlinks leaving the bundle, limits crossed while decompressing) raise
    UnsafeBundleError naming the entry; a corrupt, encrypted or non-zip file raises BundleError.
    Symlinks that stay inside the bundle are created, after all regular files. An existing
    ``dest`` is the caller's mistake and raises FileExistsError.

    >>> safe_unpack(Path("bundle.zip"), Path("store/.staging/abc"))  # doctest: +SKIP
    PosixPath('store/.staging/abc')
    """
    if dest.exists() or dest.is_symlink():
        raise FileExistsError(f"unpack destination {dest} already exists")
    archive_size = archive.stat().st_size
    with _open_zip(archive) as zf:
        entries = _prescan(zf, archive_size, limits)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".unpacking", dir=dest.parent))
        try:
            _extract(zf, entries, tmp, _Budget(archive_size, limits))
            if dest.exists() or dest.is_symlink():
                raise FileExistsError(f"unpack destination {dest} appeared while unpacking")
            tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    logger.info("unpacked %s (%d entries) into %s", archive.name, len(entries), dest)
    return dest


def _check_node(path: Path, rel: str, root: Path) -> int:
    """The bytes ``path`` adds to the bundle; raises if it is a link out or a special file."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        _check_link(path, rel, root)
        return 0  # the target is counted where it lies inside the bundle
    if stat.S_ISREG(info.st_mode):
        return info.st_size
    if stat.S_ISDIR(info.st_mode):
        return 0
    raise _unsafe(rel, "is not a regular file, directory or symlink")


def _raise(exc: OSError) -> None:
    raise exc


def check_folder(root: Path, limits: UnpackLimits = UnpackLimits()) -> None:
    """Check a bundle given as a folder: no links leaving it, no special files, within limits.

    Directory links are checked but not walked into (their target is walked where it lies).
    Problems raise UnsafeBundleError naming the path relative to ``root``.

    >>> check_folder(Path("examples/echo"), UnpackLimits(max_files=100))  # doctest: +SKIP
    """
    if not root.is_dir():
        raise BundleError(f"bundle folder {root} is not a directory")
    base = root.resolve()
    files = 0
    total = 0
    for folder, dirnames, filenames in os.walk(base, onerror=_raise):
        dirnames.sort()
        here = Path(folder)
        for name in [*dirnames, *sorted(filenames)]:
            path = here / name
            rel = path.relative_to(base).as_posix()
            total += _check_node(path, rel, base)
            if name in filenames:
                files += 1
            if files > limits.max_files:
                raise _unsafe(rel, f"the bundle has more than {limits.max_files} files")
            if total > limits.max_total_bytes:
                raise _unsafe(rel, f"the bundle holds more than {limits.max_total_bytes} bytes")
