"""Counts and times every RPC of modelrt.v1.ModelRuntime and inference.GRPCInferenceService for
Metrics, by wrapping its handlers.

The method handlers are wrapped once when the servicer is registered; health, reflection and
any other service are registered as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from runtime.api.registration import Handler, add_rewritten
from runtime.metrics.metrics import Metrics

logger = logging.getLogger(__name__)

# The client's deadline fires a network hop before the server's, and its cancel may arrive first:
# a call stopped this close to its deadline counts as DEADLINE_EXCEEDED, not CANCELLED.
DEADLINE_SLACK_S = 0.1
# Predict/Generate/Stream name a model; lifecycle RPCs a name; OIP's ModelInfer a model_name.
MODEL_FIELDS = ("model", "name", "model_name")
# The Open Inference Protocol's twins of grpc.health.v1, unmeasured like it: probes would swamp
# the counts, and a ModelReady may name any model and answer OK (a series per name sent).
UNMEASURED = frozenset({"ServerLive", "ServerReady", "ModelReady", "ServerMetadata"})
# A ModelStreamInfer's requests may each name another model, and a request for an unknown one
# fails in its own response while the call ends OK: counted under model "".
MANY_MODELS = frozenset({"ModelStreamInfer"})

Context = Any  # grpc.aio.ServicerContext


def model_of(message: Any) -> str:
    """The model a request message names: ``model``, ``name`` or an Upload header's namespace.

    >>> from modelrt.v1 import runtime_pb2
    >>> model_of(runtime_pb2.GetModelRequest(name="iris"))
    'iris'
    """
    for field in MODEL_FIELDS:
        value = getattr(message, field, None)
        if isinstance(value, str):
            return value
    header = getattr(message, "header", None)
    namespace = getattr(header, "namespace", None)
    return namespace if isinstance(namespace, str) else ""


def _interrupted_code(context: Context) -> str:
    """CANCELLED or DEADLINE_EXCEEDED, for a call stopped by the client or its deadline."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= DEADLINE_SLACK_S:
        return "DEADLINE_EXCEEDED"
    return "CANCELLED"


def _failure_code(exc: BaseException, context: Context) -> str:
    """The status gRPC sends when the handler raised ``exc``."""
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return _interrupted_code(context)
    # abort() sets the code before raising AbortError; a handler may also set_code() then
    # raise. gRPC sends that code, or UNKNOWN when none was set.
    code = context.code()
    if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
        return str(code.name)
    return "UNKNOWN"


def _return_code(context: Context) -> str:
    """The status gRPC sends when the handler returned: OK unless it called set_code()."""
    code = context.code()
    return str(code.name) if isinstance(code, grpc.StatusCode) else "OK"


def _observe(metrics: Metrics, model: str, rpc: str, code: str, start: float) -> None:
    # A NOT_FOUND names a model that does not exist: keeping the client's string as a label
    # would let any client create series without bound.
    model = "" if code == "NOT_FOUND" else model
    metrics.observe_request(model, rpc, code, time.monotonic() - start)


class _Call:
    """One RPC being measured; ``finish`` records it exactly once."""

    __slots__ = ("finished", "metrics", "model", "rpc", "start")

    def __init__(self, metrics: Metrics, rpc: str) -> None:
        self.metrics = metrics
        self.rpc = rpc
        self.model = ""
        self.finished = False
        self.start = time.monotonic()

    def finish(self, code: str) -> None:
        if self.finished:
            return
        self.finished = True
        _observe(self.metrics, self.model, self.rpc, code, self.start)

    def done(self, context: Context) -> None:
        """RPC done callback: a response stream gRPC stopped reading was interrupted."""
        if not self.finished:
            self.finish(_interrupted_code(context))


class _FirstModel:
    """The request stream, passed through lazily; notes the model its first message names."""

    def __init__(self, requests: Any, call: _Call) -> None:
        self._requests = requests
        self._call: _Call | None = call

    def __aiter__(self) -> _FirstModel:
        return self

    async def __anext__(self) -> Any:
        call = self._call
        if call is None:
            return await anext(self._requests)
        # Like gRPC's own receiver, start reading only when the servicer asks for a message.
        self._requests = aiter(self._requests)
        message = await anext(self._requests)
        call.model = model_of(message)
        self._call = None
        return message


