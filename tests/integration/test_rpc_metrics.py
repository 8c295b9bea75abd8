"""Measured handlers (runtime/api/rpc_metrics.py) on a real grpc.aio server on port 0, via stubs.

The servicer is a small test double (echo, abort, raise, slow); the measured handlers and the
Metrics they feed are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.rpc import code_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from prometheus_client.parser import text_string_to_metric_families

from modelrt.v1 import runtime_pb2, runtime_pb2_grpc
from runtime.api.rpc_metrics import add_measured_servicer
from runtime.metrics.metrics import Metrics

pytestmark = pytest.mark.timeout(30)

Scenario = Callable[[runtime_pb2_grpc.ModelRuntimeStub, grpc.aio.Channel], Awaitable[None]]


class EchoServicer(runtime_pb2_grpc.ModelRuntimeServicer):
    """Predict echoes, or aborts / raises / sleeps when its request_id says so."""

    async def Predict(
        self, request: runtime_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.PredictResponse:
        if request.request_id == "abort":
            status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="bad input")
            await context.abort_with_status(rpc_status.to_status(status))
        if request.request_id == "raise":
            raise RuntimeError("model code blew up")
        if request.request_id == "missing":
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no model {request.model!r}")
        if request.request_id == "slow":
            await asyncio.sleep(10)
        return runtime_pb2.PredictResponse(model=request.model, request_id=request.request_id)

    async def Generate(
        self, request: runtime_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[runtime_pb2.GenerateResponse]:
        pause = 5.0 if request.request_id == "slow" else 0.05
        for index in range(3):
            yield runtime_pb2.GenerateResponse(model=request.model, index=index)
            await asyncio.sleep(pause)

    async def GetModel(
        self, request: runtime_pb2.GetModelRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetModelResponse:
        # Sets a status without raising: gRPC sends it when the handler returns.
        context.set_code(grpc.StatusCode.FAILED_PRECONDITION)
        context.set_details(f"{request.name} is busy")
        return runtime_pb2.GetModelResponse()

    async def Stream(
        self,
        request_iterator: AsyncIterator[runtime_pb2.StreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[runtime_pb2.StreamResponse]:
        index = 0
        async for request in request_iterator:
            yield runtime_pb2.StreamResponse(model=request.model, index=index)
            index += 1


def run(metrics: Metrics, scenario: Scenario) -> None:
    """Serve on 127.0.0.1 port 0 with measured handlers, run ``scenario`` as a client, stop."""

    async def main() -> None:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        add_measured_servicer(
            runtime_pb2_grpc.add_ModelRuntimeServicer_to_server, EchoServicer(), server, metrics
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await scenario(runtime_pb2_grpc.ModelRuntimeStub(channel), channel)
        finally:
            await server.stop(0)

    asyncio.run(main())


def sample(metrics: Metrics, name: str, /, **labels: str) -> float | None:
    """The value of one series in the text exposition, or None when it is absent."""
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for series in family.samples:
            if series.name == name and series.labels == labels:
                return float(series.value)
    return None


def requests_total(metrics: Metrics, model: str, rpc: str, code: str) -> float | None:
    return sample(metrics, "modelrt_requests_total", model=model, rpc=rpc, code=code)


async def eventually(check: Callable[[], object]) -> None:
    """Wait up to 5 s for ``check()``: a cancelled stream is recorded when its RPC task ends."""
    for _ in range(250):
        if check():
            return
        await asyncio.sleep(0.02)


def test_ok_predict_is_counted_with_model_and_duration() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        for _ in range(3):
            reply = await stub.Predict(runtime_pb2.PredictRequest(model="iris"), timeout=5)
            assert reply.model == "iris"

    run(metrics, scenario)
    assert requests_total(metrics, "iris", "Predict", "OK") == 3
    duration = "modelrt_request_duration_seconds_count"
    assert sample(metrics, duration, model="iris", rpc="Predict") == 3
    assert sample(metrics, "modelrt_request_duration_seconds_sum", model="iris", rpc="Predict")


def test_abort_with_status_is_counted_with_its_code() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Predict(runtime_pb2.PredictRequest(model="iris", request_id="abort"))
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    run(metrics, scenario)
    assert requests_total(metrics, "iris", "Predict", "INVALID_ARGUMENT") == 1
    assert requests_total(metrics, "iris", "Predict", "OK") is None


def test_unexpected_exception_is_counted_as_unknown() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Predict(runtime_pb2.PredictRequest(model="iris", request_id="raise"))
        assert caught.value.code() is grpc.StatusCode.UNKNOWN

    run(metrics, scenario)
    assert requests_total(metrics, "iris", "Predict", "UNKNOWN") == 1


def test_not_found_is_counted_without_the_unknown_model_name() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Predict(runtime_pb2.PredictRequest(model="no-such", request_id="missing"))
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND

    run(metrics, scenario)
    assert requests_total(metrics, "", "Predict", "NOT_FOUND") == 1
    assert b"no-such" not in metrics.exposition()


def test_deadline_exceeded_predict_is_counted_as_deadline_exceeded() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Predict(
                runtime_pb2.PredictRequest(model="iris", request_id="slow"), timeout=0.3
            )
        assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        await eventually(lambda: requests_total(metrics, "iris", "Predict", "DEADLINE_EXCEEDED"))

    run(metrics, scenario)
    assert requests_total(metrics, "iris", "Predict", "DEADLINE_EXCEEDED") == 1
    assert requests_total(metrics, "iris", "Predict", "CANCELLED") is None


def test_generate_is_timed_to_the_end_of_its_stream() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        replies = [r async for r in stub.Generate(runtime_pb2.GenerateRequest(model="llm"))]
        assert [r.index for r in replies] == [0, 1, 2]

    run(metrics, scenario)
    assert requests_total(metrics, "llm", "Generate", "OK") == 1
    # Three items 0.05 s apart: the recorded duration spans the whole stream.
    total = sample(metrics, "modelrt_request_duration_seconds_sum", model="llm", rpc="Generate")
    assert total is not None
    assert total >= 0.14


def test_generate_cancelled_by_the_client_is_counted_as_cancelled() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        call = stub.Generate(runtime_pb2.GenerateRequest(model="llm", request_id="slow"))
        first = await call.read()
        assert first.index == 0
        call.cancel()
        await eventually(lambda: requests_total(metrics, "llm", "Generate", "CANCELLED"))

    run(metrics, scenario)
    assert requests_total(metrics, "llm", "Generate", "CANCELLED") == 1
    assert requests_total(metrics, "llm", "Generate", "OK") is None


def test_generate_past_its_deadline_is_counted_as_deadline_exceeded() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        request = runtime_pb2.GenerateRequest(model="llm", request_id="slow")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.Generate(request, timeout=0.3):
                pass
        assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        await eventually(lambda: requests_total(metrics, "llm", "Generate", "DEADLINE_EXCEEDED"))

    run(metrics, scenario)
    assert requests_total(metrics, "llm", "Generate", "DEADLINE_EXCEEDED") == 1


def test_stream_is_counted_with_the_model_of_its_first_message() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        async def requests() -> AsyncIterator[runtime_pb2.StreamRequest]:
            yield runtime_pb2.StreamRequest(model="asr")
            for _ in range(3):
                yield runtime_pb2.StreamRequest()

        replies = [r async for r in stub.Stream(requests(), timeout=5)]
        assert [r.model for r in replies] == ["asr", "", "", ""]

    run(metrics, scenario)
    assert requests_total(metrics, "asr", "Stream", "OK") == 1
    assert sample(metrics, "modelrt_request_duration_seconds_count", model="asr", rpc="Stream")


def test_status_set_without_raising_is_counted_with_the_name_field_as_model() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetModel(runtime_pb2.GetModelRequest(name="iris"), timeout=5)
        assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION

    run(metrics, scenario)
    assert requests_total(metrics, "iris", "GetModel", "FAILED_PRECONDITION") == 1


def test_synchronous_handlers_pass_through_unmeasured() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        # The generated base class answers UnloadModel synchronously (UNIMPLEMENTED).
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UnloadModel(runtime_pb2.UnloadModelRequest(name="iris"), timeout=5)
        assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED

    run(metrics, scenario)
    assert requests_total(metrics, "iris", "UnloadModel", "UNIMPLEMENTED") is None


def test_health_checks_are_not_counted() -> None:
    metrics = Metrics()

    async def scenario(_: runtime_pb2_grpc.ModelRuntimeStub, channel: grpc.aio.Channel) -> None:
        checker = health_pb2_grpc.HealthStub(channel)
        reply = await checker.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

    run(metrics, scenario)
    assert b"modelrt_requests_total{" not in metrics.exposition()
    assert b"grpc.health" not in metrics.exposition()


def test_measured_handlers_count_concurrent_calls_separately() -> None:
    metrics = Metrics()

    async def scenario(stub: runtime_pb2_grpc.ModelRuntimeStub, _: grpc.aio.Channel) -> None:
        calls: list[Any] = [
            stub.Predict(runtime_pb2.PredictRequest(model=f"m{i % 2}"), timeout=5)
            for i in range(10)
        ]
        with contextlib.suppress(grpc.aio.AioRpcError):
            await asyncio.gather(*calls)

    run(metrics, scenario)
    assert requests_total(metrics, "m0", "Predict", "OK") == 5
    assert requests_total(metrics, "m1", "Predict", "OK") == 5
