"""clients.uploading: how a bundle folder is zipped before an Upload (links above all)."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from clients.cli.commands import cli
from clients.uploading import BundleFileError, bundle_archive
from loader.unpack import safe_unpack


def _bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    (folder / "weights").mkdir(parents=True)
    (folder / "model.py").write_text("print('hi')\n")
    (folder / "weights" / "w.bin").write_bytes(b"\x00" * 8)
    return folder


def test_link_to_a_file_outside_the_folder_is_refused_naming_the_link(tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload me")
    (folder / "weights" / "extra.txt").symlink_to(secret)
    with (
        pytest.raises(BundleFileError, match=r"weights/extra\.txt is a symlink .*leaves"),
        bundle_archive(folder),
    ):
        pass


def test_relative_link_climbing_out_and_back_in_is_refused_as_the_unpacker_does(
    tmp_path: Path,
) -> None:
    folder = _bundle(tmp_path)
    (folder / "alias.py").symlink_to(Path("..") / folder.name / "model.py")
    with pytest.raises(BundleFileError, match=r"alias\.py is a symlink"), bundle_archive(folder):
        pass


def test_link_to_a_folder_outside_is_refused_and_not_walked(tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "key.pem").write_text("private")
    (folder / "data").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BundleFileError, match=r"data is a symlink"), bundle_archive(folder):
        pass


def test_dangling_link_is_refused(tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    (folder / "gone.bin").symlink_to(folder / "missing.bin")
    with (
        pytest.raises(BundleFileError, match=r"gone\.bin is a symlink .*cannot be resolved"),
        bundle_archive(folder),
    ):
        pass


def test_links_inside_the_folder_stay_links_that_the_unpacker_accepts(tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    (folder / "latest.bin").symlink_to(Path("weights") / "w.bin")
    (folder / "w2").symlink_to("weights", target_is_directory=True)
    with bundle_archive(folder) as archive, zipfile.ZipFile(archive) as zf:
        modes = {info.filename: info.external_attr >> 16 for info in zf.infolist()}
        assert stat.S_ISLNK(modes["latest.bin"])
        assert stat.S_ISLNK(modes["w2"])
        assert "w2/w.bin" not in modes  # a folder link is not walked into
        assert zf.read("latest.bin") == b"weights/w.bin"
        unpacked = safe_unpack(archive, tmp_path / "unpacked")
    assert os.readlink(unpacked / "latest.bin") == "weights/w.bin"
    assert (unpacked / "w2" / "w.bin").read_bytes() == b"\x00" * 8


def test_cli_upload_names_the_link_and_sends_nothing(tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    secret = tmp_path / "id_rsa"
    secret.write_text("private key")
    (folder / "key").symlink_to(secret)
    # Nothing listens at this address: the refusal comes before any connection is tried.
    result = CliRunner().invoke(cli, ["--address", "127.0.0.1:1", "upload", str(folder)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("error: key is a symlink to ")
    assert "leaves the bundle folder" in result.stderr
    assert "send" not in result.stderr


def test_a_fifo_in_the_folder_is_refused_instead_of_blocking_the_zip(tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    os.mkfifo(folder / "pipe")
    with pytest.raises(BundleFileError, match="pipe is not a regular file"), bundle_archive(folder):
        pass
