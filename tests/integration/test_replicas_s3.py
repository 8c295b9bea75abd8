"""Two real `modelrt serve` processes on one S3 bucket (moto's server), each with its own cache.

Each replica syncs with the bucket every 0.5 s; every wait here is bounded (20 s, polling 0.1 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from clients import Client, NotFoundError
from runtime.store.bundle_zip import zip_bundle
from tests.bundle_factory import write_bundle
from tests.integration.test_replicas import DOUBLER, _eventually, _state
from tests.s3_server import CREDENTIALS, keys, new_bucket, s3_client, start_s3_server
from tests.serve_process import start_serve, stop

pytestmark = pytest.mark.timeout(180)
LAYOUT = ("bundle.zip", "manifest.json", "state.json")


@dataclass(frozen=True)
class Store:
    """A bucket on the test server, as replicas and the test see it."""

    endpoint: str
    bucket: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/models"

    def keys(self) -> list[str]:
        return keys(self.endpoint, self.bucket)

    def put(self, key: str, body: bytes) -> None:
        s3_client(self.endpoint).put_object(Bucket=self.bucket, Key=f"models/{key}", Body=body)


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, endpoint = start_s3_server(tmp_path_factory.mktemp("moto"))
    yield endpoint
    stop(process)


@pytest.fixture
def store(s3_endpoint: str) -> Store:
    return Store(s3_endpoint, new_bucket(s3_endpoint))


@pytest.fixture
def serve(store: Store, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start replicas on the bucket, each caching it in a folder of its own; all stopped after."""
    started: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, **CREDENTIALS}

    def start(sync_interval: str = "0.5") -> str:
        name = f"replica-{len(started)}"
        process, address = start_serve(
            tmp_path / f"{name}-cache",
            tmp_path,
            "--store-sync-interval", sync_interval,
            "--store-url", store.url,
            "--s3-endpoint-url", store.endpoint,
            log_name=name,
            env=env,
        )  # fmt: skip
        started.append(process)
        return address

    yield start
    for process in started:
        stop(process)


def _bundle(root: Path, name: str) -> Path:
    files = {"w.bin": os.urandom(64 * 1024)}
    return write_bundle(root, name, DOUBLER.format(name=name), folder=name, files=files)


def _predict(address: str, name: str) -> list[float]:
    with Client(address, timeout=30) as client:
        return list(client.predict(name, {"x": np.arange(3.0)}).outputs["y"])


def test_a_model_uploaded_to_one_replica_is_ready_and_predicts_on_the_other(
    serve, store: Store, tmp_path: Path
) -> None:
    a, b = serve(), serve()

    with Client(a, timeout=60) as client:
        assert client.upload(_bundle(tmp_path, "shared")).model.state == "READY"

    assert store.keys() == [f"models/shared/1/{name}" for name in LAYOUT]
    _eventually(lambda: _state(b, "shared") == "READY", "READY on the other replica")
    assert _predict(b, "shared") == [0.0, 2.0, 4.0]


def test_a_model_deleted_on_one_replica_is_gone_from_both_and_from_the_bucket(
    serve, store: Store, tmp_path: Path
) -> None:
    a, b = serve(), serve()
    with Client(a, timeout=60) as client:
        client.upload(_bundle(tmp_path, "doomed"))
    _eventually(lambda: _state(b, "doomed") == "READY", "READY on the other replica")

    with Client(a, timeout=30) as client:
        assert client.delete_model("doomed") == ["1"]

    # The tombstone and the claim stay: the number is never given out again.
    assert store.keys() == ["models/doomed/1/deleted.json", "models/doomed/1/state.json"]
    _eventually(lambda: _state(b, "doomed") == "", "the delete to reach the other replica")
    for address in (a, b):
        with Client(address, timeout=10) as client, pytest.raises(NotFoundError):
            client.predict("doomed", {"x": np.ones(1)})


def test_unload_and_load_on_one_replica_apply_on_the_other(
    serve, store: Store, tmp_path: Path
) -> None:
    a, b = serve(), serve()
    with Client(a, timeout=60) as client:
        client.upload(_bundle(tmp_path, "resting"))
    _eventually(lambda: _state(b, "resting") == "READY", "READY on the other replica")

    with Client(a, timeout=30) as client:
        client.unload_model("resting")
    _eventually(lambda: _state(b, "resting") == "UNLOADED", "UNLOADED on the other replica")

    with Client(a, timeout=60) as client:
        assert client.load_model("resting").state == "READY"
    _eventually(lambda: _state(b, "resting") == "READY", "READY again on the other replica")


def test_a_version_is_never_served_before_its_manifest_is_in_the_bucket(
    serve, store: Store, tmp_path: Path
) -> None:
    a, b = serve(), serve()
    # Written by hand as a publishing replica would, stopped before its commit marker.
    bundle = _bundle(tmp_path, "partial")
    data = zip_bundle(bundle, tmp_path / "partial.zip").read_bytes()
    store.put("partial/1/state.json", json.dumps({"loaded": True}).encode())
    store.put("partial/1/bundle.zip", data)
    # Once the other replica serves a model uploaded after those objects, it has synced since.
    with Client(a, timeout=60) as client:
        client.upload(_bundle(tmp_path, "later"))
    _eventually(lambda: _state(b, "later") == "READY", "the other replica to sync")

    assert _state(a, "partial") == ""
    assert _state(b, "partial") == ""

    marker = {
        "namespace": "partial",
        "version": "1",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "format": "native",
        "bundle_sha256": hashlib.sha256(data).hexdigest(),
        "bundle_size": len(data),
    }
    store.put("partial/1/manifest.json", json.dumps(marker).encode())
    for address in (a, b):
        _eventually(lambda at=address: _state(at, "partial") == "READY", "READY once committed")
        assert _predict(address, "partial") == [0.0, 2.0, 4.0]


def _description(address: str, name: str) -> str:
    with Client(address, timeout=10) as client:
        try:
            return client.get_model(name).description
        except NotFoundError:
            return ""


def test_a_version_number_deleted_on_one_replica_is_not_given_out_again_by_another(
    serve, store: Store, tmp_path: Path
) -> None:
    a, b = serve(sync_interval="0"), serve()  # a syncs at start only: its cache goes stale
    with Client(a, timeout=60) as client:
        client.upload(_bundle(tmp_path, "reused"), description="first")
    _eventually(lambda: _state(b, "reused") == "READY", "READY on the other replica")
    with Client(b, timeout=30) as client:
        client.delete_model("reused")

    with Client(a, timeout=60) as client:
        result = client.upload(_bundle(tmp_path / "again", "reused"), description="second")

    assert (result.model.version, result.model.state) == ("2", "READY")
    assert _description(a, "reused") == "second"
    _eventually(lambda: _description(b, "reused") == "second", "the new version on the other")
    _eventually(lambda: _state(b, "reused") == "READY", "READY on the other replica")
    assert _predict(b, "reused") == [0.0, 2.0, 4.0]
    with Client(b, timeout=10) as client, pytest.raises(NotFoundError):
        client.predict("reused", {"x": np.ones(1)}, version="1")
