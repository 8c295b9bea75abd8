"""Request messages that do not parse: refused with INVALID_ARGUMENT and one short log line.

gRPC parses each request message with the handler's deserializer before any servicer code
runs; a parse error there becomes UNKNOWN with a full traceback in the log. ``guard`` rewrites
a handler (see registration.py) so that its deserializer never raises: bytes that do not
parse become an ``Undecodable`` stand-in, which the wrapped behaviour refuses before the servicer
sees it. In a client stream, a message that does not parse ends the call with INVALID_ARGUMENT
(the messages before it have been handled).

>>> handler = guard("Predict", handler)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import grpc

from runtime.api.registration import Handler
from runtime.api.status import grpc_status_of
from runtime.errors import BadRequestError

logger = logging.getLogger(__name__)
Context = Any  # grpc.aio.ServicerContext
Deserializer = Callable[[bytes], Any]


class Undecodable:
    """Stands in for a request message whose bytes did not parse as ``message_type``."""

    __slots__ = ("message_type", "problem")

    def __init__(self, message_type: str, problem: str) -> None:
        self.message_type = message_type
        self.problem = problem

    def error(self) -> BadRequestError:
        return BadRequestError(
            f"the request is not a valid {self.message_type} message: {self.problem}"
        )


def lenient(deserialize: Deserializer) -> Deserializer:
    """``deserialize``, answering an Undecodable instead of raising."""
    owner = getattr(deserialize, "__self__", None)  # the message class of ``X.FromString``
    descriptor = getattr(owner, "DESCRIPTOR", None)
    message_type = str(getattr(descriptor, "full_name", "request"))

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as exc:  # protobuf's DecodeError, or whatever a parser raises on bad bytes
            text = " ".join(str(exc).split())
            problem = text.rsplit(": ", 1)[-1][:200] if text else type(exc).__name__
            return Undecodable(message_type, problem)

    return parse


def log_refusal(rpc: str, message: Undecodable) -> None:
    logger.warning(
        "%s: a request message could not be decoded as %s (%s); answered INVALID_ARGUMENT",
        rpc,
        message.message_type,
        message.problem,
    )


async def _refuse(message: Undecodable, context: Context) -> NoReturn:
    await context.abort_with_status(grpc_status_of(message.error()))
    raise AssertionError("unreachable: abort_with_status raises")


def _aborted(context: Context) -> bool:
    code = context.code()
    return isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK


class _Checked:
    """A request stream passed through; an Undecodable message ends it with BadRequestError."""

    def __init__(self, rpc: str, requests: Any) -> None:
        self._rpc = rpc
        self._requests = requests
        self.refused: Undecodable | None = None

    def __aiter__(self) -> _Checked:
        return self

    async def __anext__(self) -> Any:
        message = await anext(self._requests)
        if type(message) is Undecodable:
            log_refusal(self._rpc, message)
            self.refused = message
            raise message.error()
        return message


async def _settle(checked: _Checked, context: Context, failed: bool) -> None:
    """After the behaviour ended: refuse the call if it read an undecodable message and did not
    answer that itself (a servicer may pass the stream on to code that swallows the error)."""
    if checked.refused is not None and not (failed and _aborted(context)):
        await _refuse(checked.refused, context)


def _guard_unary_request(rpc: str, behaviour: Any, streaming_response: bool) -> Any:
    if streaming_response:

        async def guarded_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            if type(request) is Undecodable:
                log_refusal(rpc, request)
                await _refuse(request, context)
            async with contextlib.aclosing(behaviour(request, context)) as responses:
                async for response in responses:
                    yield response

        return guarded_stream

    async def guarded(request: Any, context: Context) -> Any:
        if type(request) is Undecodable:
            log_refusal(rpc, request)
            await _refuse(request, context)
        return await behaviour(request, context)

    return guarded


def _guard_stream_request(rpc: str, behaviour: Any, streaming_response: bool) -> Any:
    if streaming_response:

        async def guarded_stream(requests: Any, context: Context) -> AsyncIterator[Any]:
            checked = _Checked(rpc, requests)
            try:
                async with contextlib.aclosing(behaviour(checked, context)) as responses:
                    async for response in responses:
                        yield response
            except Exception:
                await _settle(checked, context, failed=True)
                raise
            await _settle(checked, context, failed=False)

        return guarded_stream

    async def guarded(requests: Any, context: Context) -> Any:
        checked = _Checked(rpc, requests)
        try:
            response = await behaviour(checked, context)
        except Exception:
            await _settle(checked, context, failed=True)
            raise
        await _settle(checked, context, failed=False)
        return response

    return guarded


def guard(rpc: str, handler: Handler) -> Handler:
    """``handler`` with a deserializer that never raises and a behaviour that refuses what did
    not parse; a synchronous handler (run by gRPC in its thread pool) is left as it is."""
    streaming_request = bool(handler.request_streaming)
    streaming_response = bool(handler.response_streaming)
    kind = (
        ("stream" if streaming_request else "unary")
        + "_"
        + ("stream" if streaming_response else "unary")
    )
    behaviour = getattr(handler, kind)
    if handler.request_deserializer is None:  # the behaviour takes the bytes as they are
        return handler
    if not (inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour)):
        return handler
    if inspect.iscoroutinefunction(behaviour) and streaming_response:
        return handler  # the reader/writer API: none of ours
    wrap = _guard_stream_request if streaming_request else _guard_unary_request
    factory = getattr(grpc, f"{kind}_rpc_method_handler")
    return factory(
        wrap(rpc, behaviour, streaming_response),
        request_deserializer=lenient(handler.request_deserializer),
        response_serializer=handler.response_serializer,
    )
