"""Tests for runtime.store.store: versions committed by rename, manifests, state, deletes, seeds.

Also the delete policy: one rename decides a delete, and a version name is never given out twice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runtime.store.store import (
    Manifest,
    ModelStore,
    NamespaceOwnedError,
    StoreError,
    VersionExistsError,
    check_name,
)
from tests.bundle_factory import write_bundle, zip_folder

pytestmark = pytest.mark.timeout(30)

MODEL = "X = 1\n"


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    root = tmp_path / "store"
    root.mkdir()
    return ModelStore(root)


def _staged(store: ModelStore, name: str = "iris") -> Path:
    staged = store.stage()
    write_bundle(staged, name, MODEL, folder="bundle")
    return staged


def _manifest(name: str = "iris", version: str = "") -> Manifest:
    return Manifest(name, version, sha256="ab" * 32, size=10, format="native", model_class="M")


def test_commit_places_bundle_manifest_and_state_under_namespace_and_version(
    store: ModelStore,
) -> None:
    entry = store.commit(_staged(store), _manifest())

    assert entry.home == store.root / "iris" / "1"
    assert (entry.source / "model.py").read_text(encoding="utf-8") == MODEL
    manifest = json.loads((entry.home / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == "1"
    assert manifest["sha256"] == "ab" * 32
    assert manifest["created"]
    assert json.loads((entry.home / "state.json").read_text(encoding="utf-8")) == {"loaded": True}
    assert [e.manifest for e in store.scan()] == [entry.manifest]


def test_versions_count_up_and_an_explicit_one_is_kept(store: ModelStore) -> None:
    store.commit(_staged(store), _manifest())
    store.commit(_staged(store), _manifest())
    store.commit(_staged(store), _manifest(version="10"))
    store.commit(_staged(store), _manifest())

    assert store.versions("iris") == ["1", "2", "10", "11"]


def test_deleting_the_newest_version_never_lets_its_number_be_given_out_again(
    store: ModelStore,
) -> None:
    store.commit(_staged(store), _manifest())
    second = store.commit(_staged(store), _manifest())
    store.remove(second)

    assert store.commit(_staged(store), _manifest()).home.name == "3"
    assert store.versions("iris") == ["1", "3"]


def test_a_number_stays_taken_after_the_namespace_is_deleted_and_across_a_restart(
    store: ModelStore,
) -> None:
    for entry in [store.commit(_staged(store), _manifest()) for _ in range(2)]:
        store.remove(entry)
    assert not (store.root / "iris").exists()

    restarted = ModelStore(store.root)
    restarted.recover()

    assert restarted.commit(_staged(restarted), _manifest()).home.name == "3"


def test_an_explicit_version_once_deleted_is_refused(store: ModelStore) -> None:
    store.remove(store.commit(_staged(store), _manifest(version="v2")))

    with pytest.raises(VersionExistsError, match="never reused"):
        store.commit(_staged(store), _manifest(version="v2"))
    assert store.versions("iris") == []


def test_a_version_placed_by_hand_keeps_its_number_after_a_delete(store: ModelStore) -> None:
    first = store.commit(_staged(store), _manifest())
    by_hand = store.root / "iris" / "7"  # copied in by an operator (or an older release)
    shutil.copytree(first.home, by_hand)
    manifest = json.loads((by_hand / "manifest.json").read_text(encoding="utf-8"))
    (by_hand / "manifest.json").write_text(json.dumps({**manifest, "version": "7"}))
    store.recover()
    [_, seventh] = store.scan()

    store.remove(seventh)

    assert store.commit(_staged(store), _manifest()).home.name == "8"


def test_a_delete_stopped_before_its_rename_leaves_the_version_as_it_was(
    store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.commit(_staged(store), _manifest(), loaded=False)
    store.commit(_staged(store), _manifest())
    [_, entry] = store.scan()

    def crash(*_: object) -> None:
        raise KeyboardInterrupt  # the process ends here, before the one step that decides

    monkeypatch.setattr("runtime.store.store.os.rename", crash)
    with pytest.raises(KeyboardInterrupt):
        store.remove(entry)
    monkeypatch.undo()
    store.recover()

    assert [(e.home.name, e.loaded) for e in store.scan()] == [("1", False), ("2", True)]
    assert (entry.source / "model.py").read_text(encoding="utf-8") == MODEL


def test_a_delete_stopped_after_its_rename_is_finished_by_recover(store: ModelStore) -> None:
    store.commit(_staged(store), _manifest())
    entry = store.commit(_staged(store), _manifest())
    (store.root / ".trash").mkdir()
    entry.home.rename(store.root / ".trash" / "abc")  # what remove() does first

    store.recover()

    assert store.versions("iris") == ["1"]
    assert not (store.root / ".trash").exists()
    assert store.commit(_staged(store), _manifest()).home.name == "3"


def test_a_seed_may_take_the_name_of_a_deleted_namespace(store: ModelStore) -> None:
    store.remove(store.commit(_staged(store), _manifest()))
    write_bundle(store.root, "iris", MODEL)

    assert [(e.source.name, e.managed) for e in store.scan()] == [("iris", False)]
    with pytest.raises(NamespaceOwnedError):
        store.commit(_staged(store), _manifest())


def test_an_explicit_version_that_exists_is_refused(store: ModelStore) -> None:
    store.commit(_staged(store), _manifest(version="3"))
    with pytest.raises(VersionExistsError):
        store.commit(_staged(store), _manifest(version="3"))


def test_concurrent_commits_get_distinct_versions(store: ModelStore) -> None:
    staged = [_staged(store) for _ in range(6)]
    threads = [threading.Thread(target=store.commit, args=(s, _manifest())) for s in staged]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert store.versions("iris") == ["1", "2", "3", "4", "5", "6"]


def test_a_version_stored_unloaded_stays_unloaded_until_set(store: ModelStore) -> None:
    entry = store.commit(_staged(store), _manifest(), loaded=False)
    assert [e.loaded for e in store.scan()] == [False]

    store.set_loaded(entry, True)

    assert [e.loaded for e in store.scan()] == [True]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(10)
    return process.pid


def _owned_by(staged: Path, pid: int) -> Path:
    """``staged`` renamed as if process ``pid`` of this host had staged it."""
    host, _, start, token = staged.name.rsplit("_", 3)
    return staged.rename(staged.with_name(f"{host}_{pid}_{start}_{token}"))


def test_recover_removes_staged_uploads_and_unfinished_deletes(store: ModelStore) -> None:
    store.commit(_staged(store), _manifest())
    half = _owned_by(_staged(store), _dead_pid())  # an upload the crash interrupted
    (store.root / ".trash" / "x").mkdir(parents=True)

    store.recover()

    assert half.exists() is False
    assert not (store.root / ".trash").exists()
    assert store.versions("iris") == ["1"]


def test_recover_keeps_an_upload_a_live_process_is_staging(store: ModelStore) -> None:
    mine = _staged(store)  # this process: alive, so another replica starting must keep it
    other = ModelStore(store.root)

    other.recover()

    assert mine.is_dir()


def test_recover_keeps_another_hosts_upload_until_it_is_stale(store: ModelStore) -> None:
    staging = store.root / ".staging"
    fresh = staging / "elsewhere_7_99_aaaa"
    old = staging / "elsewhere_8_99_bbbb"
    for folder in (fresh, old):
        folder.mkdir(parents=True)
        (folder / "upload.zip").write_bytes(b"x")
    hour_ago = time.time() - 3600
    for path in (old / "upload.zip", old):
        os.utime(path, (hour_ago, hour_ago))

    store.recover(stale_after_s=600)

    assert fresh.is_dir()
    assert not old.exists()


def test_a_version_folder_without_a_manifest_is_not_served(store: ModelStore) -> None:
    store.commit(_staged(store), _manifest())
    (store.root / "iris" / "7" / "bundle").mkdir(parents=True)  # never committed

    assert store.versions("iris") == ["1"]


def test_remove_deletes_one_version_then_the_namespace_with_the_last(store: ModelStore) -> None:
    first = store.commit(_staged(store), _manifest())
    second = store.commit(_staged(store), _manifest())

    store.remove(first)
    assert store.versions("iris") == ["2"]
    store.remove(second)

    assert store.scan() == []
    assert not (store.root / "iris").exists()
    assert list((store.root / ".trash").iterdir()) == []


def test_seed_bundles_are_listed_beside_managed_namespaces(
    store: ModelStore, tmp_path: Path
) -> None:
    write_bundle(store.root, "beta", MODEL)
    zip_folder(write_bundle(tmp_path / "src", "alpha", MODEL), store.root / "alpha.zip")
    store.commit(_staged(store), _manifest("gamma"))
    (store.root / "README.md").write_text("notes", encoding="utf-8")

    entries = store.scan()

    assert [(e.source.name, e.managed) for e in entries] == [
        ("alpha.zip", False),
        ("beta", False),
        ("bundle", True),
    ]


def test_a_seed_folder_blocks_a_managed_namespace_of_the_same_name(store: ModelStore) -> None:
    write_bundle(store.root, "iris", MODEL)
    with pytest.raises(NamespaceOwnedError):
        store.commit(_staged(store), _manifest())


def test_remove_deletes_a_seed_folder_and_a_seed_zip(store: ModelStore, tmp_path: Path) -> None:
    write_bundle(store.root, "beta", MODEL)
    zip_folder(write_bundle(tmp_path / "src", "alpha", MODEL), store.root / "alpha.zip")
    for entry in store.scan():
        store.remove(entry)
    assert store.scan() == []


def test_remove_refuses_a_seed_link_that_leads_out_of_the_store(
    store: ModelStore, tmp_path: Path
) -> None:
    outside = write_bundle(tmp_path / "elsewhere", "victim", MODEL)
    (store.root / "link").symlink_to(outside, target_is_directory=True)
    (entry,) = store.scan()
    with pytest.raises(ValueError, match="not inside the model store"):
        store.remove(entry)
    assert (outside / "model.py").exists()


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "-x", "x" * 129, "sp ace"])
def test_unsafe_names_are_refused(bad: str) -> None:
    with pytest.raises(StoreError):
        check_name("namespace", bad)
