"""The standard grpc.health.v1 service, kept in step with the engine's model states.

Service "" is SERVING once start-up loading has finished (every model READY or FAILED),
"liveness" while the process answers, and each model name while one of its versions is READY.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer

from runtime.models import ModelRecord

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
READINESS = ""
LIVENESS = "liveness"


class ModelHealthServicer(HealthServicer):  # type: ignore[misc]
    """grpcio's asyncio HealthServicer plus the List RPC it lacks."""

    async def List(
        self, request: health_pb2.HealthListRequest, context: Any
    ) -> health_pb2.HealthListResponse:
        statuses = {
            name: health_pb2.HealthCheckResponse(status=status)
            for name, status in self._server_status.items()
        }
        return health_pb2.HealthListResponse(statuses=statuses)


class HealthReporter:
    """Translates engine events into health statuses."""

    def __init__(self, servicer: ModelHealthServicer) -> None:
        self.servicer = servicer
        self._ready: dict[str, set[str]] = {}

    async def starting(self) -> None:
        await self.servicer.set(LIVENESS, SERVING)
        await self.servicer.set(READINESS, NOT_SERVING)

    async def loaded(self) -> None:
        await self.servicer.set(READINESS, SERVING)

    def model_changed(self, record: ModelRecord) -> None:
        """Engine listener: a model is SERVING while a READY version has an instance up."""
        versions = self._ready.setdefault(record.name, set())
        if record.serving:
            versions.add(record.version)
        else:
            versions.discard(record.version)
        status = SERVING if versions else NOT_SERVING
        asyncio.get_running_loop().create_task(self.servicer.set(record.name, status))

    def forget(self, name: str) -> None:
        """A deleted model is no longer a health service at all."""
        self._ready.pop(name, None)
        self.servicer._server_status.pop(name, None)

    async def shutting_down(self) -> None:
        await self.servicer.enter_graceful_shutdown()
