"""Stream over a WebSocket: JSON messages in, one JSON result per model output out, interleaved.

Each message is a predict-form body (the first may carry ``parameters`` and ``request_id`` for
the call); ``{"end": true}`` or closing ends the input. Results are ``{"index", "outputs",
"structured"}`` or ``{"index", "error"}``; the socket closes with 1000 when the model is done,
1011 after a last message with the error body when the whole call fails, 1008 for auth.
Browsers cannot set headers on a WebSocket: they may send the bearer token as ``?token=``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from modelrt.v1 import runtime_pb2
from registry.errors import ModelrtError
from runtime.api.http.body_errors import json_problem
from runtime.api.http.context import INFERENCE_METHOD, HttpContext
from runtime.api.http.deadline import bounded, seconds_of
from runtime.api.http.errors import error_body
from runtime.api.http.json_values import error_json, item_json, request_from_json
from runtime.api.http.limits import BodyTooLargeError
from runtime.api.http.model_calls import ModelCall
from runtime.api.http.origin import CrossSiteRequestError, check_origin
from runtime.api.servicer import request_id
from runtime.engine.models import ModelRecord, check_model_ref
from runtime.errors import BadRequestError
from runtime.instances.payload import StreamInput

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["inference"])
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
_END = object()


def _credentials(ws: WebSocket) -> list[tuple[str, str]]:
    header = ws.headers.get("authorization")
    if header is None and "token" in ws.query_params:
        header = f"Bearer {ws.query_params['token']}"
    return [] if header is None else [("authorization", header)]


async def _fail(ws: WebSocket, body: dict[str, Any], code: int) -> None:
    """Send ``body`` as the last message and close with ``code`` (when the client is there)."""
    if ws.client_state is WebSocketState.CONNECTED:
        try:
            await ws.send_text(json.dumps(body))
            await ws.close(code)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass


async def _message(ws: WebSocket, limit: int) -> dict[str, Any] | ModelrtError | object:
    """The next message as a body, an error for a message that is not one, or _END."""
    try:
        received = await ws.receive()
    except (WebSocketDisconnect, RuntimeError):
        return _END
    if received["type"] == "websocket.disconnect":
        return _END
    text = received.get("text")
    data = text if text is not None else (received.get("bytes") or b"").decode("utf-8", "replace")
    if len(data) > limit:
        return BodyTooLargeError(f"a stream message is larger than {limit} bytes")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:  # a 5,000-digit integer, 100,000 brackets
        return BadRequestError(f"a stream message is not JSON: {json_problem(exc)}")
    if not isinstance(body, dict):
        return BadRequestError("a stream message is a JSON object with inputs")
    if body.get("end") is True:
        return _END
    return body


_FIELDS = frozenset({"inputs", "parameters", "request_id"})


def _wire(body: dict[str, Any], rid: str) -> StreamInput:
    if unknown := set(body) - _FIELDS:
        return BadRequestError(f"unknown stream message field(s): {', '.join(sorted(unknown))}")
    try:
        message = request_from_json(runtime_pb2.StreamRequest, body)
    except ModelrtError as exc:
        return exc
    return message.SerializeToString(), rid


async def _serve(
    ws: WebSocket, ctx: HttpContext, record: ModelRecord, seconds: float | None
) -> None:
    first = await _message(ws, ctx.max_body_bytes)
    if first is _END:
        await ws.close(1000)
        return
    sent = first.get("request_id") if isinstance(first, dict) else None
    rid = request_id(sent if isinstance(sent, str) else "")

    async def requests() -> AsyncIterator[StreamInput]:
        body = first
        while body is not _END:
            if isinstance(body, ModelrtError):
                yield body
            elif isinstance(body, dict):
                yield _wire(body, rid)
            body = await _message(ws, ctx.max_body_bytes)

    index = 0
    call = ModelCall(ctx.metrics, record.name, "HttpStream")
    outputs = bounded(ctx.engine.stream(record, requests()), seconds, record.name)
    try:
        async with aclosing(outputs) as items:
            async for item in items:
                await ws.send_text(json.dumps(item_json(item, index, record.name)))
                index += 1
    except BaseException as exc:
        call.finish(ConnectionError() if isinstance(exc, WebSocketDisconnect) else exc)
        raise
    call.finish()
    await ws.close(1000)


async def _stream(ws: WebSocket, name: str, version: str) -> None:
    ctx: HttpContext = ws.app.state.modelrt
    await ws.accept()
    try:
        check_origin(ws)  # a browser opens a socket to any site: only ours and cors_origins
    except CrossSiteRequestError as exc:
        await _fail(ws, error_body(exc), POLICY_VIOLATION)
        return
    caller = f"WebSocket {ws.url.path}"
    refused = ctx.policy.check(INFERENCE_METHOD, _credentials(ws), caller=caller, carrier="header")
    if refused is not None:
        await _fail(ws, error_body(refused), POLICY_VIOLATION)
        return
    try:
        check_model_ref(name, version)
        seconds = seconds_of(ws)  # the whole stream's, as a gRPC deadline bounds a Stream
        record = ctx.engine.resolve(name, version, "stream")
        await _serve(ws, ctx, record, seconds)
    except (WebSocketDisconnect, OSError):  # the client went away: the model's stream is closed
        logger.debug("stream of %s: the client went away", name)
    except Exception as exc:
        await _fail(ws, error_json(exc, "stream"), INTERNAL_ERROR)


@router.websocket("/models/{name}/stream", name="stream")
async def stream(ws: WebSocket, name: str) -> None:
    await _stream(ws, name, "")


@router.websocket("/models/{name}/versions/{version}/stream", name="stream_version")
async def stream_version(ws: WebSocket, name: str, version: str) -> None:
    await _stream(ws, name, version)
