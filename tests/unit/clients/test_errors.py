"""Typed client errors: one class per status code, one-line messages, per-item errors."""

from __future__ import annotations

import grpc
import pytest

import clients
from clients.errors import (
    InternalError,
    ItemError,
    ModelrtClientError,
    NotFoundError,
    RequestCancelledError,
    error_for,
    status_code,
)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, "InvalidArgumentError"),
        (grpc.StatusCode.NOT_FOUND, "NotFoundError"),
        (grpc.StatusCode.ALREADY_EXISTS, "AlreadyExistsError"),
        (grpc.StatusCode.FAILED_PRECONDITION, "FailedPreconditionError"),
        (grpc.StatusCode.UNIMPLEMENTED, "UnimplementedError"),
        (grpc.StatusCode.UNAVAILABLE, "UnavailableError"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "ResourceExhaustedError"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "DeadlineExceededError"),
        (grpc.StatusCode.CANCELLED, "RequestCancelledError"),
        (grpc.StatusCode.DATA_LOSS, "DataLossError"),
        (grpc.StatusCode.UNAUTHENTICATED, "UnauthenticatedError"),
        (grpc.StatusCode.PERMISSION_DENIED, "PermissionDeniedError"),
        (grpc.StatusCode.INTERNAL, "InternalError"),
    ],
)
def test_each_code_has_its_exported_class(code: grpc.StatusCode, name: str) -> None:
    error = error_for(code, "boom")
    assert type(error) is getattr(clients, name)
    assert isinstance(error, ModelrtClientError)
    assert error.code is code


def test_codes_without_a_class_use_the_base_class() -> None:
    assert type(error_for(grpc.StatusCode.UNKNOWN, "x")) is ModelrtClientError
    assert type(error_for(grpc.StatusCode.ABORTED, "x")) is ModelrtClientError


def test_cancelled_does_not_shadow_asyncio() -> None:
    assert not hasattr(clients, "CancelledError")
    assert RequestCancelledError.__name__ == "RequestCancelledError"


def test_str_is_one_line_with_code_message_and_reason() -> None:
    error = NotFoundError(grpc.StatusCode.NOT_FOUND, "model 'x' is not known", "MODEL_NOT_FOUND")
    assert str(error) == "NOT_FOUND: model 'x' is not known [MODEL_NOT_FOUND]"
    assert error.metadata == {}
    assert error.error_id is None


def test_error_id_comes_from_metadata_and_is_shown_once() -> None:
    error = error_for(
        grpc.StatusCode.INTERNAL, "model failed", "MODEL_ERROR", {"model": "m", "error_id": "e1"}
    )
    assert isinstance(error, InternalError)
    assert error.error_id == "e1"
    assert str(error) == "INTERNAL: model failed [MODEL_ERROR] (error id e1)"
    # The server may already put the id in its message; it is not repeated.
    again = error_for(grpc.StatusCode.INTERNAL, "failed (error id e1)", "", {"error_id": "e1"})
    assert str(again) == "INTERNAL: failed (error id e1)"


def test_status_code_from_number() -> None:
    assert status_code(3) is grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(999) is grpc.StatusCode.UNKNOWN


def test_item_error_str_and_exception() -> None:
    item = ItemError(grpc.StatusCode.INVALID_ARGUMENT, "bad chunk", "INVALID_INPUT")
    assert str(item) == "INVALID_ARGUMENT: bad chunk [INVALID_INPUT]"
    raised = item.to_exception()
    assert isinstance(raised, clients.InvalidArgumentError)
    assert raised.reason == "INVALID_INPUT"
