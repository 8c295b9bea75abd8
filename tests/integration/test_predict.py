"""Predict through the generated stubs: value kinds, schemas, input checks and every error path."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2

from modelrt import codec
from modelrt.v1 import runtime_pb2, value_pb2
from tests.bundle_factory import write_bundle
from tests.integration.status_details import error_info

ECHO = """
    import numpy as np
    import pydantic
    from registry import ModelRunner, register, outschema, InvalidInputError

    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request):
            if request.parameters.get("fail") == "invalid":
                raise InvalidInputError("threshold must be positive")
            if request.parameters.get("fail") == "crash":
                raise ZeroDivisionError("secret internal detail")
            if request.parameters.get("inplace"):
                x = request["x"]
                x *= 2  # in place: inputs belong to the model
            if request.parameters.get("fail") == "complex":
                return {"z": np.zeros(2, np.complex64)}  # no wire dtype carries it
            out = dict(request.inputs)
            out["params"] = dict(request.parameters)
            out["request_id"] = request.id
            return out
"""

SCHEMA = """
    import pydantic
    from registry import ModelRunner, register, outschema

    @outschema("scored")
    class Scored(pydantic.BaseModel):
        label: str
        score: float

    @register("scored")
    class Model(ModelRunner):
        async def predict(self, request):
            if request.get("bad"):
                return {"label": "cat"}          # no score: violates the schema
            return {"label": "cat", "score": 0.9, "status": "extra keys are ignored"}
"""

TYPED = """
    from registry import ModelRunner, register

    @register("typed")
    class Typed(ModelRunner):
        def predict(self, request):
            return {"sum": float(request["image"].sum())}
"""

BATCH_ONLY = """
    from registry import ModelRunner, register

    @register("batch-only")
    class BatchOnly(ModelRunner):
        def predict_batch(self, requests):
            return [{"n": len(requests), "text": r["text"].upper()} for r in requests]
"""

SLOW = """
    import time
    from registry import ModelRunner, register

    @register("slow")
    class Slow(ModelRunner):
        def predict(self, request):
            time.sleep(float(request.param("seconds", 1.0)))
            return {"done": True}
