"""runtime/instances/worker_calls.py: the worker's answers reach the right call, and a worker
going down ends every open call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from registry.errors import InvalidInputError
from runtime.instances.worker_calls import STREAM_END, CallBook, Trip
from runtime.instances.worker_protocol import Kind, envelope


class Recorded:
    """A trip's callbacks, recording what they were given."""

    def __init__(self) -> None:
        self.results: list[tuple[int, Any]] = []
        self.done: list[Any] = []

    def trip(self, each: bool = False, since: float = 0.0) -> Trip:
        on_result = (lambda index, item: self.results.append((index, item))) if each else None
        return Trip(on_result, self.done.append, since)


def test_call_ids_are_never_reused_between_trips_and_streams() -> None:
    async def main() -> list[int]:
        book = CallBook()
        first = book.open_trip(Recorded().trip())
        second, _ = book.open_stream()
        book.on_result(first, [])
        return [first, second, book.open_trip(Recorded().trip())]

    assert asyncio.run(main()) == [1, 2, 3]


def test_a_batch_result_ends_its_trip_once() -> None:
    book, recorded = CallBook(), Recorded()
    call = book.open_trip(recorded.trip())
    book.handlers()[Kind.RESULT](call, ["answer"])
    book.handlers()[Kind.RESULT](call, ["late"])  # nothing owes it anymore
    assert recorded.done == [["answer"]]
    assert book.trips == {}


def test_parts_are_handed_over_as_they_come_and_the_last_ends_the_trip() -> None:
    book, recorded = CallBook(), Recorded()
    call = book.open_trip(recorded.trip(each=True, since=0.0))
    book.on_part(call, (0, "a", False))
    assert book.trips[call].since > 0.0  # the next request's clock starts now
    assert recorded.done == []
    book.on_part(call, (1, "b", True))
    assert recorded.results == [(0, "a"), (1, "b")]
    assert recorded.done == [None]
    assert book.trips == {}


def test_the_trip_ends_even_when_the_last_part_callback_fails() -> None:
    book, done = CallBook(), []

    def broken(index: int, item: Any) -> None:
        raise RuntimeError("callback bug")

    call = book.open_trip(Trip(broken, done.append, 0.0))
    with pytest.raises(RuntimeError):
        book.on_part(call, (0, "a", True))
    assert done == [None]
    assert book.trips == {}


def test_stalled_only_when_a_trip_made_no_progress_for_over_the_limit() -> None:
    book = CallBook()
    book.open_trip(Recorded().trip(since=100.0))
    assert not book.stalled(now=105.0, limit=5.0)
    assert book.stalled(now=105.5, limit=5.0)


def test_an_error_for_a_call_ends_its_trip_or_reaches_its_stream() -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        book, recorded = CallBook(), Recorded()
        trip = book.open_trip(recorded.trip())
        stream, queue = book.open_stream()
        sent = envelope(InvalidInputError("bad input"))
        book.fail_call(trip, sent)
        book.fail_call(stream, sent)
        book.on_item(stream, "after")
        return recorded.done, [queue.get_nowait(), queue.get_nowait()]

    done, items = asyncio.run(main())
    assert [error.reason for error in done] == ["INVALID_INPUT"]
    assert items[0].reason == "INVALID_INPUT"
    assert items[1] == "after"


def test_a_stream_gets_its_items_then_its_end() -> None:
    async def main() -> list[Any]:
        book = CallBook()
        call, queue = book.open_stream()
        book.on_item(call, "token")
        book.on_end(call, None)
        book.on_item(call + 1, "another call's")  # unknown calls are ignored
        return [queue.get_nowait() for _ in range(queue.qsize())]

    assert asyncio.run(main()) == ["token", STREAM_END]


def test_a_worker_going_down_fails_every_trip_and_stream_with_one_error() -> None:
    async def main() -> tuple[list[Any], Any, CallBook]:
        book, recorded = CallBook(), Recorded()
        book.open_trip(recorded.trip())
        book.open_trip(recorded.trip(each=True))
        _, queue = book.open_stream()
        down = RuntimeError("worker crashed")
        book.fail_all(down)
        return recorded.done, queue.get_nowait(), book

    done, streamed, book = asyncio.run(main())
    assert [str(error) for error in done] == ["worker crashed", "worker crashed"]
    assert str(streamed) == "worker crashed"
    assert book.trips == {}
