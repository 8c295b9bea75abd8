"""modelrt's JSON model cards: the list, one model (or version), and the card's picture.

A card holds what GetModel gives, flattened for browsers: state and FAILED reason, type,
framework, description, capabilities, declared inputs, the output JSON Schema, batching, and
the stored version's sha256 and creation time.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from runtime.api.http.card_image import find_card_image, media_type, placeholder_svg
from runtime.api.http.context import INFERENCE_METHOD, Ctx, context, inference_access
from runtime.engine.engine import Engine
from runtime.engine.models import ModelRecord, ModelState, check_model_ref

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["models"])


def _inputs(record: ModelRecord) -> list[dict[str, Any]]:
    if record.prepared is None:
        return []
    return [
        {
            "name": spec.name,
            "kind": spec.kind,
            "dtype": spec.dtype,
            "shape": list(spec.shape) if spec.shape is not None else None,
            "optional": spec.optional,
        }
        for spec in record.prepared.config.inputs
    ]


def _stored(record: ModelRecord) -> tuple[str | None, str | None]:
    """The stored version's creation time and sha256 (a bundle placed by hand has neither)."""
    manifest = record.entry.manifest if record.entry is not None else None
    if manifest is None:
        return None, None
    return manifest.created or None, manifest.sha256 or None


def card(record: ModelRecord, engine: Engine) -> dict[str, Any]:
    """The JSON card of one model version."""
    prepared = record.prepared
    config = prepared.config if prepared is not None else None
    created, sha256 = _stored(record)
    batching = config.batching if config is not None else None
    return {
        "name": record.name,
        "version": record.version,
        "versions": [other.version for other in engine.records(record.name)],
        "state": str(record.state),
        "failed_reason": record.reason if record.state is ModelState.FAILED else None,
        "state_time": record.state_time.isoformat(),
        "model_type": config.model_type if config is not None else None,
        "framework": config.framework if config is not None else None,
        "description": config.description if config is not None else "",
        "labels": list(config.labels) if config is not None else [],
        "format": prepared.format if prepared is not None else None,
        "capabilities": list(record.capabilities),
        "inputs": _inputs(record),
        "output_schema": record.output_schema,
        "image_url": f"/api/v1/models/{record.name}/image",
        "batching": batching.model_dump() if batching and batching.max_batch_size else None,
        "created": created,
        "sha256": sha256,
        "warnings": list(record.warnings),
    }


@router.get(
    "/models",
    dependencies=[inference_access],
    summary="Every model version this server knows, as cards",
)
async def list_models(ctx: Ctx) -> dict[str, Any]:
    return {"models": [card(record, ctx.engine) for record in ctx.engine.records()]}


@router.get(
    "/models/{name}",
    dependencies=[inference_access],
    summary="A model's card: its newest READY version, else its newest",
)
async def get_model(name: str, ctx: Ctx) -> dict[str, Any]:
    return card(ctx.engine.get(name), ctx.engine)


@router.get(
    "/models/{name}/versions/{version}",
    dependencies=[inference_access],
    summary="The card of one model version",
)
async def get_version(name: str, version: str, ctx: Ctx) -> dict[str, Any]:
    return card(ctx.engine.get(name, version), ctx.engine)


def _picture_access(request: Request) -> None:
    """As inference_access; an <img> cannot send a header, so ``?token=`` is read too."""
    header = request.headers.get("authorization")
    token = request.query_params.get("token")
    if header is None and token is not None:
        header = f"Bearer {token}"
    credentials = [] if header is None else [("authorization", header)]
    caller = f"{request.method} {request.url.path}"
    policy = context(request).policy
    refused = policy.check(INFERENCE_METHOD, credentials, caller=caller, carrier="header")
    if refused is not None:
        raise refused


@router.get(
    "/models/{name}/image",
    dependencies=[Depends(_picture_access)],
    summary="The card's picture: the bundle's own, else a generated SVG",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
)
async def card_picture(name: str, ctx: Ctx) -> Response:
    check_model_ref(name)
    record = ctx.engine.get(name)
    path = find_card_image(record)
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if path is None:
        return Response(placeholder_svg(name), media_type="image/svg+xml", headers=headers)
    if path.suffix.lower() == ".svg":  # an uploaded SVG may carry script: never run it
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return FileResponse(path, media_type=media_type(path), headers=headers)
