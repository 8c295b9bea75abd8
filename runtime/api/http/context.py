"""What every HTTP route reaches: the engine, uploads, health, metrics and the access policy.

Routes take it as a parameter ``ctx: Ctx``; a route that needs a token class declares
``dependencies=[inference_access]`` or ``[management_access]``: the same AccessPolicy as the gRPC
side decides, from the ``Authorization: Bearer <token>`` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from runtime.api.auth import AccessPolicy
from runtime.api.health import ModelHealthServicer
from runtime.engine.engine import Engine
from runtime.engine.uploads import Uploads
from runtime.metrics.metrics import Metrics

if TYPE_CHECKING:
    from runtime.api.oip_servicer import InferenceServicer

#: gRPC method names whose access class an HTTP route shares (auth.access_of decides).
INFERENCE_METHOD = "/modelrt.v1.ModelRuntime/Predict"
MANAGEMENT_METHOD = "/modelrt.v1.ModelRuntime/LoadModel"


@dataclass(frozen=True)
class HttpContext:
    """The server's parts an HTTP route may use (built by runtime.server)."""

    engine: Engine
    uploads: Uploads
    health: ModelHealthServicer
    policy: AccessPolicy
    metrics: Metrics | None
    inference: InferenceServicer
    max_body_bytes: int
    max_upload_bytes: int
    #: Where an upload whose size or sha256 is not known up front is spooled (an anonymous file,
    #: next to the store rather than in a /tmp that may live in RAM); None: the system's.
    spool_dir: Path | None = None


def context(request: Request) -> HttpContext:
    """The HttpContext of the app serving ``request``."""
    found: HttpContext = request.app.state.modelrt
    return found


#: A route parameter ``ctx: Ctx`` receives the HttpContext.
Ctx = Annotated[HttpContext, Depends(context)]


def _authorization(request: Request) -> list[tuple[str, str]]:
    header = request.headers.get("authorization")
    return [] if header is None else [("authorization", header)]


def require(method: str, request: Request) -> None:
    """Raise the policy's error when the request may not call what ``method`` stands for."""
    caller = f"{request.method} {request.url.path}"
    policy = context(request).policy
    error = policy.check(method, _authorization(request), caller=caller, carrier="header")
    if error is not None:
        raise error


def _inference(request: Request) -> None:
    require(INFERENCE_METHOD, request)


def _management(request: Request) -> None:
    require(MANAGEMENT_METHOD, request)


inference_access = Depends(_inference)
management_access = Depends(_management)
