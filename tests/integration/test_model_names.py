"""Model names on every RPC: "" or a malformed name is INVALID_ARGUMENT, never "every model";
the health service's own names are reserved; a FAILED bundle keeps its own reason."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
import yaml
from click.testing import CliRunner
from grpc_health.v1 import health_pb2

from clients.cli.commands import cli
from modelrt import codec
from modelrt.v1 import model_pb2, runtime_pb2
from runtime.engine.models import InvalidModelNameError
from tests.bundle_factory import write_bundle, zip_folder
from tests.integration.status_details import error_info

pytestmark = pytest.mark.timeout(120)

ECHO = """
    from registry import ModelRunner, register

    @register("{name}")
    class Echo(ModelRunner):
        def predict(self, request):
            return {{"model": "{name}"}}

        def generate(self, request):
            yield {{"model": "{name}"}}

        def stream(self, requests):
            for _ in requests:
                yield {{"model": "{name}"}}
"""
SERVING = health_pb2.HealthCheckResponse.SERVING


def _store(root: Path, *names: str) -> Path:
    for name in names:
        write_bundle(root, name, ECHO.format(name=name))
    return root


def _state(value: int) -> str:
    return model_pb2.ModelState.Name(value).removeprefix("MODEL_STATE_")


def _states(stub) -> dict[str, str]:
    reply = stub.ListModels(runtime_pb2.ListModelsRequest(), timeout=10)
    return {model.name: _state(model.state) for model in reply.models}


def _refused(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error_info(error).reason == "INVALID_MODEL_NAME"
    return error


def _every_rpc(stub, name: str, version: str = "") -> dict[str, Callable[[], object]]:
    """Each RPC that takes a model name, called with ``name``."""
    stream = iter([runtime_pb2.StreamRequest(model=name, version=version)])
    return {
        "Predict": lambda: stub.Predict(
            runtime_pb2.PredictRequest(model=name, version=version), timeout=10
        ),
        "Generate": lambda: list(
            stub.Generate(runtime_pb2.GenerateRequest(model=name, version=version), timeout=10)
        ),
        "Stream": lambda: list(stub.Stream(stream, timeout=10)),
        "GetModel": lambda: stub.GetModel(
            runtime_pb2.GetModelRequest(name=name, version=version), timeout=10
        ),
        "LoadModel": lambda: stub.LoadModel(
            runtime_pb2.LoadModelRequest(name=name, version=version), timeout=30
        ),
        "UnloadModel": lambda: stub.UnloadModel(
            runtime_pb2.UnloadModelRequest(name=name, version=version), timeout=30
        ),
        "DeleteModel": lambda: stub.DeleteModel(
            runtime_pb2.DeleteModelRequest(name=name, version=version), timeout=30
        ),
    }


def test_an_empty_name_is_refused_on_every_rpc_and_no_model_is_touched(
    start_server, tmp_path: Path
) -> None:
    store = _store(tmp_path / "store", "alpha", "beta")
    server = start_server(store)
    stub = server.stub()
    for rpc, call in _every_rpc(stub, "").items():
        error = _refused(call)
        assert "is empty" in error.details(), (rpc, error.details())
    assert _states(stub) == {"alpha": "READY", "beta": "READY"}
    assert (store / "alpha").is_dir()
    assert (store / "beta").is_dir()
    for name in ("alpha", "beta"):
        reply = stub.Predict(runtime_pb2.PredictRequest(model=name), timeout=10)
        assert codec.json_to_python(reply.structured) == {"model": name}


@pytest.mark.parametrize(
    ("name", "version", "problem"),
    [
        ("../beta", "", "is not a model name"),
        ("alpha/beta", "", "is not a model name"),
        ("al pha", "", "is not a model name"),
        ("alpha", "../1", "is not a version"),
    ],
)
def test_a_malformed_name_or_version_is_refused_naming_the_problem(
    start_server, tmp_path: Path, name: str, version: str, problem: str
) -> None:
    server = start_server(_store(tmp_path / "store", "alpha"))
    stub = server.stub()
    for rpc, call in _every_rpc(stub, name, version).items():
        error = _refused(call)
        assert problem in error.details(), (rpc, error.details())
    assert _states(stub) == {"alpha": "READY"}


def test_the_engine_itself_never_takes_an_empty_name_for_every_model(
    start_server, tmp_path: Path
) -> None:
    server = start_server(_store(tmp_path / "store", "alpha"))
    engine = server.server.engine
    assert engine is not None
    for action in (engine.delete, engine.unload, engine.load):
        with pytest.raises(InvalidModelNameError):
            server.run(action(""))
    with pytest.raises(InvalidModelNameError):
        engine.get("")
    assert [record.name for record in engine.records()] == ["alpha"]
    assert _states(server.stub()) == {"alpha": "READY"}


@pytest.mark.parametrize("command", ["delete", "unload", "load", "get"])
def test_the_cli_says_an_empty_name_is_refused_and_changes_nothing(
    start_server, tmp_path: Path, command: str
) -> None:
    server = start_server(_store(tmp_path / "store", "alpha"))
    extra = ["--yes"] if command == "delete" else []
    result = CliRunner().invoke(cli, ["--address", server.address, command, "", *extra])
    assert result.exit_code != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "is empty" in errors[0]
    assert _states(server.stub()) == {"alpha": "READY"}


def test_a_bundle_named_liveness_is_failed_and_the_probe_stays_the_servers(
    start_server, tmp_path: Path
) -> None:
    store = _store(tmp_path / "store", "alpha", "liveness")
    server = start_server(store)
    stub, health = server.stub(), server.health()
    models = {m.name: m for m in stub.ListModels(runtime_pb2.ListModelsRequest()).models}
    assert _state(models["liveness"].state) == "FAILED"
    assert "'liveness' is reserved" in models["liveness"].reason
    for call in _every_rpc(stub, "liveness").values():
        assert "is reserved" in _refused(call).details()
    assert (store / "liveness").is_dir()  # refused, not deleted
    check = health_pb2.HealthCheckRequest(service="liveness")
    assert health.Check(check, timeout=5).status == SERVING
    stub.UnloadModel(runtime_pb2.UnloadModelRequest(name="alpha"), timeout=30)
    stub.DeleteModel(runtime_pb2.DeleteModelRequest(name="alpha"), timeout=30)
    assert health.Check(check, timeout=5).status == SERVING


def test_an_upload_may_not_take_a_reserved_name(start_server, tmp_path: Path) -> None:
    server = start_server()
    stub = server.stub()
    folder = write_bundle(tmp_path / "bundles", "liveness", ECHO.format(name="liveness"))
    data = zip_folder(folder, tmp_path / "liveness.zip").read_bytes()

    def upload(**header: str) -> object:
        fields = {"total_size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **header}
        messages = [
            runtime_pb2.UploadRequest(header=runtime_pb2.UploadHeader(**fields)),  # type: ignore[arg-type]
            runtime_pb2.UploadRequest(chunk=data),
        ]
        return stub.Upload(iter(messages), timeout=60)

    refused = _refused(lambda: upload(namespace="liveness"))
    assert "namespace 'liveness' is reserved" in refused.details()
    with pytest.raises(grpc.RpcError) as caught:
        upload()  # the bundle's own name
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'liveness' is reserved" in caught.value.details()
    assert _states(stub) == {}
    health = health_pb2.HealthCheckRequest(service="liveness")
    assert server.health().Check(health, timeout=5).status == SERVING


def test_load_shows_the_bundles_own_failed_reason(start_server, tmp_path: Path) -> None:
    store = tmp_path / "store"
    folder = write_bundle(store, "typo", ECHO.format(name="typo"))
    config = folder / "modelrt.yaml"
    config.write_text(yaml.safe_dump({"name": "typo", "descripton": "x"}), encoding="utf-8")
    server = start_server(store)
    stub = server.stub()
    wanted = "modelrt.yaml: unknown key 'descripton'"
    reply = stub.LoadModel(runtime_pb2.LoadModelRequest(name="typo"), timeout=30)
    assert _state(reply.model.state) == "FAILED"
    assert wanted in reply.model.reason
    got = stub.GetModel(runtime_pb2.GetModelRequest(name="typo"), timeout=10).model
    assert wanted in got.reason
    listed = stub.ListModels(runtime_pb2.ListModelsRequest(), timeout=10).models
    assert [wanted in model.reason for model in listed] == [True]
    result = CliRunner().invoke(cli, ["--address", server.address, "load", "typo"])
    assert result.exit_code == 1
    assert wanted in result.stderr
    shown = CliRunner().invoke(cli, ["--address", server.address, "get", "typo"])
    assert wanted in shown.stdout
