"""Two real `modelrt serve` processes on one store folder: what one replica changes, both serve.

Each replica syncs with the store every 0.5 s; every wait here is bounded (20 s, polling 0.1 s).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from clients import Client, NotFoundError
from modelrt.v1 import model_pb2, runtime_pb2, runtime_pb2_grpc
from tests.bundle_factory import write_bundle, zip_folder
from tests.serve_process import start_serve, stop

pytestmark = pytest.mark.timeout(180)
WAIT_S = 20.0

DOUBLER = """
    from registry import ModelRunner, register

    @register("{name}")
    class Doubler(ModelRunner):
        def predict(self, request):
            return {{"y": request["x"] * 2}}
"""


def _bundle(root: Path, name: str) -> Path:
    # Random weights: the zip is big enough to be sent in many chunks.
    files = {"w.bin": os.urandom(64 * 1024)}
    return write_bundle(root, name, DOUBLER.format(name=name), folder=name, files=files)


def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {WAIT_S}s waiting for {what}"
        time.sleep(0.1)


def _state(address: str, name: str) -> str:
    """The newest version's state on the replica at ``address``; "" when it does not know it."""
    with Client(address, timeout=10) as client:
        try:
            return client.get_model(name).state
        except NotFoundError:
            return ""


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """Start `modelrt serve` replicas on a store; every one is stopped at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(store: Path) -> str:
        process, address = start_serve(
            store, tmp_path, "--store-sync-interval", "0.5", log_name=f"replica-{len(started)}"
        )
        started.append(process)
        return address

    yield start
    for process in started:
        stop(process)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    folder.mkdir()
    return folder


def test_a_model_uploaded_to_one_replica_is_ready_and_predicts_on_the_other(
    serve, store: Path, tmp_path: Path
) -> None:
    a, b = serve(store), serve(store)

    with Client(a, timeout=60) as client:
        assert client.upload(_bundle(tmp_path, "shared")).model.state == "READY"

    _eventually(lambda: _state(b, "shared") == "READY", "READY on the other replica")
    with Client(b, timeout=30) as client:
        out = client.predict("shared", {"x": np.arange(3.0)}).outputs["y"]
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0])


def test_a_model_deleted_on_one_replica_is_gone_from_both(
    serve, store: Path, tmp_path: Path
) -> None:
    a, b = serve(store), serve(store)
    with Client(a, timeout=60) as client:
        client.upload(_bundle(tmp_path, "doomed"))
    _eventually(lambda: _state(b, "doomed") == "READY", "READY on the other replica")

    with Client(a, timeout=30) as client:
        assert client.delete_model("doomed") == ["1"]

    _eventually(lambda: _state(b, "doomed") == "", "the delete to reach the other replica")
    for address in (a, b):
        with Client(address, timeout=10) as client, pytest.raises(NotFoundError):
            client.predict("doomed", {"x": np.ones(1)})
    assert not (store / "doomed").exists()


def test_unload_and_load_on_one_replica_apply_on_the_other(
    serve, store: Path, tmp_path: Path
) -> None:
    a, b = serve(store), serve(store)
    with Client(a, timeout=60) as client:
        client.upload(_bundle(tmp_path, "resting"))
    _eventually(lambda: _state(b, "resting") == "READY", "READY on the other replica")

    with Client(a, timeout=30) as client:
        client.unload_model("resting")
    _eventually(lambda: _state(b, "resting") == "UNLOADED", "UNLOADED on the other replica")

    with Client(a, timeout=60) as client:
        assert client.load_model("resting").state == "READY"
    _eventually(lambda: _state(b, "resting") == "READY", "READY again on the other replica")


def test_a_replica_starting_keeps_another_replicas_upload_in_progress(
    serve, store: Path, tmp_path: Path
) -> None:
    a = serve(store)
    data = zip_folder(_bundle(tmp_path, "inflight"), tmp_path / "inflight.zip").read_bytes()
    gate = threading.Event()

    def messages() -> Iterator[runtime_pb2.UploadRequest]:
        header = runtime_pb2.UploadHeader(
            namespace="inflight", total_size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )
        yield runtime_pb2.UploadRequest(header=header)
        for index, start in enumerate(range(0, len(data), 4096)):
            if index == 1:
                gate.wait(60)  # the upload stays staged while the other replica starts
            yield runtime_pb2.UploadRequest(chunk=data[start : start + 4096])

    replies: list[runtime_pb2.UploadResponse] = []

    def upload() -> None:
        with (
            grpc.insecure_channel(a) as channel,
            contextlib.suppress(grpc.RpcError),  # the assertion below reports it
        ):
            replies.append(
                runtime_pb2_grpc.ModelRuntimeStub(channel).Upload(messages(), timeout=90)
            )

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    staging = store / ".staging"
    _eventually(
        lambda: staging.is_dir() and any((s / "upload.zip").exists() for s in staging.iterdir()),
        "the upload to be staged",
    )
    staged = list(staging.iterdir())

    try:
        b = serve(store)  # recovers the store at start
        assert all(folder.is_dir() for folder in staged)
    finally:
        gate.set()
    thread.join(60)

    assert [reply.model.state for reply in replies] == [model_pb2.MODEL_STATE_READY]
    _eventually(lambda: _state(b, "inflight") == "READY", "READY on the new replica")
