"""Tests for runtime.store.bundle_zip: the same zip for the same bundle, and a file's digest."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from loader.unpack import safe_unpack
from runtime.store.bundle_zip import file_digest, zip_bundle
from tests.bundle_factory import write_bundle

pytestmark = pytest.mark.timeout(60)


def test_zip_bundle_is_the_same_every_time_and_unpacks_to_the_bundle(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, "iris", "X = 1\n", files={"sub/w.bin": os.urandom(1000)})
    os.symlink("sub/w.bin", bundle / "weights")

    first = zip_bundle(bundle, tmp_path / "a.zip").read_bytes()
    os.utime(bundle / "model.py", (0, 0))
    second = zip_bundle(bundle, tmp_path / "b.zip").read_bytes()
    unpacked = safe_unpack(tmp_path / "b.zip", tmp_path / "unpacked")

    assert first == second
    for name in ("model.py", "modelrt.yaml", "sub/w.bin"):
        assert (unpacked / name).read_bytes() == (bundle / name).read_bytes()
    assert os.readlink(unpacked / "weights") == "sub/w.bin"


def test_file_digest_is_the_sha256_and_size_of_the_whole_file(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one read
    path = tmp_path / "blob.bin"
    path.write_bytes(data)

    assert file_digest(path) == (hashlib.sha256(data).hexdigest(), len(data))
