"""Open Inference Protocol v2 REST: health, metadata, infer (JSON and binary tensors), Triton's
generate extension (``generate``, ``generate_stream`` as SSE) and the model repository.

Each route calls the same OipDataPlane as the gRPC service: a REST body becomes a
ModelInferRequest (oip_rest_codec, oip_rest_generate) and the answer's ModelInferResponse is
rendered back. Liveness, readiness and server metadata are open; the rest takes the inference
token, and loading or unloading the admin token, as their gRPC twins do.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from modelrt.oip import grpc_service_pb2 as oip
from registry.errors import ModelrtError
from runtime.api.http import oip_rest_codec as codec
from runtime.api.http import oip_rest_describe as describe
from runtime.api.http import oip_rest_generate as generate_codec
from runtime.api.http.context import Ctx, inference_access, management_access
from runtime.api.http.deadline import TIMEOUT_HEADER, bounded, seconds_of, within
from runtime.api.http.errors import error_body, internal_error
from runtime.api.http.model_calls import ModelCall, counted_call
from runtime.api.http.origin import same_site
from runtime.api.oip_dataplane import EXTENSIONS, OipDataPlane, specs_of
from runtime.errors import BadRequestError

logger = logging.getLogger(__name__)
# same_site: a page of another site may not make a visitor's browser run or load models.
router = APIRouter(prefix="/v2", tags=["Open Inference Protocol"], dependencies=[same_site])
#: What this transport adds to the protocol's extensions.
REST_EXTENSIONS = (*EXTENSIONS, "binary_tensor_data", "generate")
SSE_TYPE = "text/event-stream; charset=utf-8"


def _plane(ctx: Ctx) -> OipDataPlane:
    return ctx.inference.plane


def _status(ok: bool, body: dict[str, Any]) -> JSONResponse:
    """200 when ``ok``, else 503: probes and tritonclient read the status."""
    return JSONResponse(body, status_code=200 if ok else 503)


def _call(ctx: Ctx, name: str, rpc: str) -> ModelCall:
    """The model call to count in the model's request series (none for an unknown name)."""
    known = any(record.name == name for record in ctx.engine.records())
    return counted_call(ctx.metrics, known, name, rpc)


async def _body(request: Request, ctx: Ctx) -> bytes:
    body = await request.body()
    encoding = request.headers.get("content-encoding", "identity")
    return codec.decoded(body, encoding, ctx.max_body_bytes)


# -- health and metadata -------------------------------------------------------------------------


@router.get("", summary="Server metadata: name, version, extensions")
async def server_metadata(ctx: Ctx) -> dict[str, Any]:
    return describe.server_metadata(_plane(ctx).server_metadata(REST_EXTENSIONS))


@router.get("/health/live", summary="200 while the server is live, else 503")
async def server_live(ctx: Ctx) -> JSONResponse:
    live = _plane(ctx).live()
    return _status(live, {"live": live})


@router.get("/health/ready", summary="200 when the server is ready, else 503")
async def server_ready(ctx: Ctx) -> JSONResponse:
    ready = _plane(ctx).ready()
    return _status(ready, {"ready": ready})


@router.get("/models/{name}/ready", summary="200 when the model is ready, else 503")
@router.get("/models/{name}/versions/{version}/ready", summary="200 when the version is ready")
async def model_ready(name: str, ctx: Ctx, version: str = "") -> JSONResponse:
    ready = _plane(ctx).model_ready(name, version)
    return _status(ready, {"name": name, "ready": ready})


@router.get(
    "/models/stats", summary="Statistics of every model (Triton's statistics extension)",
    dependencies=[inference_access],
)  # fmt: skip
@router.get("/models/{name}/stats", dependencies=[inference_access])
@router.get("/models/{name}/versions/{version}/stats", dependencies=[inference_access])
async def model_statistics(ctx: Ctx, name: str = "", version: str = "") -> dict[str, Any]:
    stats = _plane(ctx).statistics(name, version)
    return {"model_stats": [describe.proto_json(each) for each in stats]}


