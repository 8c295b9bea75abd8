"""Upload headers are judged as soon as they arrive: a refused namespace or version fails the
call before the client has sent its bundle (the client is still waiting to send when it fails)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from clients import Client
from modelrt.v1 import runtime_pb2
from tests.bundle_factory import write_bundle
from tests.integration.status_details import error_info

pytestmark = pytest.mark.timeout(120)
CHUNK = 64 * 1024
CHUNKS = 64

ECHO = """
from registry import ModelRunner, register

@register("{name}")
class Echo(ModelRunner):
    def predict(self, request):
        return {{"ok": True}}
"""


def _refused_early(stub, **header: str) -> tuple[grpc.RpcError, int]:
    """Upload a header, one chunk, then wait (up to 20 s) before the other chunks; the error
    and how many chunks the server had asked for when it answered."""
    gate = threading.Event()
    sent = [0]

    def stream() -> Iterator[runtime_pb2.UploadRequest]:
        fields = {"total_size": CHUNK * CHUNKS, "sha256": "0" * 64, **header}
        yield runtime_pb2.UploadRequest(header=runtime_pb2.UploadHeader(**fields))  # type: ignore[arg-type]
        for index in range(CHUNKS):
            if index == 1:
                gate.wait(20)  # an early answer comes while the client still holds its bytes
            sent[0] += 1
            yield runtime_pb2.UploadRequest(chunk=b"\0" * CHUNK)

    try:
        with pytest.raises(grpc.RpcError) as caught:
            stub.Upload(stream(), timeout=60)
    finally:
        answered_after = sent[0]
        gate.set()
    return caught.value, answered_after


@pytest.fixture
def server(start_server, tmp_path: Path):
    store = tmp_path / "store"
    write_bundle(store, "seeded", ECHO.format(name="seeded"))  # placed by hand
    return start_server(store)


def test_a_namespace_of_a_hand_placed_bundle_is_refused_before_the_bytes(server) -> None:
    error, chunks = _refused_early(server.stub(), namespace="seeded")
    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    assert error_info(error).reason == "NAMESPACE_OWNED"
    assert chunks < CHUNKS


def test_a_version_that_exists_is_refused_before_the_bytes(server, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "src", "mine", ECHO.format(name="mine"))
    with Client(server.address, timeout=60) as client:
        assert client.upload(bundle, skip_load=True).model.version == "1"
    error, chunks = _refused_early(server.stub(), namespace="mine", version="1")
    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    assert error_info(error).reason == "VERSION_EXISTS"
    assert chunks < CHUNKS


def test_a_malformed_namespace_is_refused_before_the_bytes(server) -> None:
    error, chunks = _refused_early(server.stub(), namespace="../up")
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert chunks < CHUNKS
