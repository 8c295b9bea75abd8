"""The worker pipe's protocol: every kind of message, and the one envelope errors cross in.

A message is a plain tuple ``(kind, call, payload)``. ``kind`` is a Kind's int value: an int
pickles in two bytes, while an enum member would pickle a reference to its class and cost a
lookup and a call to rebuild (about four times the pickling time of a Predict trip). ``call``
numbers the call the message belongs to (0: none). What the payload holds is said by each kind.

Failures cross as an ErrorEnvelope (made by ``envelope``, read by ``error_from``): whole-call
errors as the payload of LOAD_FAILED and ERROR, one request's or item's failure as the error of
an ItemFailure, which pickles through the same envelope (see WorkerError).

>>> message(Kind.PING)
(9, 0, None)
>>> error_from(envelope(ModelrtError("boom", reason="BOOM"))).reason
'BOOM'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import IntEnum
from typing import Any, NamedTuple

from registry.errors import ErrorCode, ModelrtError
from runtime.errors import model_failure
from runtime.instances.outputs import ItemFailure

logger = logging.getLogger(__name__)

#: ``(kind, call, payload)``: what crosses the pipe, either way.
Message = tuple[int, int, Any]


class Kind(IntEnum):
    """Every kind of message that crosses the worker pipe, in either direction."""

    # -- server -> worker ----------------------------------------------------------------------
    BATCH = 1
    """server → worker: a Predict trip for a batching hook; list[WireRequest]. Answer: RESULT."""
    EACH = 2
    """server → worker: a Predict trip answered request by request; list[WireRequest]. PARTs."""
    GENERATE = 3
    """server → worker: one Generate call; a WireRequest. Answered by ITEMs, then END."""
    STREAM_OPEN = 4
    """server → worker: a Stream call begins; no payload. Answered by ITEMs, then END."""
    STREAM_ITEM = 5
    """server → worker: the next request of an open Stream call; a WireRequest."""
    STREAM_END = 6
    """server → worker: the client has sent all of a Stream call's requests; no payload."""
    CANCEL = 7
    """server → worker: stop the Generate or Stream call ``call`` (closes the model's generator)."""
    STOP = 8
    """server → worker: finish and exit; call 0, no payload."""
    PING = 9
    """server → worker: an idle liveness check; call 0, no payload. Answer: PONG."""

    # -- worker -> server ----------------------------------------------------------------------
    PONG = 10
    """worker → server: the answer to PING, from the worker's event loop; call 0, no payload."""
    READY = 11
    """worker → server: the model is loaded; call 0, a LoadedModel."""
    LOAD_FAILED = 12
    """worker → server: loading failed and the worker exits; call 0, an ErrorEnvelope."""
    RESULT = 13
    """worker → server: every answer of a BATCH trip, in order; list[Answer]."""
    PART = 14
    """worker → server: one answer of an EACH trip; (index, Answer, whether it is the last)."""
    ITEM = 15
    """worker → server: one item of a Generate or Stream call; an Item."""
    END = 16
    """worker → server: a Generate or Stream call finished; no payload."""
    ERROR = 17
    """worker → server: call ``call`` failed as a whole (and ends); an ErrorEnvelope."""


def message(kind: Kind, call: int = 0, payload: Any = None) -> Message:
    """A message ready to send: the kind travels as its int value (see the module docstring)."""
    return (int(kind), call, payload)


class ErrorEnvelope(NamedTuple):
    """A failure as plain data: what the server needs to map it to a status and explain it.

    ``code`` is the transport-neutral ErrorCode's value, ``reason`` the stable UPPER_SNAKE_CASE
    name, ``error_id`` the id of the log line holding the details ("" when there is none).
    """

    code: str
    reason: str
    message: str
    error_id: str = ""
    metadata: Mapping[str, str] = {}


def envelope(error: BaseException, model: str = "") -> ErrorEnvelope:
    """The envelope of ``error``: the one way a failure is written for the pipe.

    A ModelrtError keeps its code, reason, message and metadata. Anything else is model code
    failing: INTERNAL with an error id, its traceback logged here (in the worker) only.

    >>> envelope(ModelrtError("boom", metadata={"model": "m"})).metadata
    {'model': 'm'}
    """
    if not isinstance(error, ModelrtError):
        error = model_failure(model, "", error)
    metadata = dict(error.metadata)
    return ErrorEnvelope(
        code=str(error.code),
        reason=error.reason,
        message=error.message,
        error_id=metadata.get("error_id", ""),
        metadata=metadata,
    )


class WorkerError(ModelrtError):
    """An error the worker reported (or the instance failing), rebuilt from its envelope.

    It pickles as its envelope, so it crosses the pipe whatever class the original error had
    (a model's own error class may not be importable in the server).
    """

    def __init__(self, sent: ErrorEnvelope) -> None:
        metadata = dict(sent.metadata)
        if sent.error_id:
            metadata["error_id"] = sent.error_id
        super().__init__(sent.message, reason=sent.reason, metadata=metadata)
        self.code = ErrorCode(sent.code)
        self.error_id = sent.error_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (error_from, (envelope(self),))


def error_from(sent: ErrorEnvelope) -> WorkerError:
    """The error an envelope stands for: the one way a failure is read back from the pipe.

    A code this side does not know (a newer worker) reads as INTERNAL rather than failing.
    """
    if sent.code not in ErrorCode.__members__:
        logger.warning("an error with unknown code %r came through the pipe", sent.code)
        sent = sent._replace(code=str(ErrorCode.INTERNAL))
    return WorkerError(sent)


class UnknownMessageError(ModelrtError):
    """A message of a kind this side of the pipe does not know (sides of different versions)."""

    reason = "UNKNOWN_MESSAGE_KIND"

    def __init__(self, kind: object, side: str) -> None:
        super().__init__(
            f"the {side} received a message of unknown kind {kind!r}; "
            "the server and its worker may be of different modelrt versions"
        )


def portable(answer: Any, model: str) -> Any:
    """``answer`` (an Answer or an Item) ready to cross: an ItemFailure's error as a WorkerError.

    Other answers come back as they are.
    """
    if isinstance(answer, ItemFailure) and type(answer.error) is not WorkerError:
        return ItemFailure(error_from(envelope(answer.error, model)))
    return answer