@router.get(
    "/models/{name}", summary="Model metadata: versions, platform, inputs, outputs",
    dependencies=[inference_access],
)  # fmt: skip
@router.get("/models/{name}/versions/{version}", dependencies=[inference_access])
async def model_metadata(name: str, ctx: Ctx, version: str = "") -> dict[str, Any]:
    return describe.model_metadata(_plane(ctx).model_metadata(name, version))


@router.get(
    "/models/{name}/config", summary="Triton's model configuration of a model",
    dependencies=[inference_access],
)  # fmt: skip
@router.get("/models/{name}/versions/{version}/config", dependencies=[inference_access])
async def model_config(name: str, ctx: Ctx, version: str = "") -> dict[str, Any]:
    return describe.proto_json(_plane(ctx).model_config(name, version))


# -- infer ---------------------------------------------------------------------------------------


@router.post(
    "/models/{name}/infer", summary="Infer: JSON tensors or Triton's binary tensor data",
    dependencies=[inference_access], openapi_extra=TIMEOUT_HEADER,
)  # fmt: skip
@router.post(
    "/models/{name}/versions/{version}/infer",
    dependencies=[inference_access], openapi_extra=TIMEOUT_HEADER,
)  # fmt: skip
async def infer(name: str, request: Request, ctx: Ctx, version: str = "") -> Response:
    body = await _body(request, ctx)
    header_length = request.headers.get(codec.HEADER_LENGTH)
    message, form = codec.read_infer(body, header_length, name, version)
    seconds = seconds_of(request)
    call = _call(ctx, name, "HttpModelInfer")
    try:
        response = await within(_plane(ctx).infer(message, seconds), seconds, name)
    except BaseException as exc:
        call.finish(exc)
        raise
    call.finish()
    content, headers = codec.render_infer(response, form)
    return Response(content, headers=headers)


# -- generate ------------------------------------------------------------------------------------


async def _generate_request(
    name: str, version: str, request: Request, ctx: Ctx
) -> oip.ModelInferRequest:
    record = _plane(ctx).found(oip.ModelInferRequest(model_name=name, model_version=version))
    body = await _body(request, ctx)
    return generate_codec.read_generate(body, name, version, specs_of(record))


@router.post(
    "/models/{name}/generate", summary="Generate: one JSON answer (Triton's generate extension)",
    dependencies=[inference_access], openapi_extra=TIMEOUT_HEADER,
)  # fmt: skip
@router.post(
    "/models/{name}/versions/{version}/generate",
    dependencies=[inference_access], openapi_extra=TIMEOUT_HEADER,
)  # fmt: skip
async def generate(name: str, request: Request, ctx: Ctx, version: str = "") -> dict[str, Any]:
    """A model with Predict answers once; a Generate-only one answers with its items gathered."""
    call = _call(ctx, name, "HttpGenerate")
    try:
        answer = await _generate_answer(name, request, ctx, version)
    except BaseException as exc:
        call.finish(exc)
        raise
    call.finish()
    return answer


async def _generate_answer(name: str, request: Request, ctx: Ctx, version: str) -> dict[str, Any]:
    plane = _plane(ctx)
    seconds = seconds_of(request)
    message = await _generate_request(name, version, request, ctx)
    if "predict" in plane.found(message).capabilities:
        answer = await within(plane.infer(message, seconds), seconds, name)
        return generate_codec.answer_of(answer)
    record = plane.resolve(message, "generate")
    answers: list[dict[str, Any]] = []
    items = bounded(plane.generate(message, record), seconds, record.name)
    async with contextlib.aclosing(items):
        async for item in items:
            if isinstance(item, Exception):
                raise item if isinstance(item, ModelrtError) else internal_error(item, "generate")
            answers.append(generate_codec.answer_of(item))
    head = {"model_name": record.name, "model_version": record.version}
    return {**head, **generate_codec.gathered(answers)} if answers else head


def _event(document: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(document, separators=(',', ':'))}\n\n".encode()


