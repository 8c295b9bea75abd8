"""Errors the engine raises about models and calls; each carries a transport-neutral code."""

from __future__ import annotations

import logging
import uuid

from registry.errors import ErrorCode, ModelrtError

logger = logging.getLogger(__name__)


class ModelNotFoundError(ModelrtError):
    """No model (or no such version) is known under the name asked for."""

    code = ErrorCode.NOT_FOUND
    reason = "MODEL_NOT_FOUND"


class ModelNotReadyError(ModelrtError):
    """The model exists but is LOADING, FAILED or UNLOADED."""

    code = ErrorCode.UNAVAILABLE
    reason = "MODEL_NOT_READY"


class BadRequestError(ModelrtError):
    """The call itself is malformed (no model name, a stream that changes model, ...)."""

    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_REQUEST"


class ModelExecutionError(ModelrtError):
    """Model code raised or returned something unusable; details are in the log under error_id."""

    code = ErrorCode.INTERNAL
    reason = "MODEL_ERROR"

    def __init__(self, message: str, *, reason: str | None = None, model: str = "") -> None:
        self.error_id = uuid.uuid4().hex[:16]
        super().__init__(
            f"{message} (error id {self.error_id})",
            reason=reason,
            metadata={"model": model, "error_id": self.error_id},
        )


#: Where an INTERNAL error's caller is told to look for its traceback.
SERVER_LOG_HINT = "details are in the server log"


def model_failure(model: str, request_id: str, exc: BaseException) -> ModelExecutionError:
    """An INTERNAL error for an exception from model code; the details go to the log only.

    The exception's text can hold internals: only its type reaches the caller.
    """
    error = ModelExecutionError(
        f"model {model!r} raised {type(exc).__name__}; {SERVER_LOG_HINT}",
        model=model,
    )
    logger.error(
        "model %s raised [request %s, error id %s]",
        model,
        request_id or "-",
        error.error_id,
        exc_info=exc,
    )
    return error


class OutputSchemaError(ModelExecutionError):
    """The model's output does not match its registered output schema."""

    reason = "OUTPUT_SCHEMA_MISMATCH"


class NotSupportedYetError(ModelrtError):
    """An RPC of the contract that this server version does not implement yet."""

    code = ErrorCode.UNIMPLEMENTED
    reason = "NOT_IMPLEMENTED"


class AuthenticationError(ModelrtError):
    """The call lacks the bearer token its RPC needs, or carries a wrong one."""

    code = ErrorCode.UNAUTHENTICATED
    reason = "INVALID_TOKEN"


class AdminTokenRequiredError(ModelrtError):
    """A management call carries the inference token: who sent it is known, but may not manage."""

    code = ErrorCode.PERMISSION_DENIED
    reason = "ADMIN_TOKEN_REQUIRED"


class ManagementDisabledError(ModelrtError):
    """A management RPC on a non-loopback bind while no admin token is configured."""

    code = ErrorCode.PERMISSION_DENIED
    reason = "MANAGEMENT_DISABLED"
