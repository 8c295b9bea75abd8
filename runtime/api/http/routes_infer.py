"""modelrt's JSON inference routes: Predict, and Generate as Server-Sent Events.

The JSON body becomes the modelrt.v1 request message the instance decodes (json_values); the
instance's answer comes back as the proto response, turned into JSON here.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from modelrt.v1 import runtime_pb2
from runtime.api.http.context import Ctx, inference_access
from runtime.api.http.json_values import outputs_json, request_from_json
from runtime.api.servicer import request_id
from runtime.engine.models import check_model_ref
from runtime.instances.wire import response_bytes

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["inference"], dependencies=[inference_access])


class PredictBody(BaseModel):
    """A call's inputs: each a value form ({"text"}, {"bytes_b64"}, {"json"}, {"tensor"}) or a
    plain string (text) or other JSON value (json)."""

    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    request_id: str = ""


_EXAMPLE = {"inputs": {"prompt": {"text": "hi"}}, "parameters": {}}
Predict = Annotated[PredictBody, Body(openapi_examples={"text": {"value": _EXAMPLE}})]


async def _predict(ctx: Ctx, name: str, version: str, body: PredictBody) -> dict[str, Any]:
    check_model_ref(name, version)
    record = ctx.engine.resolve(name, version, "predict")
    message = request_from_json(runtime_pb2.PredictRequest, body.model_dump())
    rid = request_id(message.request_id)
    answer = await ctx.engine.predict(record, (message.SerializeToString(), rid), None)
    response = runtime_pb2.PredictResponse.FromString(
        response_bytes(record.name, record.version, rid, answer)
    )
    head = {"model": response.model, "version": response.version, "request_id": rid}
    return {**head, **outputs_json(response)}


@router.post("/models/{name}/predict", summary="Predict with the model's newest READY version")
async def predict(name: str, ctx: Ctx, body: Predict) -> dict[str, Any]:
    return await _predict(ctx, name, "", body)


@router.post("/models/{name}/versions/{version}/predict", summary="Predict with one version")
async def predict_version(name: str, version: str, ctx: Ctx, body: Predict) -> dict[str, Any]:
    return await _predict(ctx, name, version, body)
