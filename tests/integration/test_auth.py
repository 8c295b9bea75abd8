"""Bearer tokens against a real server: management and inference RPCs, the SDK and the CLI."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from clients import AsyncClient, Client, PermissionDeniedError, UnauthenticatedError
from clients.cli.commands import cli
from modelrt.v1 import runtime_pb2, value_pb2
from tests.bundle_factory import write_bundle, zip_folder
from tests.integration.status_details import error_info
from tests.integration.test_client import CHAT, ECHO, TOKENS

pytestmark = pytest.mark.timeout(120)

ADMIN, INFERENCE = "admin-s3cret-token", "inference-s3cret-token"
MODELRT = Path(sys.executable).parent / "modelrt"


def _store(root: Path) -> Path:
    write_bundle(root, "echo", ECHO)
    write_bundle(root, "tokens", TOKENS)
    write_bundle(root, "chat", CHAT)
    return root


@pytest.fixture
def admin_server(start_server, tmp_path: Path):
    """Only an admin token: management RPCs need it, inference RPCs are open."""
    return start_server(_store(tmp_path / "store"), admin_token=ADMIN, execution="inprocess")


@pytest.fixture
def guarded_server(start_server, tmp_path: Path):
    """An admin token and an inference token."""
    return start_server(
        _store(tmp_path / "store"),
        admin_token=ADMIN,
        inference_token=INFERENCE,
        execution="inprocess",
    )


def _metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return () if token is None else (("authorization", f"Bearer {token}"),)


def _upload_requests(tmp_path: Path) -> Iterator[runtime_pb2.UploadRequest]:
    """A real tiny bundle as an Upload stream: the header, then the zip in two chunks."""
    folder = write_bundle(tmp_path / "upload", "uploaded", ECHO.replace('"echo"', '"uploaded"'))
    data = zip_folder(folder, tmp_path / "uploaded.zip").read_bytes()
    header = runtime_pb2.UploadHeader(
        namespace="uploaded", total_size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    yield runtime_pb2.UploadRequest(header=header)
    half = len(data) // 2
    yield runtime_pb2.UploadRequest(chunk=data[:half])
    yield runtime_pb2.UploadRequest(chunk=data[half:])


def _management_calls(stub: Any, tmp_path: Path) -> dict[str, Callable[..., Any]]:
    return {
        "LoadModel": lambda md: stub.LoadModel(
            runtime_pb2.LoadModelRequest(name="echo"), metadata=md, timeout=10
        ),
        "UnloadModel": lambda md: stub.UnloadModel(
            runtime_pb2.UnloadModelRequest(name="echo"), metadata=md, timeout=10
        ),
        "DeleteModel": lambda md: stub.DeleteModel(
            runtime_pb2.DeleteModelRequest(name="echo"), metadata=md, timeout=10
        ),
        "Upload": lambda md: stub.Upload(_upload_requests(tmp_path), metadata=md, timeout=30),
    }


def _inference_calls(stub: Any) -> dict[str, Callable[..., Any]]:
    text = {"text": value_pb2.Value(text="hi")}
    return {
        "Predict": lambda md: stub.Predict(
            runtime_pb2.PredictRequest(model="echo", inputs=text), metadata=md, timeout=10
        ),
        "Generate": lambda md: list(
            stub.Generate(runtime_pb2.GenerateRequest(model="tokens"), metadata=md, timeout=10)
        ),
        "Stream": lambda md: list(
            stub.Stream(
                iter([runtime_pb2.StreamRequest(model="chat", inputs=text)]),
                metadata=md,
                timeout=10,
            )
        ),
        "ListModels": lambda md: stub.ListModels(
            runtime_pb2.ListModelsRequest(), metadata=md, timeout=10
        ),
        "GetModel": lambda md: stub.GetModel(
            runtime_pb2.GetModelRequest(name="echo"), metadata=md, timeout=10
        ),
    }


def _refusal(call: Callable[..., Any], metadata: tuple[tuple[str, str], ...]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(metadata)
    return caught.value


# --- management RPCs ---------------------------------------------------------------------------


def test_management_rpcs_without_a_token_are_unauthenticated(admin_server, tmp_path) -> None:
    for name, call in _management_calls(admin_server.stub(), tmp_path).items():
        error = _refusal(call, ())
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED, name
        assert "Bearer <token>" in (error.details() or "")
        info = error_info(error)
        assert (info.reason, dict(info.metadata)) == ("MISSING_TOKEN", {"method": name})
    with Client(admin_server.address, timeout=10) as client:
        assert [m.name for m in client.list_models()] == ["chat", "echo", "tokens"]
        assert client.get_model("echo").state == "READY"


def test_management_rpcs_with_a_wrong_token_are_unauthenticated(admin_server, tmp_path) -> None:
    wrong = "not-the-admin-token"
    for name, call in _management_calls(admin_server.stub(), tmp_path).items():
        error = _refusal(call, _metadata(wrong))
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED, name
        assert error_info(error).reason == "INVALID_TOKEN"
        assert wrong not in (error.details() or "")
        assert ADMIN not in (error.details() or "")
    with Client(admin_server.address, timeout=10, token=wrong) as client:
        with pytest.raises(UnauthenticatedError, match="INVALID_TOKEN"):
            client.unload_model("echo")
        assert client.get_model("echo").state == "READY"


def test_admin_token_unlocks_the_lifecycle_rpcs(admin_server) -> None:
    with Client(admin_server.address, timeout=30, token=ADMIN) as client:
        assert [m.state for m in client.unload_model("echo")] == ["UNLOADED"]
        assert client.load_model("echo").state == "READY"
        assert client.delete_model("chat") == ["1"]
        assert [m.name for m in client.list_models()] == ["echo", "tokens"]


def test_upload_with_the_admin_token_gets_past_access_control(admin_server, tmp_path) -> None:
    upload = _management_calls(admin_server.stub(), tmp_path)["Upload"]
    outcome = grpc.StatusCode.OK
    try:
        upload(_metadata(ADMIN))
    except grpc.RpcError as exc:  # the RPC itself may not be served by this build yet
        outcome = exc.code()
    assert outcome not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def test_inference_rpcs_need_no_token_when_only_an_admin_token_is_set(admin_server) -> None:
    for name, call in _inference_calls(admin_server.stub()).items():
        assert call(()) is not None, name


# --- inference RPCs ----------------------------------------------------------------------------


def test_inference_token_guards_every_inference_rpc(guarded_server) -> None:
    for name, call in _inference_calls(guarded_server.stub()).items():
        for metadata, reason in ((), "MISSING_TOKEN"), (_metadata("wrong"), "INVALID_TOKEN"):
            error = _refusal(call, metadata)
            assert error.code() is grpc.StatusCode.UNAUTHENTICATED, name
            assert error_info(error).reason == reason


@pytest.mark.parametrize("token", [INFERENCE, ADMIN])
def test_inference_or_admin_token_opens_every_inference_rpc(guarded_server, token: str) -> None:
    for name, call in _inference_calls(guarded_server.stub()).items():
        assert call(_metadata(token)) is not None, name
    with Client(guarded_server.address, timeout=10, token=token) as client:
        assert client.predict("echo", {"text": "hi"}).structured["text"] == "hi"
        assert [item.structured for item in client.generate("tokens", {}, parameters={"n": 2})]
        assert len(list(client.stream("chat", [{"text": "a"}, {"text": "b"}]))) == 2
        assert client.get_model("echo").state == "READY"
        assert len(client.list_models()) == 3


def test_inference_token_does_not_open_management_rpcs(guarded_server, tmp_path) -> None:
    # The caller is known, only not allowed to manage: PERMISSION_DENIED, not UNAUTHENTICATED
    for name, call in _management_calls(guarded_server.stub(), tmp_path).items():
        error = _refusal(call, _metadata(INFERENCE))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED, name
        assert error_info(error).reason == "ADMIN_TOKEN_REQUIRED"
        assert "admin token" in (error.details() or "")
        assert INFERENCE not in (error.details() or "")
    with Client(guarded_server.address, timeout=10, token=INFERENCE) as client:
        with pytest.raises(PermissionDeniedError, match="ADMIN_TOKEN_REQUIRED"):
            client.unload_model("echo")
        assert client.get_model("echo").state == "READY"
    with (
        Client(guarded_server.address, timeout=10, token="neither") as client,
        pytest.raises(UnauthenticatedError, match="INVALID_TOKEN"),
    ):
        client.unload_model("echo")


def test_health_and_reflection_need_no_token(guarded_server) -> None:
    health = guarded_server.health()
    reply = health.Check(health_pb2.HealthCheckRequest(service="echo"), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflect = guarded_server.channel().stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    answer = next(iter(reflect(iter([request]), timeout=10)))
    names = {service.name for service in answer.list_services_response.service}
    assert "modelrt.v1.ModelRuntime" in names
    with Client(guarded_server.address, timeout=10) as client:
        assert client.health() == "SERVING"


def test_async_client_sends_its_token_on_every_kind_of_call(guarded_server) -> None:
    async def scenario() -> None:
        async with AsyncClient(guarded_server.address, timeout=10, token=INFERENCE) as client:
            assert (await client.predict("echo", {"text": "hi"})).structured["text"] == "hi"
            assert len(await client.list_models()) == 3
            items = [item async for item in client.generate("tokens", parameters={"n": 2})]
            assert len(items) == 2
            streamed = [item async for item in client.stream("chat", [{"text": "a"}])]
            assert len(streamed) == 1
        async with AsyncClient(guarded_server.address, timeout=10, token=ADMIN) as client:
            assert (await client.load_model("echo")).state == "READY"
        async with AsyncClient(guarded_server.address, timeout=10) as client:
            with pytest.raises(UnauthenticatedError, match="MISSING_TOKEN"):
                await client.predict("echo", {"text": "hi"})

    asyncio.run(scenario())


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_sends_the_token_from_the_environment_or_the_flag(guarded_server) -> None:
    runner = CliRunner()
    base = ["--address", guarded_server.address]
    result = runner.invoke(cli, [*base, "models"], env={"MODELRT_TOKEN": INFERENCE})
    assert result.exit_code == 0, result.output
    assert "echo" in result.stdout

    refused = runner.invoke(cli, [*base, "models"], env={"MODELRT_TOKEN": None})
    assert refused.exit_code == 1
    lines = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1
    assert lines[0].startswith("error: UNAUTHENTICATED: ")
    assert "[MISSING_TOKEN]" in lines[0]

    flagged = runner.invoke(cli, [*base, "--token", ADMIN, "unload", "echo"])
    assert flagged.exit_code == 0, flagged.output
    assert flagged.stdout.strip() == "echo 1 UNLOADED"


def test_modelrt_script_reads_the_token_from_modelrt_token(guarded_server) -> None:
    command = [str(MODELRT), "--address", guarded_server.address, "predict", "echo", "-i", "t=x"]
    env = {**os.environ, "MODELRT_TOKEN": INFERENCE}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    env.pop("MODELRT_TOKEN")
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "UNAUTHENTICATED" in refused.stderr
    assert INFERENCE not in refused.stderr
