"""OpenAI-compatible routes: ``/v1/models``, ``/v1/completions``, ``/v1/chat/completions``.

Every model that generates text from a prompt is listed and callable (openai_mapping decides
which); a request becomes one Generate call through the engine, streamed back as SSE chunks
(``stream: true``) or collected into one answer. Errors answer in OpenAI's shape
(openai_errors); auth is the inference token, as for every inference route.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.responses import JSONResponse

from registry.errors import HookNotImplementedError, ModelrtError
from runtime.api.http.context import Ctx, HttpContext, inference_access
from runtime.api.http.deadline import TIMEOUT_HEADER, bounded, seconds_of
from runtime.api.http.model_calls import ModelCall
from runtime.api.http.openai_errors import OpenAIRoute
from runtime.api.http.openai_mapping import (
    ChatRequest,
    CompletionRequest,
    NotATextGeneratorError,
    TextTarget,
    chat_messages,
    check_n,
    completion_prompt,
    generate_request,
    parameters,
    render_chat,
    text_target,
)
from runtime.api.http.openai_stream import DONE, Generation, SseResponse, collect, sse, sse_error
from runtime.api.http.origin import same_site
from runtime.api.servicer import request_id
from runtime.engine.models import ModelRecord, ModelState, check_model_ref
from runtime.errors import ModelNotFoundError

#: nginx's status for a request whose client went away (no one reads it).
CLIENT_CLOSED = 499
router = APIRouter(
    prefix="/v1",
    tags=["openai"],
    route_class=OpenAIRoute,
    dependencies=[same_site, inference_access],
)


def resolve(ctx: HttpContext, model: str) -> tuple[ModelRecord, TextTarget]:
    """The READY version ``model`` (``name`` or ``name:version``) names, and where its text
    goes; a model that cannot generate text is the request's error (400)."""
    name, _, version = model.partition(":")
    check_model_ref(name, version, field="model")
    try:
        record = ctx.engine.resolve(name, version, "generate")
    except HookNotImplementedError:
        record = None
    target = text_target(record) if record is not None else None
    if record is None or target is None:
        raise NotATextGeneratorError(
            f"model {model!r} cannot generate text: the OpenAI-compatible routes need a model "
            "with Generate and a text input (or a JSON input named 'messages')",
            metadata={"model": name, "field": "model"},
        )
    return record, target


def _model_object(record: ModelRecord) -> dict[str, Any]:
    return {
        "id": record.name,
        "object": "model",
        "created": int(record.state_time.timestamp()),
        "owned_by": "modelrt",
    }


def _text_generator(ctx: HttpContext, name: str) -> ModelRecord | None:
    try:
        return resolve(ctx, name)[0]
    except ModelrtError:
        return None


@router.get("/models", summary="Models that generate text (OpenAI's model list)")
async def list_models(ctx: Ctx) -> dict[str, Any]:
    names = dict.fromkeys(r.name for r in ctx.engine.records() if r.state is ModelState.READY)
    found = [record for name in names if (record := _text_generator(ctx, name)) is not None]
    return {"object": "list", "data": [_model_object(record) for record in found]}


@router.get("/models/{model}", summary="One model that generates text")
async def get_model(model: str, ctx: Ctx) -> dict[str, Any]:
    try:
        record, _ = resolve(ctx, model)
    except NotATextGeneratorError as exc:
        raise ModelNotFoundError(exc.message, metadata=exc.metadata) from None
    return _model_object(record)


