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
import contextlib
import importlib.metadata
import logging
from collections.abc import AsyncIterator
from typing import Any

from modelrt.oip import grpc_service_pb2 as oip
from modelrt.oip import grpc_service_pb2_grpc as oip_grpc
from modelrt.v1 import runtime_pb2
from registry.errors import ModelrtError
from runtime.api import oip_models, oip_tensors, undecodable
from runtime.api.health import LIVENESS, READINESS, SERVING, ModelHealthServicer
from runtime.api.registration import Handler, add_rewritten
from runtime.api.servicer import Context, internal_error, request_id, unary
from runtime.engine.engine import Engine
from runtime.engine.models import ModelRecord, ModelState, check_model_ref
from runtime.errors import ModelNotReadyError, NotSupportedYetError
from runtime.instances import wire
from runtime.instances.outputs import ItemFailure
from runtime.metrics.metrics import Metrics

logger = logging.getLogger(__name__)
SERVICE_NAME = oip.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
#: The response parameter that marks the last response to a streamed request.
FINAL = "triton_final_response"
EXTENSIONS = ("model_repository", "model_configuration", "statistics", "parameters")
#: Requests of one ModelStreamInfer that may run at once, and responses it may hold unsent.
STREAM_IN_FLIGHT = 64
STREAM_BACKLOG = 64


def server_version() -> str:
    try:
        return importlib.metadata.version("modelrt")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _specs(record: ModelRecord) -> Any:
    return record.prepared.config.inputs if record.prepared is not None else ()


