"""Typed client errors: one exception class per gRPC status code, read from the rich status.

The server ends every failed call with a google.rpc.Status carrying an ErrorInfo; this module turns
that into a ModelrtClientError subclass with the code, message, reason, metadata and error id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"
_CODES_BY_NUMBER: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


def _describe(code: grpc.StatusCode, message: str, reason: str, error_id: str | None) -> str:
    text = f"{code.name}: {message}" if message else code.name
    if reason:
        text += f" [{reason}]"
    if error_id and error_id not in message:
        text += f" (error id {error_id})"
    return text


def status_code(number: int) -> grpc.StatusCode:
    """The grpc.StatusCode for a canonical code number; UNKNOWN for a number gRPC does not know.

    >>> status_code(5)
    <StatusCode.NOT_FOUND: (5, 'not found')>
    """
    return _CODES_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


class ModelrtClientError(Exception):
    """A call to a modelrt server failed; subclasses name the gRPC status code.

    ``reason`` is the ErrorInfo reason (e.g. "MODEL_NOT_FOUND"), ``metadata`` its metadata and
    ``error_id`` the id the server logged an internal error under.

    >>> str(NotFoundError(grpc.StatusCode.NOT_FOUND, "model 'x' is not known", "MODEL_NOT_FOUND"))
    "NOT_FOUND: model 'x' is not known [MODEL_NOT_FOUND]"
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        reason: str = "",
        metadata: dict[str, str] | None = None,
        error_id: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.error_id = error_id or self.metadata.get("error_id") or None
        super().__init__(_describe(code, message, reason, self.error_id))


class InvalidArgumentError(ModelrtClientError):
    """INVALID_ARGUMENT: the request is wrong (missing input, bad dtype, bad bundle)."""


class NotFoundError(ModelrtClientError):
    """NOT_FOUND: the model or version is not known."""


class AlreadyExistsError(ModelrtClientError):
    """ALREADY_EXISTS: the model version exists already."""


class FailedPreconditionError(ModelrtClientError):
    """FAILED_PRECONDITION: the server is not in a state to do this."""


class UnimplementedError(ModelrtClientError):
    """UNIMPLEMENTED: the model does not implement the hook this RPC needs."""


class UnavailableError(ModelrtClientError):
    """UNAVAILABLE: the server cannot be reached, or the model is loading or down."""


class ResourceExhaustedError(ModelrtClientError):
    """RESOURCE_EXHAUSTED: a queue is full or a message is too large."""


class DeadlineExceededError(ModelrtClientError):
    """DEADLINE_EXCEEDED: the call ran past its timeout."""


class RequestCancelledError(ModelrtClientError):
    """CANCELLED: the call was cancelled."""


class DataLossError(ModelrtClientError):
    """DATA_LOSS: data was lost or corrupted."""


class UnauthenticatedError(ModelrtClientError):
    """UNAUTHENTICATED: the call carries no valid credentials."""


class PermissionDeniedError(ModelrtClientError):
    """PERMISSION_DENIED: the caller may not do this."""


class InternalError(ModelrtClientError):
    """INTERNAL: the model raised or returned output that fails its schema; see ``error_id``."""


_ERROR_CLASSES: dict[grpc.StatusCode, type[ModelrtClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.CANCELLED: RequestCancelledError,
    grpc.StatusCode.DATA_LOSS: DataLossError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.INTERNAL: InternalError,
}


def error_for(
    code: grpc.StatusCode,
    message: str,
    reason: str = "",
    metadata: dict[str, str] | None = None,
    error_id: str | None = None,
) -> ModelrtClientError:
    """Build the ModelrtClientError subclass that matches ``code``.

    >>> type(error_for(grpc.StatusCode.INTERNAL, "model failed")).__name__
    'InternalError'
    """
    cls = _ERROR_CLASSES.get(code, ModelrtClientError)
    return cls(code, message, reason, metadata, error_id)


def _rich_status(exc: Any) -> status_pb2.Status | None:
    # Read the trailer ourselves: grpc_status.from_call raises when code or message differ, and
    # AioRpcError's trailing_metadata() is a Metadata object rather than a tuple of pairs.
    try:
        trailers = exc.trailing_metadata() or ()
    except Exception:
        return None
    for key, value in trailers:
        if key == _DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except Exception:
                return None
    return None


def _error_info(status: status_pb2.Status | None) -> error_details_pb2.ErrorInfo | None:
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def from_rpc_error(exc: grpc.RpcError, address: str | None = None) -> ModelrtClientError:
    """Turn a grpc.RpcError (sync or asyncio) into the matching typed ModelrtClientError.

    When ``address`` is given, an UNAVAILABLE that the server did not explain (no ErrorInfo) is
    reported as "cannot reach the server at ADDRESS".

    >>> try:
    ...     stub.Predict(runtime_pb2.PredictRequest(model="nope"))  # a raw generated stub
    ... except grpc.RpcError as exc:
    ...     raise from_rpc_error(exc) from None
    """
    code_of = getattr(exc, "code", None)
    code = code_of() if callable(code_of) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    details_of = getattr(exc, "details", None)
    message = (details_of() if callable(details_of) else None) or ""
    status = _rich_status(exc)
    if status is not None and status.message:
        message = status.message
    info = _error_info(status)
    if info is None:
        if code is grpc.StatusCode.UNAVAILABLE and address:
            # gRPC's text is a chain "...; last error: UNKNOWN: ipv4:...: Connection refused".
            cause = message.rsplit(": ", 1)[-1] if message else "no answer"
            message = f"cannot reach the server at {address} ({cause})"
        return error_for(code, message or code.name.lower().replace("_", " "))
    return error_for(code, message, info.reason, dict(info.metadata))


@dataclass(frozen=True)
class ItemError:
    """The failure of one item of a Generate or Stream call; the stream itself went on.

    >>> str(ItemError(grpc.StatusCode.INVALID_ARGUMENT, "bad chunk", "INVALID_INPUT"))
    'INVALID_ARGUMENT: bad chunk [INVALID_INPUT]'
    """

    code: grpc.StatusCode
    message: str
    reason: str = ""
    error_id: str | None = None

    def __str__(self) -> str:
        return _describe(self.code, self.message, self.reason, self.error_id)

    def to_exception(self) -> ModelrtClientError:
        """The typed exception for this item, to raise where one failed item should stop a loop."""
        return error_for(self.code, self.message, self.reason, error_id=self.error_id)
