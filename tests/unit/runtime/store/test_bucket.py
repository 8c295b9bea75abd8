"""Tests for runtime.store.bucket on moto's S3 server: layout, commit marker, claims, deletes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from runtime.store.bucket import (
    Bucket,
    BucketError,
    BucketLocation,
    parse_store_url,
)
from runtime.store.store import Manifest, VersionExistsError
from tests.bundle_factory import write_bundle
from tests.s3_server import keys, s3_client

pytestmark = pytest.mark.timeout(60)


def _manifest(name: str = "iris", version: str = "") -> Manifest:
    return Manifest(name, version, sha256="ab" * 32, size=10, format="native", model_class="M")


def _publish(bucket: Bucket, tmp_path: Path, name: str = "iris", version: str = "") -> Manifest:
    workdir = tmp_path / f"work-{name}-{len(list(tmp_path.iterdir()))}"
    bundle = write_bundle(workdir, name, "X = 1\n", folder="bundle", files={"w.bin": b"\0" * 99})
    return bucket.publish(bundle, _manifest(name, version), loaded=True, workdir=workdir)


def _put(bucket: Bucket, key: str, body: bytes) -> None:
    assert bucket.endpoint_url is not None
    s3 = s3_client(bucket.endpoint_url)
    s3.put_object(Bucket=bucket.location.bucket, Key=bucket.location.prefix + key, Body=body)


def _keys(bucket: Bucket) -> list[str]:
    assert bucket.endpoint_url is not None
    prefix = bucket.location.prefix
    return [key.removeprefix(prefix) for key in keys(bucket.endpoint_url, bucket.location.bucket)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://models", BucketLocation("models", "")),
        ("s3://models/", BucketLocation("models", "")),
        ("s3://my.models-1/prod/eu/", BucketLocation("my.models-1", "prod/eu/")),
    ],
)
def test_parse_store_url_splits_bucket_and_prefix(url: str, expected: BucketLocation) -> None:
    assert parse_store_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "models",
        "http://models/x",
        "s3://",
        "s3://Models",
        "s3://a",
        "s3://models/a//b",
        "s3://m?x=1",
    ],
)
def test_parse_store_url_refuses_what_is_not_an_s3_url(url: str) -> None:
    with pytest.raises(ValueError, match=r"s3://BUCKET\[/PREFIX\]"):
        parse_store_url(url)


def test_publish_writes_state_bundle_and_manifest_under_namespace_and_version(
    bucket: Bucket, tmp_path: Path
) -> None:
    final = _publish(bucket, tmp_path)

    assert final.version == "1"
    assert _keys(bucket) == ["iris/1/bundle.zip", "iris/1/manifest.json", "iris/1/state.json"]
    assert bucket.endpoint_url is not None
    s3 = s3_client(bucket.endpoint_url)
    read = lambda key: s3.get_object(  # noqa: E731
        Bucket=bucket.location.bucket, Key=f"models/iris/1/{key}"
    )["Body"].read()
    marker = json.loads(read("manifest.json"))
    assert marker["bundle_sha256"] == hashlib.sha256(read("bundle.zip")).hexdigest()
    assert Manifest.from_dict(marker) == final
    assert json.loads(read("state.json")) == {"loaded": True}
    committed = bucket.committed()
    assert list(committed) == [("iris", "1")]
    assert committed["iris", "1"].manifest == final
    assert committed["iris", "1"].loaded


def test_a_version_without_its_manifest_is_not_committed(bucket: Bucket) -> None:
    _put(bucket, "half/1/bundle.zip", b"PK")
    _put(bucket, "half/1/state.json", b'{"loaded": true}')

    assert bucket.committed() == {}


def test_publish_takes_the_next_free_version_and_a_named_one_only_when_free(
    bucket: Bucket, tmp_path: Path
) -> None:
    _put(bucket, "iris/2/state.json", b'{"loaded": true}')  # claimed by an upload in progress

    assert _publish(bucket, tmp_path).version == "3"
    assert _publish(bucket, tmp_path).version == "4"
    assert _publish(bucket, tmp_path, version="v1").version == "v1"
    with pytest.raises(VersionExistsError):
        _publish(bucket, tmp_path, version="2")
    assert sorted(bucket.committed()) == [("iris", "3"), ("iris", "4"), ("iris", "v1")]


def test_remove_leaves_a_tombstone_and_the_claim_of_the_version(
    bucket: Bucket, tmp_path: Path
) -> None:
    _publish(bucket, tmp_path)
    _publish(bucket, tmp_path)

    bucket.remove("iris", "1")

    assert _keys(bucket) == [
        "iris/1/deleted.json",
        "iris/1/state.json",
        "iris/2/bundle.zip",
        "iris/2/manifest.json",
        "iris/2/state.json",
    ]
    assert sorted(bucket.committed()) == [("iris", "2")]


def test_a_deleted_number_is_never_given_out_again(bucket: Bucket, tmp_path: Path) -> None:
    _publish(bucket, tmp_path)
    _publish(bucket, tmp_path)
    bucket.remove("iris", "2")  # the newest
    bucket.remove("iris", "1")  # and with it the whole namespace

    again = Bucket(bucket.location, bucket.endpoint_url)  # as after a restart
    assert _publish(again, tmp_path).version == "3"
    with pytest.raises(VersionExistsError, match="never reused"):
        _publish(again, tmp_path, version="2")
    assert sorted(again.committed()) == [("iris", "3")]


def test_a_tombstone_alone_decides_a_delete_and_sweep_finishes_it(
    bucket: Bucket, tmp_path: Path
) -> None:
    _publish(bucket, tmp_path)
    _put(bucket, "iris/1/deleted.json", b"{}")  # a delete stopped right after its first write

    assert bucket.committed() == {}
    bucket.sweep()

    assert _keys(bucket) == ["iris/1/deleted.json", "iris/1/state.json"]
    assert _publish(bucket, tmp_path).version == "2"


def test_set_loaded_writes_the_state_and_skips_a_deleted_version(
    bucket: Bucket, tmp_path: Path
) -> None:
    _publish(bucket, tmp_path)
    bucket.set_loaded("iris", "1", False)
    assert not bucket.committed()["iris", "1"].loaded

    bucket.remove("iris", "1")
    bucket.set_loaded("iris", "1", True)

    assert _keys(bucket) == ["iris/1/deleted.json", "iris/1/state.json"]
    assert bucket.committed() == {}


def test_download_refuses_a_bundle_that_is_not_the_one_its_manifest_names(
    bucket: Bucket, tmp_path: Path
) -> None:
    _publish(bucket, tmp_path)
    _put(bucket, "iris/1/bundle.zip", b"not the bundle")

    with pytest.raises(BucketError) as caught:
        bucket.download(bucket.committed()["iris", "1"], tmp_path / "got.zip")
    assert caught.value.reason == "STORE_BUNDLE_CORRUPT"


def test_sweep_removes_versions_left_without_a_manifest_and_keeps_committed_ones(
    bucket: Bucket, tmp_path: Path
) -> None:
    _publish(bucket, tmp_path)
    _put(bucket, "iris/2/state.json", b'{"loaded": true}')
    _put(bucket, "iris/2/bundle.zip", b"PK")

    bucket.sweep(stale_after_s=3600)
    assert "iris/2/state.json" in _keys(bucket)  # recent: maybe an upload in progress

    bucket.sweep(stale_after_s=-1)  # every leftover counts as abandoned
    assert _keys(bucket) == [
        "iris/1/bundle.zip",
        "iris/1/manifest.json",
        "iris/1/state.json",
        "iris/2/deleted.json",  # the number stays taken
        "iris/2/state.json",
    ]
    assert _publish(bucket, tmp_path).version == "3"


def test_an_unreachable_bucket_is_reported_as_unavailable(
    monkeypatch: pytest.MonkeyPatch, bucket: Bucket
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    gone = Bucket(bucket.location, "http://127.0.0.1:9")  # the discard port: nothing listens

    with pytest.raises(BucketError, match="listing the store") as caught:
        gone.committed()
    assert caught.value.code == "UNAVAILABLE"
