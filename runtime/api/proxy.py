"""A helper front end's calls passed through, as raw bytes, to the main process's gRPC server.

Every method the server serves except Predict (which takes the predict link) is proxied: no
message is parsed, the caller's metadata and deadline go with the call, a client cancel cancels
the forwarded call, and a failure comes back with its status, message and details (the
google.rpc.Status in the trailing metadata). Health and reflection are thus the main process's
own, for every front end.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from modelrt.oip import grpc_service_pb2 as oip
from modelrt.v1 import runtime_pb2
from runtime.api.reflection import V1

logger = logging.getLogger(__name__)
Context = Any  # grpc.aio.ServicerContext
Handler = Any  # grpc.RpcMethodHandler
#: Metadata the transport sets itself; the rest (authorization, custom keys) is forwarded.
_TRANSPORT_KEYS = frozenset({"user-agent", "content-type", "te", "host"})


def method_kinds() -> dict[str, tuple[bool, bool]]:
    """Every method served, as ``/service/Method`` -> (client streams, server streams)."""
    services = (
        runtime_pb2.DESCRIPTOR.services_by_name["ModelRuntime"],
        oip.DESCRIPTOR.services_by_name["GRPCInferenceService"],
        health_pb2.DESCRIPTOR.services_by_name["Health"],
        reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"],
    )
    kinds = {
        f"/{service.full_name}/{method.name}": (method.client_streaming, method.server_streaming)
        for service in services
        for method in service.methods
    }
    kinds[f"/{V1}/ServerReflectionInfo"] = (True, True)
    return kinds


def _metadata(context: Context) -> tuple[tuple[str, str | bytes], ...]:
    return tuple(
        (key, value)
        for key, value in context.invocation_metadata() or ()
        if not key.startswith((":", "grpc-")) and key not in _TRANSPORT_KEYS
    )


async def _abort(context: Context, error: grpc.aio.AioRpcError) -> NoReturn:
    trailing = tuple(error.trailing_metadata() or ())
    await context.abort(error.code(), error.details() or "", trailing)
    raise AssertionError("unreachable: abort raises")


def _unary_unary(channel: grpc.aio.Channel, method: str) -> Callable[..., Awaitable[bytes]]:
    forward = channel.unary_unary(method)

    async def proxied(request: bytes, context: Context) -> bytes:
        call = forward(request, metadata=_metadata(context), timeout=context.time_remaining())
        try:
            return await call  # type: ignore[no-any-return]
        except grpc.aio.AioRpcError as error:
            await _abort(context, error)

    return proxied


def _stream_unary(channel: grpc.aio.Channel, method: str) -> Callable[..., Awaitable[bytes]]:
    forward = channel.stream_unary(method)

    async def proxied(requests: AsyncIterator[bytes], context: Context) -> bytes:
        call = forward(requests, metadata=_metadata(context), timeout=context.time_remaining())
        try:
            return await call  # type: ignore[no-any-return]
        except grpc.aio.AioRpcError as error:
            await _abort(context, error)
        finally:
            call.cancel()  # a no-op once the call is done

    return proxied


def _streaming(
    channel: grpc.aio.Channel, method: str, client_streams: bool
) -> Callable[..., AsyncIterator[bytes]]:
    forward = (channel.stream_stream if client_streams else channel.unary_stream)(method)

    # An async generator function: grpc.aio runs any other kind of handler as a synchronous one.
    async def proxied(request: Any, context: Context) -> AsyncIterator[bytes]:
        call = forward(request, metadata=_metadata(context), timeout=context.time_remaining())
        try:
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as error:
            await _abort(context, error)
        finally:
            call.cancel()  # the client went away or the call ended: stop the forwarded one too

    return proxied


def _handler(channel: grpc.aio.Channel, method: str, kind: tuple[bool, bool]) -> Handler:
    client_streams, server_streams = kind
    if server_streams:
        behaviour = _streaming(channel, method, client_streams)
        if client_streams:
            return grpc.stream_stream_rpc_method_handler(behaviour)
        return grpc.unary_stream_rpc_method_handler(behaviour)
    if client_streams:
        return grpc.stream_unary_rpc_method_handler(_stream_unary(channel, method))
    return grpc.unary_unary_rpc_method_handler(_unary_unary(channel, method))


class ProxyHandler(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Serves ``local`` methods itself and proxies every other known method over ``channel``.

    >>> server.add_generic_rpc_handlers((ProxyHandler(channel, {PREDICT: handler}),))
    ... # doctest: +SKIP
    """

    def __init__(self, channel: grpc.aio.Channel, local: dict[str, Handler]) -> None:
        self._handlers = {
            method: _handler(channel, method, kind) for method, kind in method_kinds().items()
        }
        self._handlers.update(local)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        return self._handlers.get(handler_call_details.method)
