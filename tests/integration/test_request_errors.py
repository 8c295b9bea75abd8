"""One bad request fails alone: undecodable inputs are INVALID_ARGUMENT and the model stays up.

Every request here is a well-formed protobuf message whose tensor cannot be decoded (too many
dimensions, sizes that overflow or disagree with the payload, unknown dtypes, bad UTF-8...). Each
must fail with INVALID_ARGUMENT naming the input, on every RPC kind, while the worker that serves
the model keeps running (same pid) and answers the next normal request.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2

from modelrt import codec
from modelrt.v1 import model_pb2, runtime_pb2, value_pb2
from tests.bundle_factory import write_bundle
from tests.integration.status_details import error_info

pytestmark = pytest.mark.timeout(180)

BATCHED = """
    import os
    import numpy as np
    from registry import ModelRunner, register

    def answer(request):
        unsendable = request.param("unsendable", "")
        if unsendable == "object":  # an object array the wire cannot carry
            return {"y": np.array([-1], dtype=object)}
        if unsendable == "deep":  # too deep for JSON
            deep = []
            for _ in range(100_000):
                deep = [deep]
            return {"deep": deep}
        return {"pid": os.getpid()}

    @register("batched")
    class Batched(ModelRunner):
        def predict_batch(self, requests):
            return [answer(request) for request in requests]
"""

PLAIN = """
    import os
    import numpy as np
    from registry import ModelRunner, register

    def answer(request):
        unsendable = request.param("unsendable", "")
        if unsendable == "object":  # an object array the wire cannot carry
            return {"y": np.array([-1], dtype=object)}
        if unsendable == "deep":  # too deep for JSON
            deep = []
            for _ in range(100_000):
                deep = [deep]
            return {"deep": deep}
        return {"pid": os.getpid()}

    @register("plain")
    class Plain(ModelRunner):
        def predict(self, request):
            return answer(request)
"""

# predict next to generate and stream: the worker runs unary calls on a thread of their own.
ALL_HOOKS = """
    import os
    import numpy as np
    from registry import ModelRunner, register

    def answer(request):
        unsendable = request.param("unsendable", "")
        if unsendable == "object":  # an object array the wire cannot carry
            return {"y": np.array([-1], dtype=object)}
        if unsendable == "deep":  # too deep for JSON
            deep = []
            for _ in range(100_000):
                deep = [deep]
            return {"deep": deep}
        return {"pid": os.getpid()}

    @register("all-hooks")
    class AllHooks(ModelRunner):
        def predict(self, request):
            return answer(request)

        def generate(self, request):
            for step in range(2):
                if step and request.param("unsendable", ""):
                    yield answer(request)
                else:
                    yield {"pid": os.getpid(), "step": step}

        def stream(self, requests):
            for request in requests:
                yield answer(request)
