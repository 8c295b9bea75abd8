"""Fuzzing Predict: thousands of random and malformed messages, and the server stays whole.

From a fixed seed, the test builds Predict request bytes of every kind a careless or hostile
client sends: random bytes, truncated and bit-flipped messages, and well-formed messages with
mutated fields (unknown models and versions, odd input names, tensors with bad dtypes, shapes
with huge, negative or too many dimensions, byte counts that disagree with the shape, strings
that are not UTF-8, deep or non-finite JSON). Each answer must be OK or a client-error status;
afterwards health is SERVING, every model READY on the same worker process, and a normal
request succeeds.
"""

from __future__ import annotations

import concurrent.futures
import logging
import random
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2

from modelrt import codec
from modelrt.v1 import model_pb2, runtime_pb2, value_pb2
from tests.bundle_factory import write_bundle

pytestmark = pytest.mark.timeout(120)

SEED = 20261204
MESSAGES = 5000
THREADS = 6
STREAMING_MESSAGES = 1000
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.OUT_OF_RANGE,
}

ECHO = """
    import os
    from registry import ModelRunner, register

    @register("echo")
    class Echo(ModelRunner):
        def predict_batch(self, requests):
            return [
                {"pid": os.getpid(), **{f"in-{k}": v for k, v in r.inputs.items()}}
                for r in requests
            ]
"""

ALL_HOOKS = """
    import os
    from registry import ModelRunner, register

    @register("all-hooks")
    class AllHooks(ModelRunner):
        def predict(self, request):
            return {"pid": os.getpid(), "inputs": sorted(request.inputs)}

        def generate(self, request):
            yield {"pid": os.getpid()}

        def stream(self, requests):
            for _ in requests:
                yield {"pid": os.getpid()}
"""

TYPED = """
    import os
    from registry import ModelRunner, register

    @register("typed")
    class Typed(ModelRunner):
        def predict(self, request):
            return {"pid": os.getpid(), "sum": float(request["x"].sum())}
"""

MODELS = ("echo", "all-hooks", "typed")
DIMS = [0, 1, 2, 3, 4, 7, -1, -(2**63), 2**31, 2**40, 2**62, 2**63 - 1]
DTYPES = [*value_pb2.DataType.values(), 17, 999, 2**31 - 1]
ITEM_SIZES = {value_pb2.DATA_TYPE_BOOL: 1, value_pb2.DATA_TYPE_FLOAT64: 8}


