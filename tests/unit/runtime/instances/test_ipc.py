"""The server <-> worker channel: framing, array round trips, shared memory, draining."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from runtime.instances.ipc import SHM_THRESHOLD, Channel, channel_pair


@pytest.fixture
def ends() -> Iterator[tuple[Channel, Channel]]:
    sender, far_ends = channel_pair(multiprocessing.get_context("spawn"))
    receiver = Channel(*far_ends)
    yield sender, receiver
    sender.close()
    receiver.close()


ARRAYS = [
    np.arange(6, dtype=np.float32).reshape(2, 3),
    np.arange(12).reshape(3, 4).T,  # not contiguous
    np.arange(4, dtype=">i4"),  # big-endian
    np.zeros((0, 5), dtype=np.float16),
    np.array(2.5),  # 0-d
    np.array([True, False]),
    np.array(["ab", "c"]),
    np.array([1, "x", None], dtype=object),
    np.array(["2020-01-01"], dtype="M8[D]"),
    np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: str(a.dtype))
def test_arrays_come_back_equal_and_writable(ends: tuple[Channel, Channel], array: Any) -> None:
    sender, receiver = ends
    sender.send(("x", 1, {"a": array}))
    kind, call, payload = receiver.recv()
    got = payload["a"]
    assert (kind, call) == ("x", 1)
    assert got.dtype == array.dtype
    assert got.shape == array.shape
    if array.dtype.hasobject:
        assert got.tolist() == array.tolist()
    else:  # byte for byte: structured and datetime arrays included
        assert got.tobytes() == array.tobytes()
    assert got.flags.writeable


def test_a_large_array_goes_through_shared_memory(ends: tuple[Channel, Channel]) -> None:
    sender, receiver = ends
    big = np.arange(SHM_THRESHOLD // 8 + 10, dtype=np.float64)
    sent = threading.Thread(target=sender.send, args=(("x", 2, big),))
    sent.start()
    _, _, got = receiver.recv()
    sent.join()
    assert np.array_equal(got, big)
    assert got.flags.writeable


def test_drain_returns_every_waiting_message_and_finishes_a_split_frame(
    ends: tuple[Channel, Channel],
) -> None:
    sender, receiver = ends
    blob = bytes(range(256)) * 20_000  # 5 MB in the pickle itself: many reads

    def send_all() -> None:
        for index in range(200):
            sender.send(("part", 3, index))
        sender.send(("blob", 3, blob))

    writer = threading.Thread(target=send_all)
    writer.start()
    received: list[Any] = []
    while len(received) < 201:
        received += receiver.drain()
    writer.join()
    assert [message[2] for message in received[:200]] == list(range(200))
    assert received[200] == ("blob", 3, blob)


def test_plain_messages_interleave_with_array_messages(ends: tuple[Channel, Channel]) -> None:
    sender, receiver = ends
    trip = ("each", 7, [(b"\x00serialized", "id-1"), (b"", "id-2")])
    sender.send_plain(trip)
    sender.send(("item", 8, {"y": np.arange(3)}))
    sender.send_plain(("part", 7, (0, b"answer", True)))
    first, second, third = (receiver.recv() for _ in range(3))
    assert first == trip
    assert second[2]["y"].tolist() == [0, 1, 2]
    assert third == ("part", 7, (0, b"answer", True))


def test_both_directions_carry_messages(ends: tuple[Channel, Channel]) -> None:
    near, far = ends
    near.send(("ping", 5, None))
    assert far.recv() == ("ping", 5, None)
    far.send(("pong", 5, None))
    assert near.recv() == ("pong", 5, None)


def test_drain_and_recv_raise_eof_once_the_other_side_closed(
    ends: tuple[Channel, Channel],
) -> None:
    sender, receiver = ends
    sender.send(("last", 4, None))
    sender.close()
    assert receiver.drain() == [("last", 4, None)]
    with pytest.raises(EOFError):
        receiver.drain()
    with pytest.raises(EOFError):
        receiver.recv()
