"""How the services are registered on grpc.aio: generic handlers only, and every one answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2

from modelrt.v1 import runtime_pb2

from .conftest import RunningServer


async def _call_tasks() -> list[str]:
    """The server loop's tasks that wait for incoming calls, by coroutine name."""
    names = [task.get_coro().__qualname__ for task in asyncio.all_tasks()]
    return [name for name in names if "request" in name.lower() and "call" in name.lower()]


@pytest.mark.parametrize("metrics_port", [0, None], ids=["measured", "unmeasured"])
def test_one_task_waits_for_calls_whatever_the_number_of_methods(
    start_server: Callable[..., RunningServer], metrics_port: int | None
) -> None:
    # grpc.aio gives each registered method a task and, per call, waits on all of them again;
    # served as generic handlers, one task waits for every method.
    running = start_server(metrics_port=metrics_port)
    waiting = running.run(_call_tasks())
    assert len(waiting) == 1, waiting
    assert "registered" not in waiting[0]


def test_every_service_still_answers(start_server: Callable[..., RunningServer]) -> None:
    running = start_server()
    health = running.health().Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    listed = running.stub().ListModels(runtime_pb2.ListModelsRequest(), timeout=10)
    assert list(listed.models) == []
    with pytest.raises(grpc.RpcError) as caught:
        running.stub().Predict(runtime_pb2.PredictRequest(model="absent"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "absent" in (caught.value.details() or "")