"""

MODELS = ("batched", "plain", "all-hooks")
F32 = value_pb2.DATA_TYPE_FLOAT32


def _tensor(dtype: int, shape: list[int], raw: bytes = b"", strings=()) -> value_pb2.Value:
    tensor = value_pb2.Tensor(dtype=dtype, shape=shape, raw_data=raw, string_data=list(strings))
    return value_pb2.Value(tensor=tensor)


BAD_VALUES = {
    "65 dimensions": (_tensor(F32, [1] * 65, b"\0" * 4), "dimensions"),
    "1000 dimensions": (_tensor(F32, [1] * 1000, b"\0" * 4), "dimensions"),
    "zero times huge": (_tensor(F32, [0, 2**62, 2**62]), "too large"),
    "huge times zero": (_tensor(F32, [2**62, 2**62, 0]), "too large"),
    "overflowing count": (_tensor(F32, [2**40, 2**40], b"\0" * 4), "too large"),
    "largest int64 dims": (_tensor(F32, [2**63 - 1, 2**63 - 1]), "too large"),
    "negative dimension": (_tensor(F32, [-1, 4], b"\0" * 16), "negative"),
    "short raw_data": (_tensor(F32, [2, 2], b"\0" * 3), "bytes"),
    "long raw_data": (_tensor(F32, [2], b"\0" * 9), "bytes"),
    "unknown dtype": (_tensor(999, [1], b"\0" * 4), "dtype"),
    "unset dtype": (_tensor(value_pb2.DATA_TYPE_UNSPECIFIED, [1], b"\0" * 4), "dtype"),
    "bfloat16 byte count": (_tensor(value_pb2.DATA_TYPE_BFLOAT16, [3], b"\0" * 5), "bytes"),
    "string count": (_tensor(value_pb2.DATA_TYPE_STRING, [3], strings=[b"a"]), "elements"),
    "string not UTF-8": (_tensor(value_pb2.DATA_TYPE_STRING, [1], strings=[b"\xff\xfe"]), "UTF-8"),
    # 4096 strings padded to the longest (1 MiB): 16 GiB as a fixed-width numpy array.
    "string padding": (
        _tensor(value_pb2.DATA_TYPE_STRING, [4096], strings=[b"a" * (1 << 20)] + [b""] * 4095),
        "too large",
    ),
    "no payload": (value_pb2.Value(), "payload"),
}


def _request(message: type, model: str, value: value_pb2.Value):
    return message(model=model, inputs={"x": value})


def _pid(reply) -> int:
    return int(codec.json_to_python(reply.structured)["pid"])


def _store(tmp_path: Path, models: tuple[str, ...]) -> Path:
    store = tmp_path / "store"
    batching = {"batching": {"max_batch_size": 4, "max_queue_delay_ms": 2}}
    sources = {"batched": (BATCHED, batching), "plain": (PLAIN, {}), "all-hooks": (ALL_HOOKS, {})}
    for model in models:
        source, config = sources[model]
        write_bundle(store, model, source, config=config)
    return store


def _good(model: str) -> runtime_pb2.PredictRequest:
    return runtime_pb2.PredictRequest(
        model=model, inputs={"x": codec.python_to_value(np.ones((2, 3), np.float32))}
    )


def _assert_up(running, stub, pids: dict[str, int], models=MODELS) -> None:
    health = running.health()
    for model in models:
        assert _pid(stub.Predict(_good(model), timeout=10)) == pids[model]
        state = stub.GetModel(runtime_pb2.GetModelRequest(name=model), timeout=10).model.state
        assert state == model_pb2.MODEL_STATE_READY
        reply = health.Check(health_pb2.HealthCheckRequest(service=model), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def _assert_invalid(error: grpc.RpcError, problem: str, case: str) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (case, error.details())
    assert "'x'" in error.details(), (case, error.details())
    assert problem in error.details(), (case, error.details())
    assert error_info(error).metadata["input"] == "x", case


def test_undecodable_tensors_fail_only_their_own_predict(start_server, tmp_path) -> None:
    running = start_server(_store(tmp_path, MODELS), hang_timeout_s=20)
    stub = running.stub()
    pids = {model: _pid(stub.Predict(_good(model), timeout=30)) for model in MODELS}

    for case, (value, problem) in BAD_VALUES.items():
        for model in MODELS:
            for _ in range(2):  # twice: the second reaches a worker that met the first
                with pytest.raises(grpc.RpcError) as caught:
                    stub.Predict(_request(runtime_pb2.PredictRequest, model, value), timeout=10)
                _assert_invalid(caught.value, problem, f"{case} on {model}")

    _assert_up(running, stub, pids)


def test_an_answer_that_cannot_be_encoded_fails_only_its_own_predict(start_server, tmp_path):
    running = start_server(_store(tmp_path, MODELS), hang_timeout_s=20)
    stub = running.stub()
    pids = {model: _pid(stub.Predict(_good(model), timeout=30)) for model in MODELS}
    for model in MODELS:
        for unsendable in ("object", "deep", "object"):
            request = _good(model)
            request.parameters.update({"unsendable": unsendable})
            with pytest.raises(grpc.RpcError) as caught:
                stub.Predict(request, timeout=10)
            assert caught.value.code() == grpc.StatusCode.INTERNAL, caught.value.details()
            assert f"model {model!r}" in caught.value.details()
    _assert_up(running, stub, pids)


def test_a_streamed_item_that_cannot_be_encoded_fails_alone(start_server, tmp_path) -> None:
    running = start_server(_store(tmp_path, ("all-hooks",)), hang_timeout_s=20)
    stub = running.stub()
    pids = {"all-hooks": _pid(stub.Predict(_good("all-hooks"), timeout=30))}
    for unsendable in ("object", "deep"):
        request = runtime_pb2.GenerateRequest(model="all-hooks")
        request.parameters.update({"unsendable": unsendable})
        first, second = list(stub.Generate(request, timeout=10))
        assert _pid(first) == pids["all-hooks"]
        assert second.error.code == grpc.StatusCode.INTERNAL.value[0], second
        assert "model 'all-hooks'" in second.error.message

        messages = [
            runtime_pb2.StreamRequest(model="all-hooks", parameters=request.parameters),
            runtime_pb2.StreamRequest(parameters=request.parameters),
            runtime_pb2.StreamRequest(),
        ]
        replies = list(stub.Stream(iter(messages), timeout=10))
        assert [reply.HasField("error") for reply in replies] == [True, True, False]
        assert _pid(replies[2]) == pids["all-hooks"]
    _assert_up(running, stub, pids, models=("all-hooks",))


def test_undecodable_tensors_fail_only_their_own_generate_or_stream_item(
    start_server, tmp_path
) -> None:
    running = start_server(_store(tmp_path, ("all-hooks",)), hang_timeout_s=20)
    stub = running.stub()
    pids = {"all-hooks": _pid(stub.Predict(_good("all-hooks"), timeout=30))}

    for case, (value, problem) in BAD_VALUES.items():
        request = _request(runtime_pb2.GenerateRequest, "all-hooks", value)
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.Generate(request, timeout=10))
        _assert_invalid(caught.value, problem, case)

    # In a Stream, a bad item gets its own error and the stream goes on.
    good = codec.python_to_value(np.ones(3, np.float32))
    messages = [runtime_pb2.StreamRequest(model="all-hooks", inputs={"x": good})]
    for value, _ in BAD_VALUES.values():
        messages.append(runtime_pb2.StreamRequest(inputs={"x": value}))
        messages.append(runtime_pb2.StreamRequest(inputs={"x": good}))
    replies = list(stub.Stream(iter(messages), timeout=30))
    # A bad item's error is answered at once, so it may overtake the model's earlier outputs.
    errors = [reply.error for reply in replies if reply.HasField("error")]
    outputs = [reply for reply in replies if not reply.HasField("error")]
    assert len(errors) == len(BAD_VALUES)
    assert len(outputs) == len(BAD_VALUES) + 1
    assert {error.code for error in errors} == {grpc.StatusCode.INVALID_ARGUMENT.value[0]}
    assert all(error.message.startswith("input 'x': ") for error in errors)
    problems = [problem for _, problem in BAD_VALUES.values()]
    assert all(any(p in error.message for error in errors) for p in problems)
    assert {_pid(reply) for reply in outputs} == {pids["all-hooks"]}

    generated = list(stub.Generate(_request(runtime_pb2.GenerateRequest, "all-hooks", good)))
    assert [codec.json_to_python(r.structured)["step"] for r in generated] == [0, 1]
    _assert_up(running, stub, pids, models=("all-hooks",))