def _start(metrics: Metrics, rpc: str, request: Any, streaming_request: bool) -> tuple[_Call, Any]:
    call = _Call(metrics, rpc)
    if rpc in MANY_MODELS:
        return call, request
    if streaming_request:
        return call, _FirstModel(request, call)
    call.model = model_of(request)
    return call, request


def _unary_response(
    behaviour: Callable[[Any, Context], Awaitable[Any]],
    metrics: Metrics,
    rpc: str,
    streaming_request: bool,
) -> Callable[[Any, Context], Awaitable[Any]]:
    async def measured(request: Any, context: Context) -> Any:
        call, request = _start(metrics, rpc, request, streaming_request)
        try:
            response = await behaviour(request, context)
        except BaseException as exc:
            call.finish(_failure_code(exc, context))
            raise
        call.finish(_return_code(context))
        return response

    async def measured_unary(request: Any, context: Context) -> Any:
        # The hot path (Predict): no per-call object, the model read from the request once.
        start = time.monotonic()
        try:
            response = await behaviour(request, context)
        except BaseException as exc:
            _observe(metrics, model_of(request), rpc, _failure_code(exc, context), start)
            raise
        _observe(metrics, model_of(request), rpc, _return_code(context), start)
        return response

    return measured if streaming_request else measured_unary


def _stream_response(
    behaviour: Callable[[Any, Context], AsyncGenerator[Any, None]],
    metrics: Metrics,
    rpc: str,
    streaming_request: bool,
) -> Callable[[Any, Context], AsyncIterator[Any]]:
    async def measured(request: Any, context: Context) -> AsyncIterator[Any]:
        call, request = _start(metrics, rpc, request, streaming_request)
        # A client cancel that lands while gRPC is sending leaves this generator suspended at
        # a yield; the done callback records the call when the RPC ends.
        context.add_done_callback(call.done)
        try:
            async with contextlib.aclosing(behaviour(request, context)) as responses:
                async for response in responses:
                    yield response
        except BaseException as exc:
            call.finish(_failure_code(exc, context))
            raise
        call.finish(_return_code(context))

    return measured


def _measured_handler(handler: Handler, metrics: Metrics, rpc: str) -> Handler:
    """``handler`` with its behaviour measured, or ``handler`` itself if it is synchronous."""
    streaming_request = bool(handler.request_streaming)
    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.response_streaming:
        behaviour = handler.stream_stream if streaming_request else handler.unary_stream
        if inspect.isasyncgenfunction(behaviour):
            wrapped: Any = _stream_response(behaviour, metrics, rpc, streaming_request)
        elif inspect.iscoroutinefunction(behaviour):  # the reader/writer API
            wrapped = _unary_response(behaviour, metrics, rpc, streaming_request)
        else:
            wrapped = None
        factory = (
            grpc.stream_stream_rpc_method_handler
            if streaming_request
            else grpc.unary_stream_rpc_method_handler
        )
    else:
        behaviour = handler.stream_unary if streaming_request else handler.unary_unary
        wrapped = None
        if inspect.iscoroutinefunction(behaviour):
            wrapped = _unary_response(behaviour, metrics, rpc, streaming_request)
        factory = (
            grpc.stream_unary_rpc_method_handler
            if streaming_request
            else grpc.unary_unary_rpc_method_handler
        )
    if wrapped is None:
        # gRPC runs synchronous handlers in its thread pool; wrapping them in a coroutine would
        # move them onto the event loop.
        logger.warning("%s has a synchronous handler: it is not measured", rpc)
        return handler
    return factory(wrapped, **codec)


def add_measured_servicer(
    add_to_server: Callable[[Any, Any], None], servicer: Any, server: Any, metrics: Metrics
) -> None:
    """Register ``servicer`` with each method handler measured, wrapped once at start-up.

    The model label is the request's ``model`` (Predict, Generate), ``name`` (lifecycle RPCs)
    or the Upload header's ``namespace``; for Stream and Upload, that of the first message the
    servicer reads (read lazily, never buffered), "" if it read none. Calls that end NOT_FOUND
    get model "" so unknown names cannot grow the label set. Wrapping happens once, at
    start-up: unlike an interceptor, nothing is awaited per call.

    >>> add_measured_servicer(
    ...     runtime_pb2_grpc.add_ModelRuntimeServicer_to_server, servicer, server, metrics
    ... )  # doctest: +SKIP
    """
    add_rewritten(
        add_to_server,
        servicer,
        server,
        lambda name, handler: (
            handler if name in UNMEASURED else _measured_handler(handler, metrics, name)
        ),
    )
