"""The worker protocol's error envelope: every kind of error keeps what the server maps."""

from __future__ import annotations

import pickle

import pytest

from registry.errors import ErrorCode, HookNotImplementedError, InvalidInputError, ModelrtError
from runtime.errors import ModelExecutionError, OutputSchemaError
from runtime.instances.ipc import dumps
from runtime.instances.outputs import ItemFailure
from runtime.instances.worker_protocol import (
    ErrorEnvelope,
    WorkerError,
    envelope,
    error_from,
    portable,
)


class _TwoArguments(ModelrtError):
    """A model's own error class whose constructor pickle cannot call again."""

    code = ErrorCode.RESOURCE_EXHAUSTED
    reason = "TOO_MANY"

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count} is over {limit}", metadata={"limit": str(limit)})


ERRORS = [
    InvalidInputError("input 'x' must be 2-D", metadata={"input": "x"}),
    HookNotImplementedError("model 'm' does not implement generate"),
    ModelExecutionError("model 'm' raised ValueError", model="m"),
    OutputSchemaError("model 'm' returned output that does not match", model="m"),
    ModelrtError("plain", reason="SOMETHING", metadata={"a": "1"}),
    _TwoArguments(5, 3),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: type(error).__name__)
def test_each_error_keeps_its_code_reason_message_id_and_metadata(error: ModelrtError) -> None:
    crossed = pickle.loads(dumps(envelope(error, "m")))
    back = error_from(crossed)
    assert isinstance(back, WorkerError)
    assert (back.code, back.reason, back.message) == (error.code, error.reason, error.message)
    assert back.metadata == error.metadata
    assert back.error_id == error.metadata.get("error_id", "")
    assert back.error_id == getattr(error, "error_id", "")


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: type(error).__name__)
def test_an_item_failure_crosses_as_its_envelope(error: ModelrtError) -> None:
    sent = portable(ItemFailure(error), "m")
    back = pickle.loads(dumps(sent)).error
    assert type(back) is WorkerError
    assert (back.code, back.reason, back.message, back.metadata) == (
        error.code,
        error.reason,
        error.message,
        error.metadata,
    )
    again = pickle.loads(pickle.dumps(back))  # crossing twice changes nothing
    assert (again.code, again.metadata) == (back.code, back.metadata)


def test_anything_else_is_internal_with_an_error_id_and_no_text_of_its_own() -> None:
    sent = envelope(KeyError("a secret path"), "m")
    assert (sent.code, sent.reason) == ("INTERNAL", "MODEL_ERROR")
    assert sent.error_id
    assert sent.error_id in sent.message
    assert "secret" not in sent.message
    assert "KeyError" in sent.message
    assert sent.metadata == {"model": "m", "error_id": sent.error_id}


def test_an_unknown_code_reads_back_as_internal() -> None:
    back = error_from(ErrorEnvelope(code="NEW_IN_V9", reason="NEWER", message="m"))
    assert (back.code, back.reason) == (ErrorCode.INTERNAL, "NEWER")


def test_answers_that_are_not_failures_cross_unchanged() -> None:
    assert portable(b"encoded", "m") == b"encoded"
    crossed = ItemFailure(error_from(envelope(InvalidInputError("no"))))
    assert portable(crossed, "m") is crossed