class Fuzzer:
    """Builds request bytes from one seeded random generator."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def text(self, most: int = 12) -> str:
        alphabet = "abcxyz-_. /\\\"'\x00é漢🙂\u202e"
        return "".join(self.random.choice(alphabet) for _ in range(self.random.randint(0, most)))

    def blob(self, most: int = 64) -> bytes:
        return self.random.randbytes(self.random.randint(0, most))

    def shape(self) -> list[int]:
        roll = self.random.random()
        if roll < 0.05:
            return [1] * self.random.choice([63, 64, 65, 66, 200])
        if roll < 0.55:  # plausible shapes, so that payloads sometimes match
            return [self.random.randint(0, 4) for _ in range(self.random.randint(0, 3))]
        return [self.random.choice(DIMS) for _ in range(self.random.randint(0, 6))]

    def tensor(self) -> value_pb2.Tensor:
        dtype = self.random.choice(DTYPES)
        shape = self.shape()
        tensor = value_pb2.Tensor(shape=shape)
        tensor.dtype = dtype  # type: ignore[assignment]  # open enum: unknown numbers too
        count = 1
        for dim in shape:
            count *= max(dim, 0)
        if dtype in (value_pb2.DATA_TYPE_STRING, value_pb2.DATA_TYPE_BYTES):
            size = (
                count if count <= 16 and self.random.random() < 0.7 else self.random.randint(0, 5)
            )
            tensor.string_data.extend(self.blob(8) for _ in range(size))
        else:
            itemsize = ITEM_SIZES.get(dtype, 4)
            if count <= 256 and self.random.random() < 0.7:
                size = count * itemsize
            else:
                size = self.random.randint(0, 64)
            tensor.raw_data = self.random.randbytes(
                max(0, size + self.random.choice([0, 0, 0, 1, -1]))
            )
        return tensor

    def json(self, depth: int = 0) -> struct_pb2.Value:
        roll = self.random.random()
        if depth > 45 or roll < 0.3:
            number = self.random.choice([0.5, 1e308, -0.0, float("nan"), float("inf"), 2**60])
            return struct_pb2.Value(number_value=number)
        if roll < 0.45:
            return struct_pb2.Value(string_value=self.text())
        if roll < 0.5:
            return struct_pb2.Value(bool_value=True)
        if roll < 0.55:
            return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
        if roll < 0.8:  # deep nesting, now and then past protobuf's recursion limit
            value = struct_pb2.Value()
            value.list_value.values.append(self.json(depth + 1))
            return value
        value = struct_pb2.Value()
        value.struct_value.fields[self.text()].CopyFrom(self.json(depth + 1))
        return value

    def value(self) -> value_pb2.Value:
        roll = self.random.random()
        if roll < 0.55:
            return value_pb2.Value(tensor=self.tensor())
        if roll < 0.65:
            return value_pb2.Value(data=self.blob())
        if roll < 0.75:
            return value_pb2.Value(text=self.text(40))
        if roll < 0.95:
            return value_pb2.Value(json=self.json())
        return value_pb2.Value()  # no payload

    def request(self) -> runtime_pb2.PredictRequest:
        names = [*MODELS, "missing", "", self.text()]
        request = runtime_pb2.PredictRequest(
            model=self.random.choice(names),
            version=self.random.choice(["", "", "", "1", "2", self.text(4)]),
            request_id=self.random.choice(["", self.text(40)]),
        )
        for _ in range(self.random.randint(0, 3)):
            name = self.random.choice(["x", "y", "", self.text()])
            request.inputs[name].CopyFrom(self.value())
        if self.random.random() < 0.2:
            request.parameters.fields[self.text()].CopyFrom(self.json())
        return request

    def message(self) -> bytes:
        roll = self.random.random()
        if roll < 0.12:
            return self.blob(200)
        data = self.request().SerializeToString()
        if roll < 0.25 and data:
            return data[: self.random.randrange(len(data))]
        if roll < 0.4 and data:
            flipped = bytearray(data)
            for _ in range(self.random.randint(1, 4)):
                flipped[self.random.randrange(len(flipped))] = self.random.randrange(256)
            return bytes(flipped)
        return data


def _store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    batching = {"max_batch_size": 8, "max_queue_delay_ms": 1}
    write_bundle(store, "echo", ECHO, config={"batching": batching})
    write_bundle(store, "all-hooks", ALL_HOOKS)
    typed_input = {"name": "x", "kind": "tensor", "dtype": "float32", "shape": [-1, 3]}
    write_bundle(store, "typed", TYPED, config={"inputs": [typed_input]})
    return store


def _good(model: str) -> runtime_pb2.PredictRequest:
    x = codec.python_to_value(np.ones((2, 3), np.float32))
    return runtime_pb2.PredictRequest(model=model, inputs={"x": x})


def _pids(stub: Any) -> dict[str, int]:
    replies = {model: stub.Predict(_good(model), timeout=30) for model in MODELS}
    return {model: int(codec.json_to_python(r.structured)["pid"]) for model, r in replies.items()}


def test_random_and_malformed_predict_messages_get_client_errors_and_break_nothing(
    start_server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fuzzer = Fuzzer(SEED)
    messages = [fuzzer.message() for _ in range(MESSAGES)]
    running = start_server(_store(tmp_path), hang_timeout_s=30)
    stub = running.stub()
    pids = _pids(stub)
    predict = running.channel().unary_unary(
        "/modelrt.v1.ModelRuntime/Predict", request_serializer=None, response_deserializer=None
    )
    caplog.set_level(logging.WARNING)

    def send(data: bytes) -> tuple[grpc.StatusCode, str]:
        try:
            predict(data, timeout=60)
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
        return grpc.StatusCode.OK, ""

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(send, messages))

    codes = Counter(code for code, _ in answers)
    unexpected = [
        (index, code, details, messages[index][:120])
        for index, (code, details) in enumerate(answers)
        if code not in ALLOWED
    ]
    assert not unexpected, f"{len(unexpected)} unexpected answers, first ones: {unexpected[:5]}"
    assert codes[grpc.StatusCode.OK] > 100, codes  # some requests were valid and ran
    assert codes[grpc.StatusCode.INVALID_ARGUMENT] > 1000, codes
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"

    assert _pids(stub) == pids  # the same worker processes, still answering
    health = running.health()
    for service in ("", *MODELS):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
    for model in MODELS:
        state = stub.GetModel(runtime_pb2.GetModelRequest(name=model), timeout=10).model.state
        assert state == model_pb2.MODEL_STATE_READY, model


def test_random_and_malformed_generate_and_stream_messages_break_nothing(
    start_server, tmp_path: Path
) -> None:
    """The same messages (GenerateRequest and StreamRequest share PredictRequest's fields)."""
    fuzzer = Fuzzer(SEED + 1)
    messages = [fuzzer.message() for _ in range(STREAMING_MESSAGES)]
    running = start_server(_store(tmp_path), hang_timeout_s=30)
    stub = running.stub()
    pids = _pids(stub)
    channel = running.channel()
    raw: dict[str, Any] = {"request_serializer": None, "response_deserializer": None}
    generate = channel.unary_stream("/modelrt.v1.ModelRuntime/Generate", **raw)
    stream = channel.stream_stream("/modelrt.v1.ModelRuntime/Stream", **raw)

    def send(index: int) -> grpc.StatusCode:
        try:
            if index % 2:
                list(generate(messages[index], timeout=60))
            else:  # three messages per Stream call
                list(stream(iter(messages[index : index + 3]), timeout=60))
        except grpc.RpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        codes = Counter(pool.map(send, range(len(messages))))

    assert set(codes) <= ALLOWED, codes
    assert codes[grpc.StatusCode.OK] > 20, codes
    assert _pids(stub) == pids
