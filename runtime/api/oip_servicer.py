"""inference.GRPCInferenceService (the Open Inference Protocol with Triton's extensions).

One more servicer over the same Engine as modelrt.v1: a ModelInfer becomes a serialized
PredictRequest and goes through ``engine.predict`` (the same queue, batching and payload
boundary as Predict); ModelStreamInfer answers a Generate-capable model's request with one
response per item and then an empty one marked ``triton_final_response``, the way Triton's
decoupled models answer; the requests of one stream run concurrently. Liveness and readiness
are the health service's own statuses.

>>> add_to_server(InferenceServicer(engine, health, metrics), server)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from modelrt.oip import grpc_service_pb2 as oip
from modelrt.oip import grpc_service_pb2_grpc as oip_grpc
from registry.errors import ModelrtError
from runtime.api import undecodable
from runtime.api.health import ModelHealthServicer
from runtime.api.oip_dataplane import EXTENSIONS as EXTENSIONS
from runtime.api.oip_dataplane import OipDataPlane
from runtime.api.oip_dataplane import server_version as server_version
from runtime.api.registration import Handler, add_rewritten
from runtime.api.servicer import Context, internal_error, unary
from runtime.engine.engine import Engine
from runtime.engine.models import ModelRecord
from runtime.errors import NotSupportedYetError
from runtime.metrics.metrics import Metrics

logger = logging.getLogger(__name__)
SERVICE_NAME = oip.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
#: The response parameter that marks the last response to a streamed request.
FINAL = "triton_final_response"
#: Requests of one ModelStreamInfer that may run at once, and responses it may hold unsent.
STREAM_IN_FLIGHT = 64
STREAM_BACKLOG = 64


class InferenceServicer(oip_grpc.GRPCInferenceServiceServicer):
    """The Open Inference Protocol over an Engine; health statuses from ``health``.

    Every RPC delegates to ``plane`` (the transport-neutral OipDataPlane the HTTP routes share).
    """

    def __init__(
        self, engine: Engine, health: ModelHealthServicer, metrics: Metrics | None = None
    ) -> None:
        self.plane = OipDataPlane(engine, health, metrics)

    # -- health and metadata ---------------------------------------------------------------------

    @unary
    async def ServerLive(
        self, request: oip.ServerLiveRequest, context: Context
    ) -> oip.ServerLiveResponse:
        return oip.ServerLiveResponse(live=self.plane.live())

    @unary
    async def ServerReady(
        self, request: oip.ServerReadyRequest, context: Context
    ) -> oip.ServerReadyResponse:
        return oip.ServerReadyResponse(ready=self.plane.ready())

    @unary
    async def ModelReady(
        self, request: oip.ModelReadyRequest, context: Context
    ) -> oip.ModelReadyResponse:
        return oip.ModelReadyResponse(ready=self.plane.model_ready(request.name, request.version))

    @unary
    async def ServerMetadata(
        self, request: oip.ServerMetadataRequest, context: Context
    ) -> oip.ServerMetadataResponse:
        return self.plane.server_metadata()

    @unary
    async def ModelMetadata(
        self, request: oip.ModelMetadataRequest, context: Context
    ) -> oip.ModelMetadataResponse:
        return self.plane.model_metadata(request.name, request.version)

    @unary
    async def ModelConfig(
        self, request: oip.ModelConfigRequest, context: Context
    ) -> oip.ModelConfigResponse:
        return oip.ModelConfigResponse(
            config=self.plane.model_config(request.name, request.version)
        )

    @unary
    async def ModelStatistics(
        self, request: oip.ModelStatisticsRequest, context: Context
    ) -> oip.ModelStatisticsResponse:
        stats = self.plane.statistics(request.name, request.version)
        return oip.ModelStatisticsResponse(model_stats=stats)

    # -- repository ------------------------------------------------------------------------------

    @unary
    async def RepositoryIndex(
        self, request: oip.RepositoryIndexRequest, context: Context
    ) -> oip.RepositoryIndexResponse:
        return oip.RepositoryIndexResponse(models=self.plane.repository_index(request.ready))

    @unary
    async def RepositoryModelLoad(
        self, request: oip.RepositoryModelLoadRequest, context: Context
    ) -> oip.RepositoryModelLoadResponse:
        await self.plane.load(request.model_name)
        return oip.RepositoryModelLoadResponse()

    @unary
    async def RepositoryModelUnload(
        self, request: oip.RepositoryModelUnloadRequest, context: Context
    ) -> oip.RepositoryModelUnloadResponse:
        await self.plane.unload(request.model_name)
        return oip.RepositoryModelUnloadResponse()

    # -- inference -------------------------------------------------------------------------------

    @unary
    async def ModelInfer(
        self, request: oip.ModelInferRequest, context: Context
    ) -> oip.ModelInferResponse:
        return await self.plane.infer(request, context.time_remaining())

    async def _generated(
        self, request: oip.ModelInferRequest, record: ModelRecord
    ) -> AsyncIterator[oip.ModelStreamInferResponse]:
        """One response per item the model yields (an item's failure is its own response)."""
        async for item in self.plane.generate(request, record):
            if isinstance(item, Exception):
                yield _failure(request, item)
                continue
            item.parameters[FINAL].bool_param = False
            yield oip.ModelStreamInferResponse(infer_response=item)

    async def _streamed(
        self, request: oip.ModelInferRequest, seconds_left: float | None
    ) -> AsyncIterator[oip.ModelStreamInferResponse]:
        """The responses to one request of a ModelStreamInfer; errors become responses."""
        try:
            found = self.plane.found(request)
            capability = "generate" if "generate" in found.capabilities else "predict"
            record = self.plane.resolve(request, capability)
            if capability == "generate":
                async for response in self._generated(request, record):
                    yield response
                final = oip.ModelInferResponse(
                    model_name=record.name, model_version=record.version, id=request.id
                )
            else:
                final = await self.plane.predict(request, record, seconds_left)
        except ModelrtError as exc:
            yield _failure(request, exc)
            return
        except Exception as exc:
            yield _failure(request, internal_error(exc, "ModelStreamInfer"))
            return
        final.parameters[FINAL].bool_param = True
        yield oip.ModelStreamInferResponse(infer_response=final)

    async def ModelStreamInfer(
        self, request_iterator: AsyncIterator[oip.ModelInferRequest], context: Context
    ) -> AsyncIterator[oip.ModelStreamInferResponse]:
        """Requests are answered concurrently, as Triton does (a response names its request by
        ``id``); each request's own responses keep their order. At most STREAM_IN_FLIGHT
        requests run at once, and a client that stops reading holds the models back."""
        responses: asyncio.Queue[oip.ModelStreamInferResponse | None] = asyncio.Queue(
            STREAM_BACKLOG
        )
        slots = asyncio.Semaphore(STREAM_IN_FLIGHT)
        running: set[asyncio.Task[None]] = set()

        async def answer(request: oip.ModelInferRequest) -> None:
            try:
                async for response in self._streamed(request, context.time_remaining()):
                    await responses.put(response)
            finally:
                slots.release()

        async def read() -> None:
            try:
                async for request in request_iterator:
                    await slots.acquire()
                    task = asyncio.create_task(answer(request))
                    running.add(task)
                    task.add_done_callback(running.discard)
                while running:
                    await asyncio.wait(set(running))
            finally:
                await responses.put(None)

        reader = asyncio.create_task(read())
        try:
            while (response := await responses.get()) is not None:
                yield response
            await reader  # a request that did not parse ends the call here
        finally:
            for task in (reader, *running):
                task.cancel()

    # -- Triton extensions not served: shared memory, tracing, log settings ----------------------

    @unary
    async def SystemSharedMemoryStatus(self, request: Any, context: Context) -> Any:
        raise _not_served("SystemSharedMemoryStatus")

    @unary
    async def SystemSharedMemoryRegister(self, request: Any, context: Context) -> Any:
        raise _not_served("SystemSharedMemoryRegister")

    @unary
    async def SystemSharedMemoryUnregister(self, request: Any, context: Context) -> Any:
        raise _not_served("SystemSharedMemoryUnregister")

    @unary
    async def CudaSharedMemoryStatus(self, request: Any, context: Context) -> Any:
        raise _not_served("CudaSharedMemoryStatus")

    @unary
    async def CudaSharedMemoryRegister(self, request: Any, context: Context) -> Any:
        raise _not_served("CudaSharedMemoryRegister")

    @unary
    async def CudaSharedMemoryUnregister(self, request: Any, context: Context) -> Any:
        raise _not_served("CudaSharedMemoryUnregister")

    @unary
    async def TraceSetting(self, request: Any, context: Context) -> Any:
        raise _not_served("TraceSetting")

    @unary
    async def LogSettings(self, request: Any, context: Context) -> Any:
        raise _not_served("LogSettings")


def _not_served(rpc: str) -> NotSupportedYetError:
    return NotSupportedYetError(
        f"{rpc} is a Triton extension modelrt does not serve: tensors travel in the request",
        metadata={"method": rpc},
    )


def describe(error: Exception) -> str:
    """An error as one line: ``[REASON] message (error id ...)``, as the CLI prints them."""
    if not isinstance(error, ModelrtError):
        return f"[INTERNAL] {type(error).__name__}"
    error_id = error.metadata.get("error_id", "")
    suffix = f" (error id {error_id})" if error_id else ""
    return f"[{error.reason}] {error.message}{suffix}"


def _failure(request: oip.ModelInferRequest, error: Exception) -> oip.ModelStreamInferResponse:
    """A per-request error of a stream: its message, reason and error id, in error_message."""
    head = oip.ModelInferResponse(
        model_name=request.model_name, model_version=request.model_version, id=request.id
    )
    return oip.ModelStreamInferResponse(error_message=describe(error), infer_response=head)


def _registered(name: str, handler: Handler) -> Handler:
    """A method's handler as it is served: undecodable requests refused."""
    return undecodable.guard(name, handler)


def add_to_server(servicer: InferenceServicer, server: Any) -> None:
    """Register ``servicer`` (grpc_service_pb2_grpc's registration, requests guarded)."""
    generated = oip_grpc.add_GRPCInferenceServiceServicer_to_server
    add_rewritten(generated, servicer, server, _registered)
