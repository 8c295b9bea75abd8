"""The Upload RPC through the generated stub and the public client: verify, check, store, serve."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from clients import (
    AlreadyExistsError,
    Client,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from modelrt.v1 import model_pb2, runtime_pb2
from tests.bundle_factory import write_bundle, zip_folder
from tests.integration.status_details import error_info

pytestmark = pytest.mark.timeout(120)

DOUBLER = """
    from registry import ModelRunner, register

    @register("{name}")
    class Doubler(ModelRunner):
        def predict(self, request):
            return {{"y": request["x"] * {factor}}}
"""

OTHER_CLASS = """
    from registry import ModelRunner, register

    @register("{name}")
    class SomethingElse(ModelRunner):
        def predict(self, request):
            return {{"y": request["x"]}}
"""


def _bundle(root: Path, name: str, factor: int = 2, source: str = DOUBLER) -> Path:
    return write_bundle(
        root, name, source.format(name=name, factor=factor), folder=f"{name}-{factor}"
    )


def _zip(tmp_path: Path, folder: Path) -> bytes:
    return zip_folder(folder, tmp_path / f"{folder.name}.zip").read_bytes()


def _messages(
    data: bytes, *, chunk: int = 4096, **header: object
) -> Iterator[runtime_pb2.UploadRequest]:
    fields = {"total_size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **header}
    yield runtime_pb2.UploadRequest(header=runtime_pb2.UploadHeader(**fields))  # type: ignore[arg-type]
    for start in range(0, len(data), chunk):
        yield runtime_pb2.UploadRequest(chunk=data[start : start + chunk])


def _leftovers(store: Path) -> list[Path]:
    staging = store / ".staging"
    return sorted(staging.iterdir()) if staging.exists() else []


def test_upload_stores_a_new_version_and_serves_it(start_server, tmp_path: Path) -> None:
    server = start_server()
    data = _zip(tmp_path, _bundle(tmp_path, "doubler"))
    card = model_pb2.ModelCard(
        model_type=model_pb2.MODEL_TYPE_OTHER, framework=model_pb2.FRAMEWORK_OTHER, description="x2"
    )

    reply = server.stub().Upload(_messages(data, namespace="doubler", card=card), timeout=60)

    assert reply.model.name == "doubler"
    assert reply.model.version == "1"
    assert reply.model.state == model_pb2.MODEL_STATE_READY
    assert reply.model.card.description == "x2"
    assert reply.sha256 == hashlib.sha256(data).hexdigest()
    with Client(server.address, timeout=30) as client:
        out = client.predict("doubler", {"x": np.arange(3.0)}).outputs["y"]
    np.testing.assert_array_equal(out, [0.0, 2.0, 4.0])
    manifest = server.store / "doubler" / "1" / "manifest.json"
    assert '"sha256": "' + reply.sha256 in manifest.read_text(encoding="utf-8")
    assert _leftovers(server.store) == []


def test_versions_are_numbered_and_the_newest_ready_one_answers(
    start_server, tmp_path: Path
) -> None:
    server = start_server()
    with Client(server.address, timeout=60) as client:
        first = client.upload(_bundle(tmp_path, "scaler", factor=2))
        second = client.upload(_bundle(tmp_path, "scaler", factor=3))
        assert (first.model.version, second.model.version) == ("1", "2")
        x = {"x": np.ones(2)}
        np.testing.assert_array_equal(client.predict("scaler", x).outputs["y"], [3.0, 3.0])
        np.testing.assert_array_equal(
            client.predict("scaler", x, version="1").outputs["y"], [2.0, 2.0]
        )
        client.unload_model("scaler", "2")
        np.testing.assert_array_equal(client.predict("scaler", x).outputs["y"], [2.0, 2.0])
        assert client.delete_model("scaler", "1") == ["1"]
        assert [m.version for m in client.list_models("scaler")] == ["2"]
        assert not (server.store / "scaler" / "1").exists()
        assert client.delete_model("scaler") == ["2"]
        with pytest.raises(NotFoundError):
            client.get_model("scaler")
        assert client.list_models("scaler") == []
    assert not (server.store / "scaler").exists()


def test_concurrent_uploads_of_one_namespace_get_distinct_versions(
    start_server, tmp_path: Path
) -> None:
    server = start_server()
    folders = [_bundle(tmp_path, "many", factor=f) for f in (2, 3, 4)]
    versions: list[str] = []

    def upload(folder: Path) -> None:
        with Client(server.address, timeout=90) as client:
            versions.append(client.upload(folder, skip_load=True).model.version)

    threads = [threading.Thread(target=upload, args=(f,)) for f in folders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(100)

    assert sorted(versions) == ["1", "2", "3"]
    assert sorted(p.name for p in (server.store / "many").iterdir() if p.is_dir()) == [
        "1",
        "2",
        "3",
    ]


def test_skip_load_stores_the_version_unloaded(start_server, tmp_path: Path) -> None:
    server = start_server()
    with Client(server.address, timeout=60) as client:
        result = client.upload(_bundle(tmp_path, "later"), skip_load=True)
        assert result.model.state == "UNLOADED"
        assert client.load_model("later").state == "READY"


def test_sha256_mismatch_is_data_loss_and_leaves_nothing(start_server, tmp_path: Path) -> None:
    server = start_server()
    data = _zip(tmp_path, _bundle(tmp_path, "bad-sha"))
    messages = list(_messages(data, namespace="bad-sha"))
    messages[0].header.sha256 = "0" * 64

    with pytest.raises(grpc.RpcError) as caught:
        server.stub().Upload(iter(messages), timeout=60)

    assert caught.value.code() is grpc.StatusCode.DATA_LOSS
    assert "sha256" in caught.value.details()
    assert error_info(caught.value).reason == "UPLOAD_CORRUPT"
    assert _leftovers(server.store) == []
    assert not (server.store / "bad-sha").exists()


def test_a_short_upload_is_data_loss(start_server, tmp_path: Path) -> None:
    server = start_server()
    data = _zip(tmp_path, _bundle(tmp_path, "short"))
    messages = list(_messages(data, namespace="short"))[:-1]  # the last chunk never comes

    with pytest.raises(grpc.RpcError) as caught:
        server.stub().Upload(iter(messages), timeout=60)

    assert caught.value.code() is grpc.StatusCode.DATA_LOSS
    assert "cut short" in caught.value.details()


def test_an_announced_size_over_the_limit_is_refused_before_any_chunk(
    start_server, tmp_path: Path
) -> None:
    server = start_server(max_upload_bytes=10_000)
    header = runtime_pb2.UploadHeader(namespace="big", total_size=10_001, sha256="0" * 64)

    def stream() -> Iterator[runtime_pb2.UploadRequest]:
        yield runtime_pb2.UploadRequest(header=header)
        gate.wait(30)  # the server must answer without waiting for these
        yield runtime_pb2.UploadRequest(chunk=b"x" * 10_001)

    gate = threading.Event()
    try:
        with pytest.raises(grpc.RpcError) as caught:
            server.stub().Upload(stream(), timeout=20)
    finally:
        gate.set()
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_bytes_past_the_limit_are_refused_as_soon_as_it_is_crossed(
    start_server, tmp_path: Path
) -> None:
    server = start_server(max_upload_bytes=50_000)
    gate = threading.Event()

    def stream() -> Iterator[runtime_pb2.UploadRequest]:
        # The header lies about the size; the limit still holds, counted on the bytes.
        yield runtime_pb2.UploadRequest(
            header=runtime_pb2.UploadHeader(namespace="liar", total_size=100, sha256="0" * 64)
        )
        yield runtime_pb2.UploadRequest(chunk=b"x" * 60_000)
        gate.wait(30)  # never sent: the answer comes first
        yield runtime_pb2.UploadRequest(chunk=b"x")

    try:
        with pytest.raises(grpc.RpcError) as caught:
            server.stub().Upload(stream(), timeout=20)
    finally:
        gate.set()
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _leftovers(server.store) == []


def test_an_invalid_bundle_is_invalid_argument_with_the_reason(
    start_server, tmp_path: Path
) -> None:
    server = start_server()
    broken = write_bundle(tmp_path, "broken", "import module_that_does_not_exist_anywhere\n")
    with (
        Client(server.address, timeout=60) as client,
        pytest.raises(InvalidArgumentError) as caught,
    ):
        client.upload(broken)
    assert "module_that_does_not_exist_anywhere" in str(caught.value)
    assert not (server.store / "broken").exists()
    assert _leftovers(server.store) == []


def test_a_refused_upload_keeps_the_errors_reason_and_metadata(start_server, tmp_path: Path):
    server = start_server(strict_requirements=True)
    pinned = _bundle(tmp_path, "pinned")
    (pinned / "requirements.txt").write_text("numpy==0.0.1\n", encoding="utf-8")
    with (
        Client(server.address, timeout=60) as client,
        pytest.raises(FailedPreconditionError) as caught,
    ):
        client.upload(pinned)
    assert caught.value.reason == "REQUIREMENTS_NOT_MET"
    assert caught.value.metadata["packages"] == "numpy"
    assert _leftovers(server.store) == []


def test_a_bundle_whose_import_kills_the_process_fails_only_its_upload(
    start_server, tmp_path: Path
) -> None:
    server = start_server()
    killer = write_bundle(tmp_path, "killer", "import os\nos._exit(3)\n")
    with Client(server.address, timeout=60) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            client.upload(killer)
        assert "exit code 3" in str(caught.value)
        assert client.upload(_bundle(tmp_path, "survivor")).model.state == "READY"


def test_the_namespace_must_match_the_bundle(start_server, tmp_path: Path) -> None:
    server = start_server()
    with (
        Client(server.address, timeout=60) as client,
        pytest.raises(InvalidArgumentError) as caught,
    ):
        client.upload(_bundle(tmp_path, "actual"), namespace="claimed")
    assert "'actual'" in str(caught.value)
    assert "'claimed'" in str(caught.value)


def test_a_namespace_owned_by_another_model_is_already_exists(start_server, tmp_path: Path) -> None:
    seed_store = tmp_path / "store"
    write_bundle(seed_store, "seeded", DOUBLER.format(name="seeded", factor=2))
    server = start_server(store=seed_store)
    other = write_bundle(tmp_path / "o", "owned", OTHER_CLASS.format(name="owned"))
    with Client(server.address, timeout=60) as client:
        client.upload(_bundle(tmp_path, "owned"))
        with pytest.raises(AlreadyExistsError) as caught:
            client.upload(other)
        assert "Doubler" in str(caught.value)
        with pytest.raises(AlreadyExistsError):
            client.upload(_bundle(tmp_path, "seeded", factor=5))
        with pytest.raises(AlreadyExistsError):
            client.upload(_bundle(tmp_path, "owned", factor=4), version="1")


def test_the_first_message_must_be_a_header(start_server) -> None:
    server = start_server()
    with pytest.raises(grpc.RpcError) as caught:
        server.stub().Upload(iter([runtime_pb2.UploadRequest(chunk=b"zip")]), timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "header" in caught.value.details()


def test_a_client_that_cancels_mid_upload_leaves_nothing_behind(
    start_server, tmp_path: Path
) -> None:
    server = start_server()
    data = _zip(tmp_path, _bundle(tmp_path, "gone"))
    sent_half = threading.Event()
    release = threading.Event()

    def stream() -> Iterator[runtime_pb2.UploadRequest]:
        messages = list(_messages(data, namespace="gone", chunk=256))
        yield from messages[: len(messages) // 2]
        sent_half.set()
        release.wait(30)
        yield from messages[len(messages) // 2 :]

    call = server.stub().Upload.future(stream(), timeout=60)
    assert sent_half.wait(30)
    deadline_checks = 200
    while not _leftovers(server.store) and deadline_checks:  # the server has started staging
        threading.Event().wait(0.02)
        deadline_checks -= 1
    call.cancel()
    release.set()
    for _ in range(250):
        if not _leftovers(server.store):
            break
        threading.Event().wait(0.02)
    assert _leftovers(server.store) == []
    assert not (server.store / "gone").exists()


def test_client_upload_of_a_zip_reports_progress_to_the_last_byte(
    start_server, tmp_path: Path
) -> None:
    server = start_server()
    archive = zip_folder(_bundle(tmp_path, "zipped"), tmp_path / "zipped.zip")
    seen: list[tuple[int, int]] = []

    with Client(server.address, timeout=60) as client:
        result = client.upload(archive, chunk_bytes=100, progress=lambda s, t: seen.append((s, t)))

    size = archive.stat().st_size
    assert result.model.state == "READY"
    assert result.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert len(seen) == -(-size // 100)
    assert seen[-1] == (size, size)
