"""The frames of the predict link: how a helper front end hands Predict calls to the main process.

A helper front end (``--frontends N``) opens a few Unix-socket connections to the main process,
sends a hello naming its slot, then multiplexes calls over each: a call frame carries an id,
the seconds left until the caller's deadline and the request as it arrived, a serialized
PredictRequest (CALL) or Open Inference Protocol ModelInferRequest (INFER); a cancel frame names
a call whose caller went away (client cancel or deadline). A reply frame carries the id,
whether the call succeeded, and the serialized response or the serialized google.rpc.Status to
end the call with (a cancelled call gets none). All integers little-endian.

>>> frame = encode_call(7, 1.5, b"req")
>>> kind, size, call_id, left = parse_call_header(frame[:CALL_HEADER.size])
>>> (kind == CALL, size, call_id, left, frame[CALL_HEADER.size:])
(True, 3, 7, 1.5, b'req')
"""

from __future__ import annotations

import enum
import math
import struct

#: A connection's first bytes: the magic and the helper front end's slot (1..N-1).
HELLO = struct.Struct("<4sI")
MAGIC = b"MRTL"
#: kind (CALL, CANCEL or INFER), payload size, call id, seconds left (NaN: no deadline)
CALL_HEADER = struct.Struct("<BIQd")


class Kind(enum.IntEnum):
    """What a frame from a helper front end asks."""

    CALL = 0  # a Predict
    CANCEL = 1
    INFER = 2  # an Open Inference Protocol ModelInfer


class Outcome(enum.IntEnum):
    """How a call ended, in its reply frame."""

    OK = 0
    STATUS = 1


CALL, CANCEL, INFER = Kind.CALL, Kind.CANCEL, Kind.INFER
OK, STATUS = Outcome.OK, Outcome.STATUS
#: payload size, call id, outcome (OK or STATUS)
REPLY_HEADER = struct.Struct("<IQB")
MAX_PAYLOAD = 0xFFFF_FFFF


class FrameError(ValueError):
    """Bytes on the link that are not a frame of this protocol."""


def encode_hello(slot: int) -> bytes:
    """The hello a helper front end sends first on each connection.

    >>> parse_hello(encode_hello(3))
    3
    """
    return HELLO.pack(MAGIC, slot)


def parse_hello(data: bytes) -> int:
    """The slot a hello names; FrameError when ``data`` is not a hello."""
    magic, slot = HELLO.unpack(data)
    if magic != MAGIC:
        raise FrameError(f"not a predict link hello: {magic!r}")
    return int(slot)


def _checked_size(payload: bytes) -> int:
    size = len(payload)
    if size > MAX_PAYLOAD:
        raise FrameError(f"a payload of {size} bytes does not fit a frame")
    return size


def encode_call(
    call_id: int, seconds_left: float | None, payload: bytes, kind: Kind = CALL
) -> bytes:
    """One call frame (``kind`` CALL or INFER); ``seconds_left`` None when the call has no
    deadline.

    >>> parse_call_header(encode_call(1, None, b"")[:CALL_HEADER.size])
    (0, 0, 1, None)
    >>> parse_call_header(encode_call(2, 0.5, b"x", INFER)[:CALL_HEADER.size])
    (2, 1, 2, 0.5)
    """
    left = math.nan if seconds_left is None else seconds_left
    return CALL_HEADER.pack(kind, _checked_size(payload), call_id, left) + payload


def encode_cancel(call_id: int) -> bytes:
    """A cancel frame: the caller of ``call_id`` is gone; no reply is wanted.

    >>> parse_call_header(encode_cancel(4))
    (1, 0, 4, None)
    """
    return CALL_HEADER.pack(CANCEL, 0, call_id, math.nan)


def parse_call_header(data: bytes) -> tuple[int, int, int, float | None]:
    """(kind, payload size, call id, seconds left or None) of a call or cancel frame's header;
    FrameError on an unknown kind or a cancel frame with a payload."""
    kind, size, call_id, left = CALL_HEADER.unpack(data)
    if kind not in (CALL, CANCEL, INFER) or (kind == CANCEL and size):
        raise FrameError(f"not a call or cancel frame (kind {kind}, {size} bytes)")
    return kind, size, call_id, None if math.isnan(left) else left


def encode_reply(call_id: int, ok: bool, payload: bytes) -> bytes:
    """One reply frame: the response (``ok``) or the google.rpc.Status, serialized.

    >>> parse_reply_header(encode_reply(9, False, b"st")[:REPLY_HEADER.size])
    (2, 9, False)
    """
    return REPLY_HEADER.pack(_checked_size(payload), call_id, OK if ok else STATUS) + payload


def parse_reply_header(data: bytes) -> tuple[int, int, bool]:
    """(payload size, call id, ok) of a reply frame's header; FrameError on an unknown outcome."""
    size, call_id, outcome = REPLY_HEADER.unpack(data)
    if outcome not in (OK, STATUS):
        raise FrameError(f"unknown reply outcome {outcome}")
    return size, call_id, outcome == OK
