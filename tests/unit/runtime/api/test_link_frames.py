"""The predict link's frames: calls and replies round-trip, and garbage is refused."""

from __future__ import annotations

import struct

import pytest

from runtime.api import link_frames
from runtime.api.link_frames import (
    CALL_HEADER,
    REPLY_HEADER,
    FrameError,
    encode_call,
    encode_cancel,
    encode_hello,
    encode_reply,
    parse_call_header,
    parse_hello,
    parse_reply_header,
)


@pytest.mark.parametrize("left", [None, 0.0, 2.5, 1e-6])
def test_a_call_frame_round_trips(left: float | None) -> None:
    payload = b"\x0a\x04echo" * 100
    frame = encode_call(2**40, left, payload)
    kind, size, call_id, seconds_left = parse_call_header(frame[: CALL_HEADER.size])
    assert (kind, size, call_id, seconds_left) == (link_frames.CALL, len(payload), 2**40, left)
    assert frame[CALL_HEADER.size :] == payload


@pytest.mark.parametrize("ok", [True, False])
def test_a_reply_frame_round_trips(ok: bool) -> None:
    frame = encode_reply(17, ok, b"body")
    assert parse_reply_header(frame[: REPLY_HEADER.size]) == (4, 17, ok)
    assert frame[REPLY_HEADER.size :] == b"body"


def test_a_cancel_frame_names_the_call_and_carries_nothing() -> None:
    frame = encode_cancel(99)
    assert len(frame) == CALL_HEADER.size
    assert parse_call_header(frame) == (link_frames.CANCEL, 0, 99, None)


def test_a_model_infer_call_carries_its_kind() -> None:
    frame = encode_call(5, 2.0, b"infer", link_frames.INFER)
    assert parse_call_header(frame[: CALL_HEADER.size]) == (link_frames.INFER, 5, 5, 2.0)


@pytest.mark.parametrize(("kind", "size"), [(3, 0), (255, 3), (link_frames.CANCEL, 5)])
def test_a_call_header_of_an_unknown_kind_or_a_cancel_with_a_payload_is_refused(
    kind: int, size: int
) -> None:
    with pytest.raises(FrameError, match="not a call or cancel frame"):
        parse_call_header(CALL_HEADER.pack(kind, size, 1, 0.0))


def test_an_empty_payload_is_a_frame_too() -> None:
    assert parse_reply_header(encode_reply(1, True, b"")[: REPLY_HEADER.size]) == (0, 1, True)


def test_a_reply_with_an_unknown_outcome_is_refused() -> None:
    header = REPLY_HEADER.pack(0, 1, 7)
    with pytest.raises(FrameError, match="unknown reply outcome 7"):
        parse_reply_header(header)


def test_the_hello_names_the_slot_and_anything_else_is_refused() -> None:
    assert parse_hello(encode_hello(5)) == 5
    with pytest.raises(FrameError, match="not a predict link hello"):
        parse_hello(struct.pack("<4sI", b"HTTP", 1))


def test_headers_are_little_endian_with_fixed_sizes() -> None:
    assert encode_call(1, 1.0, b"x")[:5] == b"\x00\x01\x00\x00\x00"
    assert (link_frames.HELLO.size, CALL_HEADER.size, REPLY_HEADER.size) == (8, 21, 13)
