"""modelrt's JSON inference routes: Predict, and Generate as Server-Sent Events.

The JSON body becomes the modelrt.v1 request message the instance decodes (json_values); the
instance's answer comes back as the proto response, turned into JSON here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from modelrt.v1 import runtime_pb2
from runtime.api.http.context import Ctx, inference_access
from runtime.api.http.deadline import TIMEOUT_HEADER, bounded, seconds_of, within
from runtime.api.http.json_values import error_json, item_json, outputs_json, request_from_json
from runtime.api.http.model_calls import ModelCall
from runtime.api.http.origin import same_site
from runtime.api.servicer import request_id
from runtime.engine.models import check_model_ref
from runtime.instances.outputs import ItemFailure, ModelOutput
from runtime.instances.wire import response_bytes

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["inference"], dependencies=[same_site, inference_access])


class PredictBody(BaseModel):
    """A call's inputs: each a value form ({"text"}, {"bytes_b64"}, {"json"}, {"tensor"}) or a
    plain string (text) or other JSON value (json)."""

    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    request_id: str = ""


_EXAMPLE = {"inputs": {"prompt": {"text": "hi"}}, "parameters": {}}
Predict = Annotated[PredictBody, Body(openapi_examples={"text": {"value": _EXAMPLE}})]


async def _predict(
    ctx: Ctx, name: str, version: str, body: PredictBody, seconds: float | None
) -> dict[str, Any]:
    check_model_ref(name, version)
    record = ctx.engine.resolve(name, version, "predict")
    message = request_from_json(runtime_pb2.PredictRequest, body.model_dump())
    rid = request_id(message.request_id)
    call = ModelCall(ctx.metrics, record.name, "HttpPredict")
    try:
        wired = (message.SerializeToString(), rid)
        answer = await within(ctx.engine.predict(record, wired, seconds), seconds, record.name)
    except BaseException as exc:
        call.finish(exc)
        raise
    call.finish()
    response = runtime_pb2.PredictResponse.FromString(
        response_bytes(record.name, record.version, rid, answer)
    )
    head = {"model": response.model, "version": response.version, "request_id": rid}
    return {**head, **outputs_json(response)}


@router.post(
    "/models/{name}/predict",
    summary="Predict with the model's newest READY version",
    openapi_extra=TIMEOUT_HEADER,
)
async def predict(name: str, request: Request, ctx: Ctx, body: Predict) -> dict[str, Any]:
    return await _predict(ctx, name, "", body, seconds_of(request))


@router.post(
    "/models/{name}/versions/{version}/predict",
    summary="Predict with one version",
    openapi_extra=TIMEOUT_HEADER,
)
async def predict_version(
    name: str, version: str, request: Request, ctx: Ctx, body: Predict
) -> dict[str, Any]:
    return await _predict(ctx, name, version, body, seconds_of(request))


# -- Generate as Server-Sent Events ---------------------------------------------------------------


def _event(data: dict[str, Any], event: str = "") -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _item_event(item: ModelOutput | ItemFailure, index: int, model: str) -> bytes:
    """One item as an SSE event: its outputs, or ``event: error`` with the error body."""
    data = item_json(item, index, model)
    if "error" in data:
        return _event({"index": index, **data["error"]}, "error")
    return _event(data)


async def _events(
    first: ModelOutput | ItemFailure | None,
    items: AsyncGenerator[ModelOutput | ItemFailure, None],
    model: str,
    call: ModelCall,
) -> AsyncIterator[bytes]:
    """The events of a call whose first item is already in hand; closing this generator (the
    client went away) closes the model's."""
    failure: BaseException | None = GeneratorExit()  # until the last event is sent
    async with aclosing(items):
        try:
            if first is not None:
                yield _item_event(first, 0, model)
                index = 1
                async for item in items:
                    yield _item_event(item, index, model)
                    index += 1
            failure = None
        except Exception as exc:  # the whole call failed after it started: no status to set
            failure = exc
            yield _event(error_json(exc, model), "error")
            return
        finally:
            call.finish(failure)
        yield _event({}, "done")


async def _generate(
    ctx: Ctx, name: str, version: str, body: PredictBody, seconds: float | None
) -> StreamingResponse:
    check_model_ref(name, version)
    record = ctx.engine.resolve(name, version, "generate")
    message = request_from_json(runtime_pb2.GenerateRequest, body.model_dump())
    rid = request_id(message.request_id)
    wired = (message.SerializeToString(), rid)
    items = bounded(ctx.engine.generate(record, wired), seconds, record.name)
    call = ModelCall(ctx.metrics, record.name, "HttpGenerate")
    try:  # a bad request fails before the first item: answered with its status, not an event
        first = await anext(items, None)
    except BaseException as exc:
        call.finish(exc)
        await items.aclose()
        raise
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Request-Id": rid}
    return StreamingResponse(
        _events(first, items, record.name, call), media_type="text/event-stream", headers=headers
    )


_SSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "one event per item"}
}


@router.post(
    "/models/{name}/generate",
    summary="Generate: items as Server-Sent Events, then `event: done`",
    response_class=StreamingResponse,
    responses=_SSE,
    openapi_extra=TIMEOUT_HEADER,
)
async def generate(name: str, request: Request, ctx: Ctx, body: Predict) -> StreamingResponse:
    return await _generate(ctx, name, "", body, seconds_of(request))


@router.post(
    "/models/{name}/versions/{version}/generate",
    summary="Generate with one version, as Server-Sent Events",
    response_class=StreamingResponse,
    responses=_SSE,
    openapi_extra=TIMEOUT_HEADER,
)
async def generate_version(
    name: str, version: str, request: Request, ctx: Ctx, body: Predict
) -> StreamingResponse:
    return await _generate(ctx, name, version, body, seconds_of(request))
