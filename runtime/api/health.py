"""The standard grpc.health.v1 service (Check, Watch, List), kept in step with model states.

Service "" is SERVING once start-up loading has finished (every model READY or FAILED), and so
is each gRPC service the server serves (modelrt.v1.ModelRuntime, inference.GRPCInferenceService);
"liveness" while the process answers; with --frontends N > 1, "frontends" while all N front-end
processes serve; and each model name while one of its versions is READY
with an instance up. No model may take the server's own names (loader.config.RESERVED_NAMES).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from runtime.engine.models import ModelRecord

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
READINESS = ""
LIVENESS = "liveness"
FRONTENDS = "frontends"  # with --frontends N > 1: SERVING while every helper front end is up
OWN_SERVICES = frozenset({READINESS, LIVENESS, FRONTENDS})  # never a model's status


class ModelHealthServicer(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """grpc.health.v1 over statuses the server sets; each watcher sees every change.

    >>> health = ModelHealthServicer()
    >>> health.set("iris", SERVING)
    """

    def __init__(self) -> None:
        self._status: dict[str, int] = {}
        self._watchers: defaultdict[str, set[asyncio.Queue[int]]] = defaultdict(set)
        self._closing = False

    def set(self, service: str, status: int) -> None:
        """Set a service's status (ignored once shutting down) and tell its watchers."""
        if self._closing or self._status.get(service) == status:
            return
        self._status[service] = status
        for queue in self._watchers.get(service, ()):
            queue.put_nowait(status)

    def status(self, service: str) -> int:
        """A service's status as Check answers it; SERVICE_UNKNOWN for one never set."""
        status: int = self._status.get(service, SERVICE_UNKNOWN)
        return status

    def forget(self, service: str) -> None:
        """Remove a service: Check answers NOT_FOUND, watchers see SERVICE_UNKNOWN."""
        if self._status.pop(service, None) is not None:
            for queue in self._watchers.get(service, ()):
                queue.put_nowait(SERVICE_UNKNOWN)

    def shut_down(self) -> None:
        """Every service goes NOT_SERVING for good: load balancers stop sending calls."""
        for service in list(self._status):
            self.set(service, NOT_SERVING)
        self._closing = True

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> health_pb2.HealthCheckResponse:
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        watchers = self._watchers[request.service]
        watchers.add(queue)
        try:
            status = self._status.get(request.service, SERVICE_UNKNOWN)
            while True:
                yield health_pb2.HealthCheckResponse(status=status)
                status = await queue.get()
        finally:
            watchers.discard(queue)
            if not watchers:
                self._watchers.pop(request.service, None)

    async def List(
        self, request: health_pb2.HealthListRequest, context: Any
    ) -> health_pb2.HealthListResponse:
        statuses = {
            name: health_pb2.HealthCheckResponse(status=status)
            for name, status in self._status.items()
        }
        return health_pb2.HealthListResponse(statuses=statuses)


class HealthReporter:
    """Translates engine events into health statuses."""

    def __init__(self, servicer: ModelHealthServicer, services: tuple[str, ...] = ()) -> None:
        self.servicer = servicer
        self.services = services  # gRPC service names, ready with the server
        self._own = OWN_SERVICES | frozenset(services)
        self._ready: dict[str, set[str]] = {}

    def starting(self) -> None:
        self.servicer.set(LIVENESS, SERVING)
        for service in (READINESS, *self.services):
            self.servicer.set(service, NOT_SERVING)

    def loaded(self) -> None:
        for service in (READINESS, *self.services):
            self.servicer.set(service, SERVING)

    def model_changed(self, record: ModelRecord) -> None:
        """Engine listener: a model is SERVING while a READY version has an instance up."""
        if record.name in self._own:  # a bundle that claims one is FAILED, never served
            return
        versions = self._ready.setdefault(record.name, set())
        if record.serving:
            versions.add(record.version)
        else:
            versions.discard(record.version)
        self.servicer.set(record.name, SERVING if versions else NOT_SERVING)

    def forget(self, name: str) -> None:
        """A deleted model is no longer a health service at all."""
        if name in self._own:
            return
        self._ready.pop(name, None)
        self.servicer.forget(name)

    def shutting_down(self) -> None:
        self.servicer.shut_down()
