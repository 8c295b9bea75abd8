"""The ModelRuntime servicer: converts protobuf <-> domain objects and delegates to the engine."""

from __future__ import annotations

import functools
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import grpc

from modelrt.v1 import runtime_pb2, runtime_pb2_grpc, value_pb2
from registry.errors import ModelrtError
from runtime.api import convert, undecodable
from runtime.api.registration import Handler, add_rewritten
from runtime.api.status import grpc_status_of
from runtime.engine.engine import Engine
from runtime.engine.models import ModelRecord, check_model_ref
from runtime.engine.uploads import Uploads
from runtime.errors import BadRequestError, ModelExecutionError
from runtime.instances import wire
from runtime.instances.outputs import ItemFailure, ModelOutput
from runtime.instances.payload import StreamInput
from runtime.instances.wire import response_bytes

logger = logging.getLogger(__name__)
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
R = TypeVar("R")
M = TypeVar("M", runtime_pb2.GenerateResponse, runtime_pb2.StreamResponse)


def internal_error(exc: Exception, method: str) -> ModelExecutionError:
    """INTERNAL for an unexpected exception, logged with its traceback under a new error id."""
    error = ModelExecutionError("internal server error", reason="INTERNAL")
    logger.error("%s failed [error id %s]", method, error.error_id, exc_info=exc)
    return error


def unary(
    method: Callable[[Any, Any, Context], Awaitable[R]],
) -> Callable[[Any, Any, Context], Awaitable[R]]:
    """Abort with the mapped status when a unary handler raises."""

    @functools.wraps(method)
    async def handler(self: Any, request: Any, context: Context) -> R:
        try:
            return await method(self, request, context)
        except ModelrtError as exc:
            await context.abort_with_status(grpc_status_of(exc))
        except Exception as exc:
            await context.abort_with_status(grpc_status_of(internal_error(exc, method.__name__)))
        raise AssertionError("unreachable: abort_with_status raises")

    return handler


def streaming(
    method: Callable[[Any, Any, Context], AsyncIterator[R]],
) -> Callable[[Any, Any, Context], AsyncIterator[R]]:
    """Abort with the mapped status when a streaming handler raises."""

    @functools.wraps(method)
    async def handler(self: Any, request: Any, context: Context) -> AsyncIterator[R]:
        try:
            async for item in method(self, request, context):
                yield item
        except ModelrtError as exc:
            await context.abort_with_status(grpc_status_of(exc))
        except Exception as exc:
            await context.abort_with_status(grpc_status_of(internal_error(exc, method.__name__)))

    return handler


# Request ids the server makes: 32 hex digits, a random prefix per process and a counter
# (a uuid4 per request costs a getrandom call).
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()


def request_id(sent: str) -> str:
    """The caller's request id, or a new one when it sent none."""
    return sent or f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


async def _replies(
    message: type[M],
    record: ModelRecord,
    rid: str,
    items: AsyncIterator[ModelOutput | ItemFailure],
    form: int,
) -> AsyncIterator[M]:
    """Streamed items as GenerateResponse/StreamResponse messages, numbered from 0, their tensors
    in the caller's output ``form``."""
    typed = form == value_pb2.TENSOR_FORM_TYPED
    head: dict[str, Any] = {"model": record.name, "version": record.version, "request_id": rid}
    index = 0
    async for item in items:
        if isinstance(item, ItemFailure):
            yield message(**head, index=index, error=convert.item_error(item.error))
        else:
            reply = message(**head, index=index)
            try:
                wire.write_output(reply, item, typed)
            except Exception as exc:  # this item fails alone, as a model error
                error = convert.item_error(wire.unsendable(record.name, exc))
                reply = message(**head, index=index, error=error)
            yield reply
        index += 1


