"""Tests for loader.unpack: real malicious zips and folders built in tmp_path."""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from loader.errors import BundleError, UnsafeBundleError
from loader.unpack import UnpackLimits, check_folder, safe_unpack

LINK_ATTR = 0o120777 << 16


def make_zip(
    path: Path,
    entries: Iterable[tuple[str, bytes]],
    *,
    links: Iterable[tuple[str, str]] = (),
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write a zip with ``entries`` (name, content) and symlink ``links`` (name, target)."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, content in entries:
            zf.writestr(zipfile.ZipInfo(name), content, compress_type=compression)
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = LINK_ATTR
            zf.writestr(info, target)
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty folder for the destination, so leftovers are easy to see."""
    folder = tmp_path / "store"
    folder.mkdir()
    return folder


def assert_refused(
    archive: Path,
    workdir: Path,
    entry: str,
    limits: UnpackLimits | None = None,
) -> UnsafeBundleError:
    dest = workdir / "bundle"
    with pytest.raises(UnsafeBundleError) as caught:
        safe_unpack(archive, dest, limits or UnpackLimits())
    assert entry in str(caught.value)
    assert caught.value.metadata == {"entry": entry}
    assert caught.value.reason == "UNSAFE_BUNDLE_ENTRY"
    assert not dest.exists()
    assert list(workdir.iterdir()) == []
    return caught.value


def test_unpack_extracts_nested_folders_byte_exact(tmp_path: Path, workdir: Path) -> None:
    files = {
        "model.py": b"print('hi')\n",
        "modelrt.yaml": b"name: echo\n",
        "weights/deep/w.bin": os.urandom(200_000),
        "empty.txt": b"",
    }
    archive = make_zip(tmp_path / "b.zip", [("weights/", b""), *files.items()])

    dest = safe_unpack(archive, workdir / "bundle")

    assert dest == workdir / "bundle"
    for name, content in files.items():
        assert (dest / name).read_bytes() == content
    assert sorted(p.name for p in workdir.iterdir()) == ["bundle"]


def test_unpack_accepts_stored_entries_and_dot_components(tmp_path: Path, workdir: Path) -> None:
    archive = make_zip(
        tmp_path / "b.zip", [("./a/./b.txt", b"x" * 10)], compression=zipfile.ZIP_STORED
    )

    dest = safe_unpack(archive, workdir / "bundle")

    assert (dest / "a" / "b.txt").read_bytes() == b"x" * 10


def test_unpack_refuses_existing_destination(tmp_path: Path, workdir: Path) -> None:
    archive = make_zip(tmp_path / "b.zip", [("model.py", b"")])
    (workdir / "bundle").mkdir()

    with pytest.raises(FileExistsError):
        safe_unpack(archive, workdir / "bundle")

    assert list((workdir / "bundle").iterdir()) == []


def test_unpack_refuses_non_zip_with_bundle_error(tmp_path: Path, workdir: Path) -> None:
    archive = tmp_path / "b.zip"
    archive.write_bytes(b"this is not a zip archive at all")

    with pytest.raises(BundleError, match=r"b\.zip is not a readable zip"):
        safe_unpack(archive, workdir / "bundle")

    assert list(workdir.iterdir()) == []


def test_unpack_refuses_encrypted_entry_with_bundle_error(tmp_path: Path, workdir: Path) -> None:
    archive = make_zip(tmp_path / "b.zip", [("secret.bin", b"data")])
    raw = bytearray(archive.read_bytes())
    # Set the "encrypted" flag bit in the local header and the central directory entry.
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.index(signature) + flag_offset
        (flags,) = struct.unpack_from("<H", raw, at)
        struct.pack_into("<H", raw, at, flags | 0x1)
    archive.write_bytes(bytes(raw))

    with pytest.raises(BundleError, match=r"'secret\.bin' is encrypted"):
        safe_unpack(archive, workdir / "bundle")

    assert list(workdir.iterdir()) == []


def test_unpack_refuses_corrupt_entry_and_leaves_nothing_behind(
    tmp_path: Path, workdir: Path
) -> None:
    content = os.urandom(5000)
    archive = make_zip(tmp_path / "b.zip", [("ok.txt", b"fine"), ("w.bin", content)])
    raw = bytearray(archive.read_bytes())
    at = raw.index(b"PK\x03\x04", 1) + 30 + len("w.bin") + 100
    raw[at : at + 50] = bytes(50)
    archive.write_bytes(bytes(raw))

    with pytest.raises(BundleError, match=r"w\.bin"):
        safe_unpack(archive, workdir / "bundle")

    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(
    "name",
    ["/etc/evil.py", "\\evil.py", "C:/evil.py", "c:evil.py", "C:\\Windows\\evil.dll"],
)
def test_unpack_refuses_absolute_paths_and_leaves_nothing_behind(
    tmp_path: Path, workdir: Path, name: str
) -> None:
    archive = make_zip(tmp_path / "b.zip", [("model.py", b"ok"), (name, b"evil")])

    error = assert_refused(archive, workdir, name)

    assert "absolute" in str(error)


@pytest.mark.parametrize(
    "name", ["../evil.py", "a/../../evil", "..\\evil", "a\\..\\..\\evil", ".."]
)
def test_unpack_refuses_parent_traversal_and_leaves_nothing_behind(
    tmp_path: Path, workdir: Path, name: str
) -> None:
    archive = make_zip(tmp_path / "b.zip", [("model.py", b"ok"), (name, b"evil")])

    assert_refused(archive, workdir, name)

    assert not (tmp_path / "evil.py").exists()
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("target", ["/etc/passwd", "../../x", "../bundle2", "a/../../x"])
def test_unpack_refuses_symlink_leaving_bundle_and_leaves_nothing_behind(
    tmp_path: Path, workdir: Path, target: str
) -> None:
    archive = make_zip(tmp_path / "b.zip", [("model.py", b"ok")], links=[("link", target)])

    error = assert_refused(archive, workdir, "link")

    assert "leaves the bundle" in str(error)


def test_unpack_refuses_chain_of_links_that_escapes_together(tmp_path: Path, workdir: Path) -> None:
    # Each link looks inside on its own; through c/b -> '..' (the root) 'a' climbs out.
    archive = make_zip(
        tmp_path / "b.zip",
        [("c/keep.txt", b"")],
        links=[("a", "c/b/../../x"), ("c/b", "..")],
    )

    assert_refused(archive, workdir, "a")


def test_unpack_never_creates_a_link_through_a_link_that_leads_out(
    tmp_path: Path, workdir: Path
) -> None:
    # 'a' -> 'c/b/..' looks like 'c' but is the bundle's parent once 'c/b' -> '..' exists.
    archive = make_zip(
        tmp_path / "b.zip",
        [("c/keep.txt", b"")],
        links=[("c/b", ".."), ("a", "c/b/.."), ("a/evil", "x")],
    )

    assert_refused(archive, workdir, "a/evil")


def test_unpack_refuses_symlink_loops(tmp_path: Path, workdir: Path) -> None:
    archive = make_zip(tmp_path / "b.zip", [], links=[("a", "b"), ("b", "a")])

    error = assert_refused(archive, workdir, "a")

    assert "cannot be resolved" in str(error)


def test_unpack_creates_symlinks_that_stay_inside(tmp_path: Path, workdir: Path) -> None:
    archive = make_zip(
        tmp_path / "b.zip",
        [("blobs/abc", b"weights")],
        links=[("snapshot/w.bin", "../blobs/abc"), ("alias", "blobs")],
    )

    dest = safe_unpack(archive, workdir / "bundle")

    assert (dest / "snapshot" / "w.bin").is_symlink()
    assert (dest / "snapshot" / "w.bin").read_bytes() == b"weights"
    assert (dest / "alias" / "abc").read_bytes() == b"weights"


def test_unpack_refuses_too_many_entries_naming_the_first_over(
    tmp_path: Path, workdir: Path
) -> None:
    archive = make_zip(tmp_path / "b.zip", [(f"f{i}.txt", b"x") for i in range(6)])

    assert_refused(archive, workdir, "f5.txt", UnpackLimits(max_files=5))


def test_unpack_refuses_total_size_over_limit(tmp_path: Path, workdir: Path) -> None:
    archive = make_zip(
        tmp_path / "b.zip",
        [("small.txt", b"x"), ("big.bin", os.urandom(2 * 1024 * 1024))],
        compression=zipfile.ZIP_STORED,
    )

    error = assert_refused(archive, workdir, "big.bin", UnpackLimits(max_total_bytes=1024 * 1024))

    assert "bytes in total" in str(error)


def test_unpack_refuses_zip_bomb_by_ratio(tmp_path: Path, workdir: Path) -> None:
    archive = make_zip(tmp_path / "b.zip", [("model.py", b"ok"), ("zeros.bin", bytes(20 << 20))])

    error = assert_refused(archive, workdir, "zeros.bin")

    assert "compression ratio" in str(error)


def test_unpack_exempts_small_compressible_files_from_ratio(tmp_path: Path, workdir: Path) -> None:
    archive = make_zip(tmp_path / "b.zip", [("labels.txt", b"a" * 60_000)])

    dest = safe_unpack(archive, workdir / "bundle", UnpackLimits(max_ratio=2))

    assert (dest / "labels.txt").read_bytes() == b"a" * 60_000


def _lie_about_sizes(archive: Path, name: str, size: int) -> None:
    """Rewrite the uncompressed size of ``name`` in the central directory (offset 24)."""
    raw = bytearray(archive.read_bytes())
    at = raw.index(b"PK\x01\x02")
    while raw[at + 46 : at + 46 + len(name)] != name.encode():
        at = raw.index(b"PK\x01\x02", at + 1)
    struct.pack_into("<I", raw, at + 24, size)
    archive.write_bytes(bytes(raw))


def test_unpack_enforces_limits_on_streamed_bytes_when_header_lies(
    tmp_path: Path, workdir: Path
) -> None:
    archive = make_zip(
        tmp_path / "b.zip",
        [("a.bin", os.urandom(600_000)), ("b.bin", os.urandom(600_000))],
        compression=zipfile.ZIP_STORED,
    )
    _lie_about_sizes(archive, "a.bin", 10)
    _lie_about_sizes(archive, "b.bin", 10)

    # The header claims 20 bytes in all; the real bytes must still not get through unchecked.
    with pytest.raises(BundleError, match=r"a\.bin"):
        safe_unpack(archive, workdir / "bundle", UnpackLimits(max_total_bytes=1024 * 1024))

    assert list(workdir.iterdir()) == []


def test_unpack_refuses_duplicate_entries(tmp_path: Path, workdir: Path) -> None:
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("model.py", b"one")
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("model.py", b"two")

    with pytest.raises(BundleError, match=r"'model\.py' clashes"):
        safe_unpack(archive, workdir / "bundle")

    assert list(workdir.iterdir()) == []


def test_check_folder_accepts_a_plain_bundle_with_inside_links(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    (root / "weights").mkdir(parents=True)
    (root / "model.py").write_text("x = 1\n")
    (root / "weights" / "w.bin").write_bytes(b"w" * 100)
    (root / "w-link.bin").symlink_to("weights/w.bin")
    (root / "weights-link").symlink_to("weights", target_is_directory=True)

    check_folder(root, UnpackLimits(max_files=3, max_total_bytes=200))


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside.txt"])
def test_check_folder_refuses_file_symlink_leaving_bundle(tmp_path: Path, target: str) -> None:
    root = tmp_path / "bundle"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text("secret")
    (root / "sub" / "link").symlink_to(target if target.startswith("/") else "../" + target)

    with pytest.raises(UnsafeBundleError, match=r"'sub/link'.*leaves the bundle") as caught:
        check_folder(root)

    assert caught.value.metadata == {"entry": "sub/link"}


def test_check_folder_refuses_directory_symlink_leaving_bundle(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "up").symlink_to(tmp_path, target_is_directory=True)

    with pytest.raises(UnsafeBundleError, match=r"'up'"):
        check_folder(root)


def test_check_folder_refuses_too_many_files(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    root.mkdir()
    for i in range(4):
        (root / f"f{i}.txt").write_text("x")

    with pytest.raises(UnsafeBundleError, match=r"'f3\.txt'.*more than 3 files"):
        check_folder(root, UnpackLimits(max_files=3))


def test_check_folder_refuses_too_many_bytes(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    (root / "w").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"x" * 600)
    (root / "w" / "b.bin").write_bytes(b"x" * 600)

    with pytest.raises(UnsafeBundleError, match=r"'w/b\.bin'.*more than 1000 bytes"):
        check_folder(root, UnpackLimits(max_total_bytes=1000))


def test_check_folder_refuses_special_files(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    root.mkdir()
    os.mkfifo(root / "pipe")

    with pytest.raises(UnsafeBundleError, match=r"'pipe'"):
        check_folder(root)


def test_check_folder_refuses_a_file_instead_of_a_folder(tmp_path: Path) -> None:
    (tmp_path / "bundle.zip").write_bytes(b"")

    with pytest.raises(BundleError, match="not a directory"):
        check_folder(tmp_path / "bundle.zip")
