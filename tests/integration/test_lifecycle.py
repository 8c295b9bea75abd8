"""Model states and the lifecycle RPCs: failures never stop the server; load, unload, delete."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from modelrt import codec
from modelrt.v1 import model_pb2, runtime_pb2
from tests.bundle_factory import write_bundle
from tests.integration.status_details import error_info

GOOD = """
    import pydantic
    from registry import ModelRunner, register, outschema

    @outschema("{name}")
    class Out(pydantic.BaseModel):
        answer: int

    @register("{name}")
    class Model(ModelRunner):
        def predict(self, request):
            return {{"answer": 42}}
"""

BROKEN_IMPORT = """
    import module_that_does_not_exist_anywhere
"""

LOAD_RAISES = """
    from registry import ModelRunner, register

    @register("load-raises")
    class Model(ModelRunner):
        def load_model(self):
            raise OSError("weights.bin is corrupt")

        def predict(self, request):
            return {}
"""


def _good(name: str) -> str:
    return GOOD.format(name=name)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    write_bundle(store, "good", _good("good"), config={"description": "answers 42"})
    write_bundle(store, "broken-import", BROKEN_IMPORT)
    write_bundle(store, "load-raises", LOAD_RAISES)
    write_bundle(store, "wrong-namespace", _good("something-else"))
    write_bundle(store, "bad-config", _good("bad-config"), config={"batchng": {}})
    return store


def _models(server) -> dict[str, model_pb2.Model]:
    reply = server.stub().ListModels(runtime_pb2.ListModelsRequest(), timeout=10)
    return {m.name: m for m in reply.models}


def _health(server, service: str) -> int:
    return server.health().Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_failed_bundles_are_listed_with_reasons_and_the_rest_serve(start_server, store) -> None:
    server = start_server(store)
    models = _models(server)
    assert models["good"].state == model_pb2.MODEL_STATE_READY
    reasons = {name: m.reason for name, m in models.items() if name != "good"}
    assert all(models[name].state == model_pb2.MODEL_STATE_FAILED for name in reasons), models
    assert "module_that_does_not_exist_anywhere" in reasons["broken-import"]
    assert "OSError: weights.bin is corrupt" in reasons["load-raises"]
    assert "registered: something-else" in reasons["wrong-namespace"]
    assert "unknown key 'batchng'" in reasons["bad-config"]
    # Readiness is about loading having finished, not about every model being healthy.
    assert _health(server, "") == health_pb2.HealthCheckResponse.SERVING
    assert _health(server, "good") == health_pb2.HealthCheckResponse.SERVING
    assert _health(server, "load-raises") == health_pb2.HealthCheckResponse.NOT_SERVING
    reply = server.stub().Predict(runtime_pb2.PredictRequest(model="good"), timeout=10)
    assert codec.json_to_python(reply.structured) == {"answer": 42}


def test_calling_a_failed_model_is_unavailable_with_its_reason(start_server, store) -> None:
    server = start_server(store)
    with pytest.raises(grpc.RpcError) as caught:
        server.stub().Predict(runtime_pb2.PredictRequest(model="load-raises"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "FAILED" in caught.value.details()
    assert "weights.bin is corrupt" in caught.value.details()
    assert error_info(caught.value).reason == "MODEL_NOT_READY"


def test_get_model_describes_card_capabilities_and_output_schema(start_server, store) -> None:
    server = start_server(store)
    model = server.stub().GetModel(runtime_pb2.GetModelRequest(name="good"), timeout=10).model
    assert (model.name, model.version) == ("good", "1")
    assert model.card.description == "answers 42"
    assert list(model.capabilities) == ["predict"]
    assert model.format == model_pb2.BUNDLE_FORMAT_NATIVE
    schema = codec.struct_to_dict(model.output_schema)
    assert schema["properties"]["answer"]["type"] == "integer"
    with pytest.raises(grpc.RpcError) as caught:
        server.stub().GetModel(runtime_pb2.GetModelRequest(name="missing"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_unload_then_load_moves_state_and_health(start_server, store) -> None:
    server = start_server(store)
    stub = server.stub()
    unloaded = stub.UnloadModel(runtime_pb2.UnloadModelRequest(name="good"), timeout=10)
    assert [m.state for m in unloaded.models] == [model_pb2.MODEL_STATE_UNLOADED]
    with pytest.raises(grpc.RpcError) as caught:
        stub.Predict(runtime_pb2.PredictRequest(model="good"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert _health(server, "good") == health_pb2.HealthCheckResponse.NOT_SERVING

    loaded = stub.LoadModel(runtime_pb2.LoadModelRequest(name="good"), timeout=30)
    assert loaded.model.state == model_pb2.MODEL_STATE_READY
    assert _health(server, "good") == health_pb2.HealthCheckResponse.SERVING
    stub.Predict(runtime_pb2.PredictRequest(model="good"), timeout=10)


def test_load_model_after_fixing_a_bundle_reloads_it(start_server, store) -> None:
    server = start_server(store)
    (store / "load-raises" / "model.py").write_text(textwrap.dedent(_good("load-raises")))
    reply = server.stub().LoadModel(runtime_pb2.LoadModelRequest(name="load-raises"), timeout=30)
    assert reply.model.state == model_pb2.MODEL_STATE_READY
    assert reply.model.reason == ""


def test_load_model_finds_a_bundle_added_after_start(start_server, store, tmp_path) -> None:
    server = start_server(store)
    write_bundle(tmp_path / "later", "late", _good("late"))
    shutil.copytree(tmp_path / "later" / "late", store / "late")
    reply = server.stub().LoadModel(runtime_pb2.LoadModelRequest(name="late"), timeout=30)
    assert reply.model.state == model_pb2.MODEL_STATE_READY
    server.stub().Predict(runtime_pb2.PredictRequest(model="late"), timeout=10)


def test_delete_removes_the_model_and_its_files(start_server, store) -> None:
    server = start_server(store)
    stub = server.stub()
    reply = stub.DeleteModel(runtime_pb2.DeleteModelRequest(name="good"), timeout=10)
    assert list(reply.versions) == ["1"]
    assert not (store / "good").exists()
    assert "good" not in _models(server)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Predict(runtime_pb2.PredictRequest(model="good"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        _health(server, "good")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_lifecycle_calls_on_unknown_models_are_not_found(start_server, store) -> None:
    stub = start_server(store).stub()
    calls = [
        (stub.LoadModel, runtime_pb2.LoadModelRequest(name="ghost")),
        (stub.UnloadModel, runtime_pb2.UnloadModelRequest(name="ghost")),
        (stub.DeleteModel, runtime_pb2.DeleteModelRequest(name="ghost")),
    ]
    for method, request in calls:
        with pytest.raises(grpc.RpcError) as caught:
            method(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_upload_header_without_size_or_sha256_is_invalid_argument(start_server, store) -> None:
    stub = start_server(store).stub()
    header = runtime_pb2.UploadRequest(header=runtime_pb2.UploadHeader(namespace="x"))
    with pytest.raises(grpc.RpcError) as caught:
        stub.Upload(iter([header]), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "total_size" in caught.value.details()
    sized = runtime_pb2.UploadHeader(namespace="x", total_size=3, sha256="not-hex")
    with pytest.raises(grpc.RpcError) as caught:
        stub.Upload(iter([runtime_pb2.UploadRequest(header=sized)]), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sha256" in caught.value.details()


def test_requirement_mismatch_is_a_warning_by_default_and_fatal_when_strict(
    start_server, tmp_path: Path
) -> None:
    store = tmp_path / "reqs"
    write_bundle(store, "pinned", _good("pinned"), files={"requirements.txt": "numpy==0.0.1\n"})
    lenient = start_server(store)
    model = lenient.stub().GetModel(runtime_pb2.GetModelRequest(name="pinned"), timeout=10).model
    assert model.state == model_pb2.MODEL_STATE_READY
    assert any("numpy==0.0.1" in w for w in model.warnings)

    strict = start_server(store, strict_requirements=True)
    model = strict.stub().GetModel(runtime_pb2.GetModelRequest(name="pinned"), timeout=10).model
    assert model.state == model_pb2.MODEL_STATE_FAILED
    assert "numpy" in model.reason
    assert "0.0.1" in model.reason