class ModelRuntimeServicer(runtime_pb2_grpc.ModelRuntimeServicer):
    """modelrt.v1.ModelRuntime over an Engine."""

    def __init__(self, engine: Engine, uploads: Uploads) -> None:
        self.engine = engine
        self.uploads = uploads

    @unary
    async def Predict(  # type: ignore[override]  # the serialized PredictResponse
        self, request: runtime_pb2.PredictRequest, context: Context
    ) -> bytes:
        """Route the request, still serialized, to the model; answer with what it encoded.

        Returns the serialized PredictResponse: add_to_server registers Predict without a
        response serializer. The instance decodes and checks the inputs (runtime/wire.py).
        The call's deadline goes with it, as seconds left: past it, the queue drops it unrun.
        """
        check_model_ref(request.model, request.version, field="model")
        record = self.engine.resolve(request.model, request.version, "predict")
        rid = request_id(request.request_id)
        wired = (request.SerializeToString(), rid)
        answer = await self.engine.predict(record, wired, context.time_remaining())
        return response_bytes(record.name, record.version, rid, answer)

    @streaming
    async def Generate(
        self, request: runtime_pb2.GenerateRequest, context: Context
    ) -> AsyncIterator[runtime_pb2.GenerateResponse]:
        check_model_ref(request.model, request.version, field="model")
        record = self.engine.resolve(request.model, request.version, "generate")
        rid = request_id(request.request_id)
        # Like Predict's, its inputs reach the instance serialized; it decodes and checks them.
        items = self.engine.generate(record, (request.SerializeToString(), rid))
        async for reply in _replies(
            runtime_pb2.GenerateResponse, record, rid, items, request.output_form
        ):
            yield reply

    @streaming
    async def Stream(
        self, request_iterator: AsyncIterator[runtime_pb2.StreamRequest], context: Context
    ) -> AsyncIterator[runtime_pb2.StreamResponse]:
        first = await anext(aiter(request_iterator), None)
        if first is None:
            return
        check_model_ref(first.model, first.version, field="model")
        record = self.engine.resolve(first.model, first.version, "stream")
        rid = request_id(first.request_id)

        async def requests() -> AsyncIterator[StreamInput]:
            message: runtime_pb2.StreamRequest | None = first
            while message is not None:
                if message.model and message.model != record.name:
                    yield BadRequestError(
                        f"a Stream serves one model: got {message.model!r} after {record.name!r}"
                    )
                else:  # decoded and checked in the instance, as Predict's are
                    yield message.SerializeToString(), rid
                message = await anext(aiter(request_iterator), None)

        items = self.engine.stream(record, requests())
        async for reply in _replies(
            runtime_pb2.StreamResponse, record, rid, items, first.output_form
        ):
            yield reply

    @unary
    async def Upload(
        self, request_iterator: AsyncIterator[runtime_pb2.UploadRequest], context: Context
    ) -> runtime_pb2.UploadResponse:
        messages = aiter(request_iterator)
        first = await anext(messages, None)
        if first is None or first.WhichOneof("content") != "header":
            raise BadRequestError("the first message of an Upload must be its header")
        if first.header.namespace:  # else the bundle's own name, checked with its config
            check_model_ref(first.header.namespace, first.header.version, field="namespace")
        async with self.uploads.receive(convert.upload_header(first.header)) as upload:
            async for message in messages:
                if message.WhichOneof("content") != "chunk":
                    raise BadRequestError("an Upload sends one header, then only chunks")
                await upload.write(message.chunk)
            record, digest = await self.uploads.commit(upload)
        return runtime_pb2.UploadResponse(model=convert.model_message(record), sha256=digest)

    @unary
    async def ListModels(
        self, request: runtime_pb2.ListModelsRequest, context: Context
    ) -> runtime_pb2.ListModelsResponse:
        if request.name:  # no name lists every model; a name must be one
            check_model_ref(request.name)
        records = self.engine.records(request.name)
        return runtime_pb2.ListModelsResponse(models=[convert.model_message(r) for r in records])

    @unary
    async def GetModel(
        self, request: runtime_pb2.GetModelRequest, context: Context
    ) -> runtime_pb2.GetModelResponse:
        check_model_ref(request.name, request.version)
        record = self.engine.get(request.name, request.version)
        return runtime_pb2.GetModelResponse(model=convert.model_message(record))

    @unary
    async def LoadModel(
        self, request: runtime_pb2.LoadModelRequest, context: Context
    ) -> runtime_pb2.LoadModelResponse:
        check_model_ref(request.name, request.version)
        record = await self.engine.load(request.name, request.version)
        return runtime_pb2.LoadModelResponse(model=convert.model_message(record))

    @unary
    async def UnloadModel(
        self, request: runtime_pb2.UnloadModelRequest, context: Context
    ) -> runtime_pb2.UnloadModelResponse:
        check_model_ref(request.name, request.version)
        records = await self.engine.unload(request.name, request.version)
        return runtime_pb2.UnloadModelResponse(models=[convert.model_message(r) for r in records])

    @unary
    async def DeleteModel(
        self, request: runtime_pb2.DeleteModelRequest, context: Context
    ) -> runtime_pb2.DeleteModelResponse:
        check_model_ref(request.name, request.version)
        versions = await self.engine.delete(request.name, request.version)
        return runtime_pb2.DeleteModelResponse(versions=versions)


def _predict_answers_bytes(name: str, handler: Handler) -> Handler:
    """Predict's handler without a response serializer: the servicer returns the bytes."""
    if name != "Predict":
        return handler
    return grpc.unary_unary_rpc_method_handler(
        handler.unary_unary, request_deserializer=handler.request_deserializer
    )


def _registered(name: str, handler: Handler) -> Handler:
    """A method's handler as it is served: undecodable requests refused, Predict answering
    bytes."""
    return undecodable.guard(name, _predict_answers_bytes(name, handler))


def add_to_server(servicer: ModelRuntimeServicer, server: Any) -> None:
    """Register ``servicer`` (runtime_pb2_grpc's registration, rewritten by ``_registered``)."""
    generated = runtime_pb2_grpc.add_ModelRuntimeServicer_to_server
    add_rewritten(generated, servicer, server, _registered)
