"""Domain errors: each carries a transport-neutral code; runtime maps codes to gRPC status once."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ErrorCode(StrEnum):
    """Transport-neutral error codes (named after the canonical gRPC codes they map to)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    UNAVAILABLE = "UNAVAILABLE"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    CANCELLED = "CANCELLED"
    DATA_LOSS = "DATA_LOSS"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INTERNAL = "INTERNAL"


class ModelrtError(Exception):
    """Base of every error modelrt reports to a caller.

    ``code`` says what kind of failure it is, ``reason`` is a stable UPPER_SNAKE_CASE name for
    programs, and ``metadata`` adds machine-readable facts (the model name, the entry, ...).

    >>> ModelrtError("boom").code
    <ErrorCode.INTERNAL: 'INTERNAL'>
    """

    code: ErrorCode = ErrorCode.INTERNAL
    reason: str = "INTERNAL"

    def __init__(
        self, message: str, *, reason: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidInputError(ModelrtError):
    """A request input is missing, of the wrong type, dtype or shape. Models may raise it too.

    >>> raise InvalidInputError("input 'image' must be 3-D")  # doctest: +SKIP
    """

    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_INPUT"


class RegistrationError(ModelrtError):
    """A model class or output schema cannot be registered (bad namespace, signature, type)."""

    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_REGISTRATION"


class DuplicateNamespaceError(RegistrationError):
    """Two different classes claim the same namespace."""

    code = ErrorCode.ALREADY_EXISTS
    reason = "DUPLICATE_NAMESPACE"


class HookNotImplementedError(ModelrtError):
    """The model lacks the hook a call needs (e.g. Generate on a Predict-only model)."""

    code = ErrorCode.UNIMPLEMENTED
    reason = "HOOK_NOT_IMPLEMENTED"
