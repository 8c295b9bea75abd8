"""Sends a bearer token on every call: client interceptors for blocking and asyncio channels."""

from __future__ import annotations

from typing import Any, NamedTuple

import grpc

AUTHORIZATION = "authorization"


def authorization_header(token: str) -> tuple[str, str]:
    """The metadata pair a modelrt server reads the token from.

    >>> authorization_header("s3cret")
    ('authorization', 'Bearer s3cret')
    """
    return (AUTHORIZATION, f"Bearer {token}")


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class _CallDetails(_Details, grpc.ClientCallDetails):  # type: ignore[misc]
    """grpc.ClientCallDetails as a value; gRPC offers no constructor for one."""


class BearerTokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds ``authorization: Bearer <token>`` to every call of a blocking channel.

    >>> channel = grpc.intercept_channel(grpc.insecure_channel(address), BearerTokenInterceptor(t))
    """

    def __init__(self, token: str) -> None:
        self._header = authorization_header(token)

    def _details(self, details: Any) -> _CallDetails:
        return _CallDetails(
            details.method,
            details.timeout,
            [*(details.metadata or ()), self._header],
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        """Call on with the token added."""
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        """Call on with the token added."""
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        """Call on with the token added."""
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        """Call on with the token added."""
        return continuation(self._details(details), requests)


class _AsyncBearer:
    def __init__(self, token: str) -> None:
        self._header = authorization_header(token)

    def _details(self, details: Any) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(*self._header)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


class _AsyncUnaryUnary(_AsyncBearer, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _AsyncUnaryStream(_AsyncBearer, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _AsyncStreamUnary(_AsyncBearer, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


class _AsyncStreamStream(_AsyncBearer, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


def async_bearer_interceptors(token: str) -> list[Any]:
    """Interceptors that add ``authorization: Bearer <token>`` to every call of an aio channel.

    grpc.aio files an interceptor under the first call kind it implements only, so each kind
    gets an object of its own.

    >>> grpc.aio.insecure_channel(address, interceptors=async_bearer_interceptors(token))
    """
    kinds = (_AsyncUnaryUnary, _AsyncUnaryStream, _AsyncStreamUnary, _AsyncStreamStream)
    return [kind(token) for kind in kinds]
