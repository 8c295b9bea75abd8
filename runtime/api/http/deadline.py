"""A deadline for an HTTP model call, from the ``Request-Timeout`` header (seconds).

gRPC callers send a deadline with every call; HTTP has no standard header for one, so modelrt
reads ``Request-Timeout: 2.5``. The seconds reach the model's queue as a gRPC deadline does (a
request still queued when they have passed is dropped unrun, DEADLINE_EXPIRED_IN_QUEUE), and
the route stops waiting when they run out: 504 DEADLINE_EXCEEDED, the model's late answer
dropped. A call answered in parts (Generate as SSE, the OpenAI routes, OIP generate and
generate_stream, the WebSocket Stream) is bounded as a whole, as a gRPC deadline bounds a
stream: when the seconds pass the model's generator is closed (the worker stops) and the call
ends with REQUEST_TIMEOUT, a 504 before its first part, an error event or closing message after.
Without the header a call waits as long as the model takes (hang_timeout_s bounds a worker that
stops answering).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Awaitable
from contextlib import aclosing
from typing import TypeVar

from starlette.requests import HTTPConnection

from registry.errors import ErrorCode, ModelrtError
from runtime.errors import BadRequestError

HEADER = "Request-Timeout"
#: The most a caller may ask for: a day (a bigger value is a mistake, not a deadline).
MAX_SECONDS = 86_400.0
#: The header as the OpenAPI document shows it on each route that reads it (``openapi_extra``:
#: the routes read it themselves, to answer a bad value in their own error shape).
TIMEOUT_HEADER = {
    "parameters": [
        {
            "name": HEADER,
            "in": "header",
            "required": False,
            "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_SECONDS},
            "description": "Seconds the call may take, queue included; past them it ends with "
            "REQUEST_TIMEOUT (504), a streamed call with a last error event.",
        }
    ]
}
T = TypeVar("T")


class RequestTimeoutError(ModelrtError):
    """The HTTP call's Request-Timeout passed before the model answered."""

    code = ErrorCode.DEADLINE_EXCEEDED
    reason = "REQUEST_TIMEOUT"


def seconds_of(request: HTTPConnection) -> float | None:
    """The seconds the caller gives the call (None: no header); a bad value is INVALID_ARGUMENT.

    >>> from starlette.requests import Request
    >>> seconds_of(Request({"type": "http", "headers": [(b"request-timeout", b"2.5")]}))
    2.5
    """
    sent = request.headers.get(HEADER)
    if sent is None:
        return None
    try:
        seconds = float(sent)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_SECONDS:  # NaN fails this too
        raise BadRequestError(
            f"header {HEADER} must be a number of seconds above 0 and at most {MAX_SECONDS:g}, "
            f"not {sent[:40]!r}",
            metadata={"header": HEADER},
        )
    return seconds


async def within(call: Awaitable[T], seconds: float | None, model: str) -> T:
    """``await call``, giving up after ``seconds`` (None: no limit) with RequestTimeoutError."""
    if seconds is None:
        return await call
    try:
        return await asyncio.wait_for(call, seconds)
    except TimeoutError:
        raise _expired(model, seconds) from None


def bounded(
    items: AsyncGenerator[T, None], seconds: float | None, model: str
) -> AsyncGenerator[T, None]:
    """``items`` until they end or ``seconds`` pass (None: no limit, ``items`` itself); then
    ``items`` is closed and RequestTimeoutError raised. Only the wait for each item is timed,
    never a yield."""
    return items if seconds is None else _until(items, seconds, model)


async def _until(
    items: AsyncGenerator[T, None], seconds: float, model: str
) -> AsyncGenerator[T, None]:
    async with aclosing(items):
        ends = asyncio.get_running_loop().time() + seconds
        while True:
            limit = asyncio.timeout_at(ends)
            try:
                async with limit:
                    item = await anext(items)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if not limit.expired():  # the model's own
                    raise
                raise _expired(model, seconds, "finish") from None
            yield item


def _expired(model: str, seconds: float, what: str = "answer") -> RequestTimeoutError:
    return RequestTimeoutError(
        f"model {model!r} did not {what} within the {seconds:g}s of {HEADER}",
        metadata={"model": model},
    )