async def _start(
    ctx: HttpContext,
    model: str,
    chat: list[dict[str, str]] | None,
    prompt: str,
    settings: dict[str, Any],
    rpc: str,
    seconds: float | None,
) -> tuple[Generation, str]:
    """A started Generation for ``prompt`` (or ``chat``) and the request id; counted in the
    model's request series as ``rpc``; ``seconds``: the Request-Timeout, for all of it."""
    record, target = resolve(ctx, model)
    call = ModelCall(ctx.metrics, record.name, rpc)
    rid = request_id("")
    message = generate_request(record, target, chat, prompt, settings, rid)
    wired = (message.SerializeToString(), rid)
    items = bounded(ctx.engine.generate(record, wired), seconds, record.name)
    stops = list(settings.get("stop", []))
    generation = Generation(record, items, stops, settings.get("max_tokens"), prompt, call)
    await generation.start()
    return generation, rid


def _head(kind: str, rid: str, model: str, created: int) -> dict[str, Any]:
    prefix = "chatcmpl" if kind.startswith("chat") else "cmpl"
    return {"id": f"{prefix}-{rid}", "object": kind, "created": created, "model": model}


@router.post(
    "/completions",
    summary="Complete a prompt (OpenAI's legacy completions)",
    openapi_extra=TIMEOUT_HEADER,
)
async def completions(body: CompletionRequest, ctx: Ctx, request: Request) -> Response:
    check_n(body.n)
    prompt = completion_prompt(body)
    settings = parameters(body, body.max_tokens)
    generation, rid = await _start(
        ctx, body.model, None, prompt, settings, "HttpCompletions", seconds_of(request)
    )
    head = _head("text_completion", rid, body.model, int(time.time()))
    if body.stream:
        events = _completion_events(generation, head, body.include_usage())
        return SseResponse(events, generation)
    text = await collect(generation, request.receive)
    if text is None:
        return Response(status_code=CLIENT_CLOSED)
    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": generation.finish_reason}
    return JSONResponse({**head, "choices": [choice], "usage": generation.usage()})


async def _completion_events(
    generation: Generation, head: dict[str, Any], include_usage: bool
) -> AsyncIterator[str]:
    extra: dict[str, Any] = {"usage": None} if include_usage else {}

    def chunk(text: str, finish: str | None) -> str:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return sse({**head, "choices": [choice], **extra})

    try:
        async for piece in generation.pieces():
            yield chunk(piece, None)
        yield chunk("", generation.finish_reason)
        if include_usage:
            yield sse({**head, "choices": [], "usage": generation.usage()})
        yield DONE
    except Exception as exc:
        yield sse_error(exc, "/v1/completions")


@router.post(
    "/chat/completions",
    summary="Answer a chat (OpenAI's chat completions)",
    openapi_extra=TIMEOUT_HEADER,
)
async def chat_completions(body: ChatRequest, ctx: Ctx, request: Request) -> Response:
    check_n(body.n)
    messages = chat_messages(body)
    settings = parameters(body, body.max_completion_tokens or body.max_tokens)
    generation, rid = await _start(
        ctx,
        body.model,
        messages,
        render_chat(messages),
        settings,
        "HttpChatCompletions",
        seconds_of(request),
    )
    head = _head("chat.completion", rid, body.model, int(time.time()))
    if body.stream:
        head["object"] = "chat.completion.chunk"
        events = _chat_events(generation, head, body.include_usage())
        return SseResponse(events, generation)
    text = await collect(generation, request.receive)
    if text is None:
        return Response(status_code=CLIENT_CLOSED)
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "logprobs": None,
        "finish_reason": generation.finish_reason,
    }
    return JSONResponse({**head, "choices": [choice], "usage": generation.usage()})


async def _chat_events(
    generation: Generation, head: dict[str, Any], include_usage: bool
) -> AsyncIterator[str]:
    extra: dict[str, Any] = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, str], finish: str | None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse({**head, "choices": [choice], **extra})

    try:
        yield chunk({"role": "assistant", "content": ""}, None)
        async for piece in generation.pieces():
            yield chunk({"content": piece}, None)
        yield chunk({}, generation.finish_reason)
        if include_usage:
            yield sse({**head, "choices": [], "usage": generation.usage()})
        yield DONE
    except Exception as exc:
        yield sse_error(exc, "/v1/chat/completions")