def _error_event(error: Exception) -> bytes:
    known = error if isinstance(error, ModelrtError) else internal_error(error, "generate_stream")
    return _event(error_body(known))


def _item_event(item: oip.ModelInferResponse | Exception) -> bytes:
    if isinstance(item, Exception):
        return _error_event(item)
    try:
        return _event(generate_codec.answer_of(item))
    except ModelrtError as exc:
        return _error_event(exc)


async def _events(
    first: oip.ModelInferResponse | Exception,
    rest: AsyncGenerator[oip.ModelInferResponse | Exception, None] | None = None,
) -> AsyncIterator[bytes]:
    """One ``data:`` event per item; an item that fails is an event with its error body."""
    yield _item_event(first)
    if rest is None:
        return
    async with contextlib.aclosing(rest):  # closing it (the client left) stops the model
        try:
            async for item in rest:
                yield _item_event(item)
        except Exception as exc:  # the call failed after it began: the last event says why
            yield _error_event(exc)


@router.post(
    "/models/{name}/generate_stream", summary="Generate: one SSE data event per item",
    dependencies=[inference_access], response_class=StreamingResponse,
    openapi_extra=TIMEOUT_HEADER,
)  # fmt: skip
@router.post(
    "/models/{name}/versions/{version}/generate_stream",
    dependencies=[inference_access], response_class=StreamingResponse,
    openapi_extra=TIMEOUT_HEADER,
)  # fmt: skip
async def generate_stream(
    name: str, request: Request, ctx: Ctx, version: str = ""
) -> StreamingResponse:
    """Errors found before the model runs answer with their HTTP status; later ones are events.
    Closing the connection stops the model's generator."""
    call = _call(ctx, name, "HttpGenerateStream")
    try:
        events = await _stream_events(name, request, ctx, version)
    except BaseException as exc:
        call.finish(exc)
        raise
    return StreamingResponse(_counted(events, call), media_type=SSE_TYPE)


async def _counted(events: AsyncIterator[bytes], call: ModelCall) -> AsyncIterator[bytes]:
    """``events``, counting the call when they end (CANCELLED when the client left)."""
    try:
        async for event in events:
            yield event
    except BaseException as exc:
        call.finish(exc)
        raise
    call.finish()


async def _stream_events(
    name: str, request: Request, ctx: Ctx, version: str
) -> AsyncIterator[bytes]:
    plane = _plane(ctx)
    seconds = seconds_of(request)
    message = await _generate_request(name, version, request, ctx)
    if "generate" not in plane.found(message).capabilities:
        return _events(await within(plane.infer(message, seconds), seconds, name))
    record = plane.resolve(message, "generate")
    items = bounded(plane.generate(message, record), seconds, record.name)
    try:
        first = await anext(items)
    except StopAsyncIteration:
        return _nothing()
    except BaseException:
        await items.aclose()
        raise
    return _events(first, items)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield  # an async generator with no events


# -- repository ----------------------------------------------------------------------------------


@router.post(
    "/repository/index", summary="Every model version and its state",
    dependencies=[inference_access],
)  # fmt: skip
async def repository_index(request: Request, ctx: Ctx) -> list[dict[str, str]]:
    document = codec.json_object(await _body(request, ctx), "the index request")
    ready = document.get("ready", False)
    if not isinstance(ready, bool):
        raise BadRequestError("ready must be a boolean")
    return describe.repository_index(_plane(ctx).repository_index(ready))


@router.post(
    "/repository/models/{name}/load", summary="(Re)load a model (admin token)",
    dependencies=[management_access],
)  # fmt: skip
async def repository_load(name: str, ctx: Ctx) -> Response:
    await _plane(ctx).load(name)
    return Response(status_code=200)


@router.post(
    "/repository/models/{name}/unload", summary="Unload every version of a model (admin token)",
    dependencies=[management_access],
)  # fmt: skip
async def repository_unload(name: str, ctx: Ctx) -> Response:
    await _plane(ctx).unload(name)
    return Response(status_code=200)
