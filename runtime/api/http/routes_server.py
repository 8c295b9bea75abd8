"""Server-wide routes of modelrt's own JSON API: what this server is and whether it is ready."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from grpc_health.v1.health_pb2 import HealthCheckResponse

from runtime.api.health import LIVENESS, READINESS
from runtime.api.http.context import Ctx
from runtime.api.oip_servicer import server_version

SERVING = HealthCheckResponse.SERVING
router = APIRouter(prefix="/api/v1", tags=["server"])


@router.get("/server", summary="This server: name, version, liveness and readiness")
async def server_info(ctx: Ctx) -> dict[str, Any]:
    return {
        "name": "modelrt",
        "version": server_version(),
        "live": ctx.health.status(LIVENESS) == SERVING,
        "ready": ctx.health.status(READINESS) == SERVING,
    }
