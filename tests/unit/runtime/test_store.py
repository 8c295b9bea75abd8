"""Tests for runtime.store: listing a model store's bundles and removing one safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.store import remove_source, scan_store
from tests.bundle_factory import write_bundle, zip_folder

pytestmark = pytest.mark.timeout(10)

MODEL = "X = 1\n"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    folder.mkdir()
    return folder


def test_scan_lists_bundle_folders_and_zips_sorted_by_name(store: Path, tmp_path: Path) -> None:
    write_bundle(store, "beta", MODEL)
    zip_folder(write_bundle(tmp_path / "src", "alpha", MODEL), store / "alpha.zip")
    (store / "gamma").mkdir()  # any visible folder is a source; loading decides if it is a bundle

    assert scan_store(store) == [store / "alpha.zip", store / "beta", store / "gamma"]


def test_scan_skips_dot_entries_and_other_files(store: Path) -> None:
    write_bundle(store, "echo", MODEL)
    (store / ".modelrt").mkdir()
    (store / ".staging.zip").write_bytes(b"")
    (store / "README.md").write_text("notes", encoding="utf-8")
    (store / "bundle.tar.gz").write_bytes(b"")

    assert scan_store(store) == [store / "echo"]


def test_scan_of_a_missing_store_is_empty(tmp_path: Path) -> None:
    assert scan_store(tmp_path / "nowhere") == []


def test_scan_of_an_empty_store_is_empty(store: Path) -> None:
    assert scan_store(store) == []


def test_remove_source_deletes_a_bundle_folder(store: Path) -> None:
    bundle = write_bundle(store, "echo", MODEL, files={"weights/w.bin": b"\x00"})
    keep = write_bundle(store, "keep", MODEL)

    remove_source(store, bundle)

    assert not bundle.exists()
    assert scan_store(store) == [keep]


def test_remove_source_deletes_a_zip(store: Path, tmp_path: Path) -> None:
    archive = zip_folder(write_bundle(tmp_path / "src", "echo", MODEL), store / "echo.zip")
    remove_source(store, archive)
    assert not archive.exists()


def test_remove_source_of_something_already_gone_is_a_no_op(store: Path) -> None:
    remove_source(store, store / "gone")
    assert store.is_dir()


def test_remove_source_refuses_a_path_outside_the_store(store: Path, tmp_path: Path) -> None:
    outside = write_bundle(tmp_path, "outside", MODEL)
    with pytest.raises(ValueError, match="is not inside the model store"):
        remove_source(store, outside)
    assert outside.is_dir()


def test_remove_source_refuses_a_path_that_climbs_out_of_the_store(
    store: Path, tmp_path: Path
) -> None:
    victim = write_bundle(tmp_path, "victim", MODEL)
    with pytest.raises(ValueError, match="is not inside the model store"):
        remove_source(store, store / ".." / "victim")
    assert victim.is_dir()


def test_remove_source_refuses_the_store_itself(store: Path) -> None:
    write_bundle(store, "echo", MODEL)
    for target in (store, store / "echo" / ".."):
        with pytest.raises(ValueError, match="is not inside the model store"):
            remove_source(store, target)
    assert (store / "echo").is_dir()


def test_remove_source_deletes_a_link_inside_the_store_but_not_its_target(store: Path) -> None:
    target = write_bundle(store, "real", MODEL)
    link = store / "alias"
    link.symlink_to(target, target_is_directory=True)

    remove_source(store, link)

    assert not link.exists()
    assert not link.is_symlink()
    assert (target / "model.py").is_file()


def test_remove_source_refuses_a_link_that_leads_out_of_the_store(
    store: Path, tmp_path: Path
) -> None:
    outside = write_bundle(tmp_path, "outside", MODEL)
    link = store / "alias"
    link.symlink_to(outside, target_is_directory=True)

    with pytest.raises(ValueError, match="is not inside the model store"):
        remove_source(store, link)

    assert (outside / "model.py").is_file()