class InferenceServicer(oip_grpc.GRPCInferenceServiceServicer):
    """The Open Inference Protocol over an Engine; health statuses from ``health``."""

    def __init__(
        self, engine: Engine, health: ModelHealthServicer, metrics: Metrics | None = None
    ) -> None:
        self.engine = engine
        self.health = health
        self.metrics = metrics
        self.seen = oip_models.OutputsSeen()
        engine.on_forget(self.seen.forget)

    # -- health and metadata ---------------------------------------------------------------------

    @unary
    async def ServerLive(
        self, request: oip.ServerLiveRequest, context: Context
    ) -> oip.ServerLiveResponse:
        return oip.ServerLiveResponse(live=self.health.status(LIVENESS) == SERVING)

    @unary
    async def ServerReady(
        self, request: oip.ServerReadyRequest, context: Context
    ) -> oip.ServerReadyResponse:
        return oip.ServerReadyResponse(ready=self.health.status(READINESS) == SERVING)

    @unary
    async def ModelReady(
        self, request: oip.ModelReadyRequest, context: Context
    ) -> oip.ModelReadyResponse:
        check_model_ref(request.name, request.version)
        if not request.version:  # the model's health service, as grpc.health.v1 answers it
            return oip.ModelReadyResponse(ready=self.health.status(request.name) == SERVING)
        try:
            record = self.engine.get(request.name, request.version)
        except ModelrtError:
            return oip.ModelReadyResponse(ready=False)
        return oip.ModelReadyResponse(ready=record.serving)

    @unary
    async def ServerMetadata(
        self, request: oip.ServerMetadataRequest, context: Context
    ) -> oip.ServerMetadataResponse:
        return oip.ServerMetadataResponse(
            name="modelrt", version=server_version(), extensions=EXTENSIONS
        )

    def _versions(self, name: str) -> list[str]:
        records = self.engine.records(name)
        ready = [r.version for r in records if r.state is ModelState.READY]
        return ready or [r.version for r in records]

    @unary
    async def ModelMetadata(
        self, request: oip.ModelMetadataRequest, context: Context
    ) -> oip.ModelMetadataResponse:
        record = self.engine.get(request.name, request.version)
        return oip_models.metadata(record, self._versions(record.name), self.seen)

    @unary
    async def ModelConfig(
        self, request: oip.ModelConfigRequest, context: Context
    ) -> oip.ModelConfigResponse:
        record = self.engine.get(request.name, request.version)
        return oip.ModelConfigResponse(config=oip_models.model_config(record, self.seen))

    @unary
    async def ModelStatistics(
        self, request: oip.ModelStatisticsRequest, context: Context
    ) -> oip.ModelStatisticsResponse:
        if request.name:
            records = [self.engine.get(request.name, request.version)]
        else:  # every model, once: the tallies are per model
            names = sorted({r.name for r in self.engine.records()})
            records = [self.engine.get(name) for name in names]
        stats = [oip_models.statistics(record, self.metrics) for record in records]
        return oip.ModelStatisticsResponse(model_stats=stats)

    # -- repository ------------------------------------------------------------------------------

    @unary
    async def RepositoryIndex(
        self, request: oip.RepositoryIndexRequest, context: Context
    ) -> oip.RepositoryIndexResponse:
        records = self.engine.records()
        if request.ready:
            records = [r for r in records if r.state is ModelState.READY]
        return oip.RepositoryIndexResponse(models=[oip_models.index_entry(r) for r in records])

    @unary
    async def RepositoryModelLoad(
        self, request: oip.RepositoryModelLoadRequest, context: Context
    ) -> oip.RepositoryModelLoadResponse:
        check_model_ref(request.model_name, field="model_name")
        record = await self.engine.load(request.model_name)
        if record.state is not ModelState.READY:
            detail = f": {record.reason}" if record.reason else ""
            raise ModelNotReadyError(
                f"model {record.name!r} version {record.version} is {record.state}{detail}",
                metadata={"model": record.name, "state": str(record.state)},
            )
        return oip.RepositoryModelLoadResponse()

    @unary
    async def RepositoryModelUnload(
        self, request: oip.RepositoryModelUnloadRequest, context: Context
    ) -> oip.RepositoryModelUnloadResponse:
        check_model_ref(request.model_name, field="model_name")
        await self.engine.unload(request.model_name)
        return oip.RepositoryModelUnloadResponse()

    # -- inference -------------------------------------------------------------------------------

    def _resolve(self, request: oip.ModelInferRequest, capability: str) -> ModelRecord:
        check_model_ref(request.model_name, request.model_version, field="model_name")
        return self.engine.resolve(request.model_name, request.model_version, capability)

    def _answer(
        self,
        request: oip.ModelInferRequest,
        record: ModelRecord,
        answer: runtime_pb2.PredictResponse | runtime_pb2.GenerateResponse,
    ) -> oip.ModelInferResponse:
        values = oip_tensors.outputs_of(answer)
        self.seen.note(record.name, record.version, values)
        head = {"model": record.name, "version": record.version}
        return oip_tensors.to_infer_response(request, values, head)

    async def _predict(
        self, request: oip.ModelInferRequest, record: ModelRecord, seconds_left: float | None
    ) -> oip.ModelInferResponse:
        message = oip_tensors.to_predict_request(request, _specs(record))
        wired = (message.SerializeToString(), request_id(request.id))
        answer = await self.engine.predict(record, wired, seconds_left)
        parsed = runtime_pb2.PredictResponse.FromString(answer)  # type: ignore[arg-type]
        return self._answer(request, record, parsed)

    @unary
    async def ModelInfer(
        self, request: oip.ModelInferRequest, context: Context
    ) -> oip.ModelInferResponse:
        record = self._resolve(request, "predict")
        return await self._predict(request, record, context.time_remaining())

    async def _generated(
        self, request: oip.ModelInferRequest, record: ModelRecord
    ) -> AsyncIterator[oip.ModelStreamInferResponse]:
        """One response per item the model yields (an item's failure is its own response)."""
        message = oip_tensors.to_predict_request(request, _specs(record))
        wired = (message.SerializeToString(), request_id(request.id))
        items = self.engine.generate(record, wired)
        async with contextlib.aclosing(items):
            async for item in items:
                if isinstance(item, ItemFailure):
                    yield _failure(request, item.error)
                    continue
                reply = runtime_pb2.GenerateResponse()
                try:
                    wire.write_output(reply, item)
                    response = self._answer(request, record, reply)
                except ModelrtError as exc:
                    yield _failure(request, exc)
                    continue
                except Exception as exc:  # an output the wire cannot carry fails this item only
                    yield _failure(request, wire.unsendable(record.name, exc))
                    continue
                response.parameters[FINAL].bool_param = False
                yield oip.ModelStreamInferResponse(infer_response=response)

    async def _streamed(
        self, request: oip.ModelInferRequest, seconds_left: float | None
    ) -> AsyncIterator[oip.ModelStreamInferResponse]:
        """The responses to one request of a ModelStreamInfer; errors become responses."""
        try:
            check_model_ref(request.model_name, request.model_version, field="model_name")
            found = self.engine.get(request.model_name, request.model_version)
            capability = "generate" if "generate" in found.capabilities else "predict"
            record = self._resolve(request, capability)
            if capability == "generate":
                async for response in self._generated(request, record):
                    yield response
                final = oip.ModelInferResponse(
                    model_name=record.name, model_version=record.version, id=request.id
                )
            else:
                final = await self._predict(request, record, seconds_left)
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
