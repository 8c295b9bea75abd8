"""The one table from domain error codes to gRPC status, with google.rpc.Status + ErrorInfo."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from registry.errors import ErrorCode, ModelrtError

DOMAIN = "modelrt.dev"

GRPC_STATUS: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorCode.CANCELLED: grpc.StatusCode.CANCELLED,
    ErrorCode.DATA_LOSS: grpc.StatusCode.DATA_LOSS,
    ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
}


def grpc_code(error: ModelrtError) -> grpc.StatusCode:
    """The gRPC status code for a domain error."""
    return GRPC_STATUS[error.code]


def rpc_status_of(error: ModelrtError) -> status_pb2.Status:
    """A google.rpc.Status carrying an ErrorInfo (reason, domain, metadata) for ``error``."""
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=DOMAIN, metadata={k: v for k, v in error.metadata.items() if v}
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    number = getattr(code_pb2, grpc_code(error).name)
    return status_pb2.Status(code=number, message=error.message, details=[detail])


def grpc_status_of(error: ModelrtError) -> grpc.Status:
    """The status to abort a call with (``context.abort_with_status``)."""
    return rpc_status.to_status(rpc_status_of(error))


def code_number(error: ModelrtError) -> int:
    """The canonical numeric code (google.rpc.Code) of a domain error."""
    return int(getattr(code_pb2, grpc_code(error).name))
