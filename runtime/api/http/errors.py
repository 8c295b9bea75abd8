"""One table from domain error codes to HTTP statuses, and the JSON body every route fails with.

The body carries what the gRPC side puts in its ErrorInfo: the code's name, the reason, the
metadata (with the error id of an INTERNAL failure), never a stack trace::

    {"error": "model 'iris' not found", "code": "NOT_FOUND", "reason": "MODEL_NOT_FOUND",
     "metadata": {"model": "iris"}}

``error`` is a string, as the Open Inference Protocol's REST error body has it.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from registry.errors import ErrorCode, ModelrtError
from runtime.api.http.body_errors import invalid_json, unreadable_body
from runtime.errors import ModelExecutionError

logger = logging.getLogger(__name__)

#: google.rpc's own mapping between canonical codes and HTTP statuses.
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_ARGUMENT: 400,
    ErrorCode.FAILED_PRECONDITION: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.RESOURCE_EXHAUSTED: 429,
    ErrorCode.CANCELLED: 499,
    ErrorCode.INTERNAL: 500,
    ErrorCode.DATA_LOSS: 500,
    ErrorCode.UNIMPLEMENTED: 501,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.DEADLINE_EXCEEDED: 504,
}

#: Reasons HTTP has a more precise status for than their code's (a body over a size limit).
STATUS_OF_REASON: dict[str, int] = {"BODY_TOO_LARGE": 413, "UPLOAD_TOO_LARGE": 413}

#: HTTP statuses the framework itself answers with, as domain codes (for the body's ``code``).
_CODE_OF_STATUS: dict[int, ErrorCode] = {
    400: ErrorCode.INVALID_ARGUMENT,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.UNIMPLEMENTED,
    409: ErrorCode.ALREADY_EXISTS,
    413: ErrorCode.RESOURCE_EXHAUSTED,
    415: ErrorCode.INVALID_ARGUMENT,
    422: ErrorCode.INVALID_ARGUMENT,
    429: ErrorCode.RESOURCE_EXHAUSTED,
    503: ErrorCode.UNAVAILABLE,
}


def http_status(error: ModelrtError) -> int:
    """The HTTP status of a domain error.

    >>> from runtime.errors import ModelNotFoundError
    >>> http_status(ModelNotFoundError("no such model"))
    404
    """
    return STATUS_OF_REASON.get(error.reason) or HTTP_STATUS[error.code]


def error_body(error: ModelrtError) -> dict[str, Any]:
    """The JSON body for ``error``: message, code name, reason and metadata."""
    return {
        "error": error.message,
        "code": error.code.value,
        "reason": error.reason,
        "metadata": {key: value for key, value in error.metadata.items() if value},
    }


def error_response(error: ModelrtError, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error response with the status of ``error``."""
    return JSONResponse(error_body(error), status_code=http_status(error), headers=headers)


def internal_error(exc: BaseException, route: str) -> ModelExecutionError:
    """INTERNAL for an unexpected exception, logged with its traceback under a new error id."""
    error = ModelExecutionError("internal server error", reason="INTERNAL")
    logger.error("%s failed [error id %s]", route, error.error_id, exc_info=exc)
    return error


def _framework_error(status: int, message: str, reason: str) -> JSONResponse:
    fallback = ErrorCode.INTERNAL if status >= 500 else ErrorCode.INVALID_ARGUMENT
    code = _CODE_OF_STATUS.get(status, fallback)
    body: dict[str, Any] = {"error": message, "code": code.value, "reason": reason, "metadata": {}}
    return JSONResponse(body, status_code=status)


def body_message(request: Request, exc: RequestValidationError) -> str | None:
    """What is wrong with the body when FastAPI could not read it as JSON at all (not JSON, or
    not sent as JSON); None when the problem is in its fields."""
    for problem in exc.errors()[:1]:
        if (not_json := invalid_json(problem)) is not None:
            return not_json
    if _json_body_not_sent(request, exc):
        return "the body must be JSON, sent with Content-Type: application/json"
    return None


def _validation_message(exc: RequestValidationError) -> str:
    """The first problem of a request FastAPI could not read, with where it is."""
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        message = str(error.get("msg", "invalid"))
        problems.append(f"{where}: {message}" if where else message)
    return "invalid request: " + "; ".join(problems)


def _json_body_not_sent(request: Request, exc: RequestValidationError) -> bool:
    """Whether a JSON body was expected but the request's Content-Type says it is something
    else (curl's ``-d`` sends a form type) or nothing: FastAPI then reads the body as bytes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        return False
    return any(tuple(error.get("loc", ())) == ("body",) for error in exc.errors())


def install_error_handlers(app: FastAPI) -> None:
    """Answer domain errors, unreadable requests and unexpected failures with the JSON body."""

    async def domain(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ModelrtError)
        return error_response(exc)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message = body_message(request, exc) or _validation_message(exc)
        return _framework_error(400, message, "INVALID_REQUEST")

    async def framework(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc.__cause__, ModelrtError):  # e.g. the body limit, hit while parsing
            return error_response(exc.__cause__)
        if (not_json := unreadable_body(exc)) is not None:
            return _framework_error(400, not_json, "INVALID_REQUEST")
        try:
            reason = HTTPStatus(exc.status_code).name
        except ValueError:
            reason = "HTTP_ERROR"
        return _framework_error(exc.status_code, str(exc.detail), reason)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(internal_error(exc, request.url.path))

    app.add_exception_handler(ModelrtError, domain)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, framework)
    app.add_exception_handler(Exception, unexpected)
