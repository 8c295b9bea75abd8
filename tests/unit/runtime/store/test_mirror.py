"""Tests for runtime.store.mirror: a local store kept in step with a bucket on moto's S3 server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from loader.unpack import UnpackLimits
from runtime.store.bucket import Bucket
from runtime.store.mirror import StoreMirror
from runtime.store.store import Manifest, ModelStore
from tests.bundle_factory import write_bundle
from tests.s3_server import s3_client

pytestmark = pytest.mark.timeout(60)

MODEL = "X = 1\n"


def _manifest(name: str = "iris") -> Manifest:
    return Manifest(name, "", sha256="ab" * 32, size=10, format="native", model_class="M")


def _mirror(root: Path, bucket: Bucket | None) -> StoreMirror:
    root.mkdir(exist_ok=True)
    return StoreMirror(ModelStore(root), bucket, UnpackLimits())


def _commit(mirror: StoreMirror, name: str = "iris", *, loaded: bool = True) -> Manifest:
    staged = mirror.store.stage()
    write_bundle(staged, name, MODEL, folder="bundle")
    try:
        entry = asyncio.run(mirror.commit(staged, _manifest(name), loaded=loaded))
    finally:
        mirror.store.discard(staged)
    assert entry.manifest is not None
    return entry.manifest


def _cached(mirror: StoreMirror) -> dict[tuple[str, str], bool]:
    return {
        (e.manifest.namespace, e.manifest.version): e.loaded
        for e in mirror.store.scan()
        if e.manifest is not None
    }


def test_commit_publishes_to_the_bucket_then_caches_the_version(
    bucket: Bucket, tmp_path: Path
) -> None:
    mirror = _mirror(tmp_path / "a", bucket)

    manifest = _commit(mirror)

    assert bucket.committed()["iris", "1"].manifest == manifest
    assert _cached(mirror) == {("iris", "1"): True}


def test_pull_copies_committed_versions_with_their_bundle_and_state(
    bucket: Bucket, tmp_path: Path
) -> None:
    writer, reader = _mirror(tmp_path / "a", bucket), _mirror(tmp_path / "b", bucket)
    manifest = _commit(writer, loaded=False)

    asyncio.run(reader.pull())

    [entry] = reader.store.scan()
    assert entry.manifest == manifest
    assert not entry.loaded
    assert (entry.source / "model.py").read_text(encoding="utf-8") == MODEL
    assert not any((reader.store.root / ".staging").iterdir())


def test_pull_follows_state_changes_and_deletes_made_elsewhere(
    bucket: Bucket, tmp_path: Path
) -> None:
    writer, reader = _mirror(tmp_path / "a", bucket), _mirror(tmp_path / "b", bucket)
    _commit(writer)
    _commit(writer)
    asyncio.run(reader.pull())
    first, second = writer.store.scan()

    asyncio.run(writer.set_loaded(first, False))
    asyncio.run(writer.remove(second))
    asyncio.run(reader.pull())

    assert _cached(reader) == {("iris", "1"): False}


def test_pull_never_copies_a_version_without_its_manifest(bucket: Bucket, tmp_path: Path) -> None:
    writer, reader = _mirror(tmp_path / "a", bucket), _mirror(tmp_path / "b", bucket)
    _commit(writer)
    assert bucket.endpoint_url is not None
    s3 = s3_client(bucket.endpoint_url)
    for name in ("bundle.zip", "state.json"):  # a second version, its marker not written yet
        source = s3.get_object(Bucket=bucket.location.bucket, Key=f"models/iris/1/{name}")
        body = source["Body"].read()
        s3.put_object(Bucket=bucket.location.bucket, Key=f"models/iris/2/{name}", Body=body)

    asyncio.run(reader.pull())

    assert _cached(reader) == {("iris", "1"): True}


def test_pull_skips_a_bundle_whose_digest_is_wrong_and_leaves_nothing_behind(
    bucket: Bucket, tmp_path: Path
) -> None:
    writer, reader = _mirror(tmp_path / "a", bucket), _mirror(tmp_path / "b", bucket)
    _commit(writer)
    assert bucket.endpoint_url is not None
    s3_client(bucket.endpoint_url).put_object(
        Bucket=bucket.location.bucket, Key="models/iris/1/bundle.zip", Body=b"PK tampered"
    )

    asyncio.run(reader.pull())

    assert _cached(reader) == {}
    assert not any((reader.store.root / ".staging").iterdir())


def test_pull_removes_cached_versions_the_bucket_does_not_hold_and_keeps_seeds(
    bucket: Bucket, tmp_path: Path
) -> None:
    local = _mirror(tmp_path / "a", None)
    _commit(local)  # committed to the folder only, before the bucket was configured
    write_bundle(local.store.root, "seed", MODEL)
    cache = _mirror(tmp_path / "a", bucket)

    asyncio.run(cache.pull())

    assert _cached(cache) == {}
    assert [entry.home.name for entry in cache.store.scan()] == ["seed"]


def test_without_a_bucket_the_mirror_is_the_store_folder(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path / "a", None)
    manifest = _commit(mirror)
    [entry] = mirror.store.scan()

    asyncio.run(mirror.pull())
    asyncio.run(mirror.set_loaded(entry, False))

    assert asyncio.run(mirror.manifests()) == [manifest]
    state = json.loads((entry.home / "state.json").read_text(encoding="utf-8"))
    assert state == {"loaded": False}
    asyncio.run(mirror.remove(entry))
    assert mirror.store.scan() == []


def test_a_cache_takes_its_numbers_from_the_bucket_and_copies_a_version_again(
    bucket: Bucket, tmp_path: Path
) -> None:
    writer, reader = _mirror(tmp_path / "a", bucket), _mirror(tmp_path / "b", bucket)
    _commit(writer)
    asyncio.run(reader.pull())
    [cached] = reader.store.scan()
    reader.store.remove(cached)  # its local copy lost (the bucket still holds it)

    asyncio.run(reader.pull())

    assert _cached(reader) == {("iris", "1"): True}


def test_a_number_deleted_through_the_mirror_is_not_given_out_again(
    bucket: Bucket, tmp_path: Path
) -> None:
    mirror = _mirror(tmp_path / "a", bucket)
    _commit(mirror)
    [entry] = mirror.store.scan()
    asyncio.run(mirror.remove(entry))

    assert _commit(mirror).version == "2"
    assert _cached(mirror) == {("iris", "2"): True}
