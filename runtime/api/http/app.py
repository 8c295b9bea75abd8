"""The HTTP app: every route module's router, the error handlers, CORS and per-request metrics."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from runtime.api.http import (
    errors,
    limits,
    measure,
    openapi_errors,
    routes_infer,
    routes_manage,
    routes_models,
    routes_oip,
    routes_openai,
    routes_playground,
    routes_server,
    routes_stats,
    routes_stream,
)
from runtime.api.http.context import HttpContext

VERSION = "v1"


def build_app(context: HttpContext, cors_origins: list[str]) -> FastAPI:
    """The FastAPI app over ``context`` (the same engine the gRPC servicers use)."""
    app = FastAPI(
        title="modelrt",
        summary="modelrt's HTTP front door: Open Inference Protocol REST, OpenAI-compatible "
        "routes, modelrt's own JSON routes and the playground.",
        version=VERSION,
        docs_url=None,  # served from local assets by routes_playground, no CDN
        redoc_url=None,
    )
    app.state.modelrt = context
    app.state.cors_origins = list(cors_origins)  # origin.py: whose pages may call
    errors.install_error_handlers(app)
    for router in (
        routes_server.router,
        routes_models.router,
        routes_infer.router,
        routes_stream.router,
        routes_manage.router,
        routes_stats.router,
        routes_oip.router,
        routes_openai.router,
        routes_playground.router,
    ):
        app.include_router(router)
    openapi_errors.install(app)
    app.add_middleware(
        limits.LimitBody,
        max_bytes=context.max_body_bytes,
        max_upload_bytes=context.max_upload_bytes,
    )
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["*"],
        )
    if context.metrics is not None:
        app.add_middleware(measure.MeasureRequests, metrics=context.metrics)
    return app