"""


@pytest.fixture
def server(start_server, tmp_path: Path):
    store = tmp_path / "store"
    write_bundle(store, "echo", ECHO)
    write_bundle(store, "scored", SCHEMA)
    write_bundle(
        store,
        "typed",
        TYPED,
        config={"inputs": [{"name": "image", "dtype": "uint8", "shape": [-1, -1, 3]}]},
    )
    write_bundle(store, "batch-only", BATCH_ONLY)
    write_bundle(store, "slow", SLOW)
    return start_server(store)


def _predict(server, model: str, inputs=None, parameters=None, **fields):
    request = runtime_pb2.PredictRequest(
        model=model,
        inputs={k: codec.python_to_value(v) for k, v in (inputs or {}).items()},
        parameters=codec.dict_to_struct(parameters),
        **fields,
    )
    return server.stub().Predict(request, timeout=20)


def test_predict_round_trips_every_value_kind(server) -> None:
    tensor = np.arange(12, dtype=np.float32).reshape(3, 4)
    inputs = {"t": tensor, "b": b"\x00\xffraw", "s": "héllo", "j": {"a": [1, 2], "b": None}}
    reply = _predict(server, "echo", inputs, {"k": "v"}, request_id="req-42")

    assert (reply.model, reply.version, reply.request_id) == ("echo", "1", "req-42")
    np.testing.assert_array_equal(codec.value_to_python(reply.outputs["t"]), tensor)
    assert codec.value_to_python(reply.outputs["b"]) == b"\x00\xffraw"
    structured = codec.json_to_python(reply.structured)
    assert structured["s"] == "héllo"
    assert structured["j"] == {"a": [1, 2], "b": None}
    assert structured["params"] == {"k": "v"}
    assert structured["request_id"] == "req-42"


def test_predict_makes_a_request_id_when_none_is_sent(server) -> None:
    reply = _predict(server, "echo", {"s": "x"})
    assert len(reply.request_id) == 32
    assert codec.json_to_python(reply.structured)["request_id"] == reply.request_id


def test_structured_output_is_validated_against_the_schema(server) -> None:
    reply = _predict(server, "scored", {})
    assert codec.json_to_python(reply.structured) == {"label": "cat", "score": 0.9}


def test_output_failing_its_schema_is_internal_with_an_error_id(server) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _predict(server, "scored", {"bad": "yes"})
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    info = error_info(caught.value)
    assert info.reason == "OUTPUT_SCHEMA_MISMATCH"
    assert info.metadata["error_id"] in caught.value.details()
    assert "score" in caught.value.details()


def test_model_exception_is_internal_with_error_id_and_no_traceback(server) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _predict(server, "echo", {}, {"fail": "crash"})
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    info = error_info(caught.value)
    assert info.reason == "MODEL_ERROR"
    assert len(info.metadata["error_id"]) == 16
    assert "Traceback" not in caught.value.details()
    assert "ZeroDivisionError" in caught.value.details()
    assert "secret internal detail" not in caught.value.details()


def test_large_tensors_cross_both_ways_and_inputs_are_the_models_to_change(server) -> None:
    big = np.arange(3 << 18, dtype=np.float32).reshape(768, 1024)  # 3 MiB: shared memory
    reply = _predict(server, "echo", {"x": big}, {"inplace": True})
    np.testing.assert_array_equal(codec.value_to_python(reply.outputs["x"]), big * 2)
    small = np.ones(4, np.float32)
    reply = _predict(server, "echo", {"x": small}, {"inplace": True})
    np.testing.assert_array_equal(codec.value_to_python(reply.outputs["x"]), small * 2)


def test_output_the_wire_cannot_carry_is_internal_naming_the_model(server) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _predict(server, "echo", {"x": "hi"}, {"fail": "complex"})
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "model 'echo' returned an output that cannot be sent" in caught.value.details()
    assert "complex64" in caught.value.details()
    assert _predict(server, "echo", {"x": "still serving"}).outputs == {}  # the instance lives


def test_model_raising_invalid_input_is_invalid_argument(server) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _predict(server, "echo", {}, {"fail": "invalid"})
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "threshold must be positive" in caught.value.details()


def test_unknown_model_and_version_are_not_found(server) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _predict(server, "nope", {})
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(caught.value).reason == "MODEL_NOT_FOUND"
    with pytest.raises(grpc.RpcError) as caught:
        _predict(server, "echo", {}, version="7")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no version '7'" in caught.value.details()


def test_declared_inputs_are_checked_before_the_model_runs(server) -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    assert codec.json_to_python(_predict(server, "typed", {"image": image}).structured) == {
        "sum": 0.0
    }
    cases = {
        "missing input 'image'": {},
        "must have dtype uint8": {"image": image.astype(np.float32)},
        "must have shape [?, ?, 3]": {"image": np.zeros((4, 4, 4), np.uint8)},
        "must be tensor, got text": {"image": "not a tensor"},
        "unexpected input 'extra'": {"image": image, "extra": "x"},
    }
    for message, inputs in cases.items():
        with pytest.raises(grpc.RpcError) as caught:
            _predict(server, "typed", inputs)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, message
        assert message in caught.value.details()
        assert error_info(caught.value).reason == "INVALID_INPUT"


def test_undecodable_tensor_is_invalid_argument_naming_the_input(server) -> None:
    bad = value_pb2.Value(
        tensor=value_pb2.Tensor(dtype=value_pb2.DATA_TYPE_FLOAT32, shape=[2, 2], raw_data=b"123")
    )
    request = runtime_pb2.PredictRequest(model="echo", inputs={"weights": bad})
    with pytest.raises(grpc.RpcError) as caught:
        server.stub().Predict(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input 'weights'" in caught.value.details()
    assert "needs 16 bytes" in caught.value.details()


def test_predict_batch_only_model_answers_predict(server) -> None:
    reply = _predict(server, "batch-only", {"text": "abc"})
    assert codec.json_to_python(reply.structured) == {"n": 1, "text": "ABC"}


def test_generate_on_a_predict_only_model_is_unimplemented(server) -> None:
    request = runtime_pb2.GenerateRequest(model="echo")
    with pytest.raises(grpc.RpcError) as caught:
        list(server.stub().Generate(request, timeout=10))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert error_info(caught.value).reason == "HOOK_NOT_IMPLEMENTED"


def test_sync_model_code_does_not_block_the_server(server) -> None:
    finished: list[str] = []

    def slow_call() -> None:
        _predict(server, "slow", {}, {"seconds": 1.5})
        finished.append("predict")

    thread = threading.Thread(target=slow_call)
    thread.start()
    time.sleep(0.3)
    # While the model sleeps in its thread, the server keeps answering other calls.
    server.stub().ListModels(runtime_pb2.ListModelsRequest(), timeout=5)
    _predict(server, "echo", {"s": "x"})
    finished.append("others")
    thread.join(10)
    assert finished == ["others", "predict"]


def test_deadline_ends_a_slow_predict_with_deadline_exceeded(server) -> None:
    request = runtime_pb2.PredictRequest(
        model="slow",
        parameters=struct_pb2.Struct(fields={"seconds": struct_pb2.Value(number_value=2)}),
    )
    with pytest.raises(grpc.RpcError) as caught:
        server.stub().Predict(request, timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
