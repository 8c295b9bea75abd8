"""OpenAI's error body for the OpenAI-compatible routes, with the HTTP statuses of errors.py.

Every failure of a ``/v1`` route answers ``{"error": {"message", "type", "param", "code"}}``
(``code`` is modelrt's reason in lower case; an internal error adds its ``error_id``), so the
OpenAI SDKs raise their own exception classes. The routes get it from ``OpenAIRoute``, the
route class of their router, before the app-wide handlers see anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from registry.errors import ModelrtError
from runtime.api.http.body_errors import unreadable_body
from runtime.api.http.errors import body_message, http_status, internal_error
from runtime.api.http.limits import BodyTooLargeError

logger = logging.getLogger(__name__)

#: OpenAI's error types by HTTP status; any other 4xx is invalid_request_error, 5xx server_error.
ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    """OpenAI's ``type`` for an HTTP status.

    >>> error_type(401), error_type(400), error_type(503)
    ('authentication_error', 'invalid_request_error', 'server_error')
    """
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "server_error" if status >= 500 else "invalid_request_error"


def error_object(error: ModelrtError, status: int) -> dict[str, Any]:
    """The ``error`` member of OpenAI's body for a domain error."""
    body: dict[str, Any] = {
        "message": error.message,
        "type": error_type(status),
        "param": error.metadata.get("field") or None,
        "code": error.reason.lower(),
    }
    if error.metadata.get("error_id"):
        body["error_id"] = error.metadata["error_id"]
    return body


def status_of(error: ModelrtError) -> int:
    """The HTTP status of ``error`` (413 for a body over the limit, as limits.py answers)."""
    return 413 if isinstance(error, BodyTooLargeError) else http_status(error)


def openai_error_response(error: ModelrtError) -> JSONResponse:
    status = status_of(error)
    return JSONResponse({"error": error_object(error, status)}, status_code=status)


def _plain_error(status: int, message: str, param: str | None, code: str) -> JSONResponse:
    body = {"message": message, "type": error_type(status), "param": param, "code": code}
    return JSONResponse({"error": body}, status_code=status)


def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """400 naming the first field FastAPI could not read, or what is wrong with the body."""
    problems = list(exc.errors())
    if not problems:
        return _plain_error(400, "invalid request", None, "invalid_request")
    if (unreadable := body_message(request, exc)) is not None:
        return _plain_error(400, unreadable, None, "invalid_request")
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))
    return _plain_error(400, f"invalid request: {message}", where or None, "invalid_request")


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class OpenAIRoute(APIRoute):
    """A route whose failures answer in OpenAI's error shape (auth and body errors included)."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except ModelrtError as exc:
                return openai_error_response(exc)
            except RequestValidationError as exc:
                return _invalid(request, exc)
            except StarletteHTTPException as exc:
                if (not_json := unreadable_body(exc)) is not None:
                    return _plain_error(400, not_json, None, "invalid_request")
                return _plain_error(exc.status_code, str(exc.detail), None, "http_error")
            except Exception as exc:
                return openai_error_response(internal_error(exc, request.url.path))

        return answer
