"""Tests for registry.errors: each domain error carries its transport-neutral code and reason."""

from __future__ import annotations

import pytest

from registry import (
    DuplicateNamespaceError,
    ErrorCode,
    HookNotImplementedError,
    InvalidInputError,
    ModelrtError,
    RegistrationError,
)

pytestmark = pytest.mark.timeout(10)


def test_modelrt_error_defaults_to_internal_with_empty_metadata() -> None:
    error = ModelrtError("boom")
    assert error.code is ErrorCode.INTERNAL
    assert error.reason == "INTERNAL"
    assert error.message == "boom"
    assert str(error) == "boom"
    assert error.metadata == {}


def test_modelrt_error_takes_a_reason_and_copies_metadata() -> None:
    metadata = {"model": "m"}
    error = ModelrtError("boom", reason="CUSTOM", metadata=metadata)
    metadata["model"] = "changed"
    assert error.reason == "CUSTOM"
    assert error.metadata == {"model": "m"}
    assert ModelrtError("other").reason == "INTERNAL"


@pytest.mark.parametrize(
    ("error_type", "code", "reason"),
    [
        (InvalidInputError, ErrorCode.INVALID_ARGUMENT, "INVALID_INPUT"),
        (RegistrationError, ErrorCode.INVALID_ARGUMENT, "INVALID_REGISTRATION"),
        (DuplicateNamespaceError, ErrorCode.ALREADY_EXISTS, "DUPLICATE_NAMESPACE"),
        (HookNotImplementedError, ErrorCode.UNIMPLEMENTED, "HOOK_NOT_IMPLEMENTED"),
    ],
)
def test_each_error_type_has_its_code_and_reason(
    error_type: type[ModelrtError], code: ErrorCode, reason: str
) -> None:
    error = error_type("x")
    assert isinstance(error, ModelrtError)
    assert error.code is code
    assert error.reason == reason


def test_duplicate_namespace_is_a_registration_error() -> None:
    assert issubclass(DuplicateNamespaceError, RegistrationError)


def test_error_codes_are_named_after_grpc_codes() -> None:
    assert all(code.value == code.name for code in ErrorCode)
