"""The calls a worker owes answers to: unary trips and their progress, and the streams' queues.

The worker's answers (PART, RESULT, ERROR, ITEM, END) land here by call id; when the worker
goes down, every open call is failed with the same error.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.instances.executor import OnResult
from runtime.instances.worker_protocol import ErrorEnvelope, Kind, error_from

#: Put on a stream's queue when the worker ends that stream.
STREAM_END = object()


@dataclass(slots=True)
class Trip:
    """One unary call in the worker: its callbacks, and when it last made progress."""

    on_result: OnResult | None
    on_done: Callable[[Any], None]
    since: float


class CallBook:
    """The open calls of one worker, by call id (ids are never reused, restarts included)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.trips: dict[int, Trip] = {}  # unary calls the worker still owes answers to
        self.streams: dict[int, asyncio.Queue[Any]] = {}

    def handlers(self) -> dict[int, Callable[[int, Any], None]]:
        """The handler of each answer kind, keyed by int: no enum lookup per message."""
        return {
            Kind.PART: self.on_part,
            Kind.RESULT: self.on_result,
            Kind.ERROR: self.fail_call,
            Kind.ITEM: self.on_item,
            Kind.END: self.on_end,
        }

    def open_trip(self, trip: Trip) -> int:
        """Book a unary call; return its id."""
        call = next(self._ids)
        self.trips[call] = trip
        return call

    def open_stream(self) -> tuple[int, asyncio.Queue[Any]]:
        """Book a Generate or Stream call; return its id and the queue its items arrive on."""
        call = next(self._ids)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self.streams[call] = queue
        return call, queue

    def stalled(self, now: float, limit: float) -> bool:
        """Whether a unary call made no progress for over ``limit`` seconds."""
        return any(now - trip.since > limit for trip in self.trips.values())

    def on_part(self, call: int, payload: Any) -> None:
        """One request of an unbatched trip is answered: hand it over now."""
        trip = self.trips.get(call)
        if trip is None:
            return
        index, item, last = payload
        assert trip.on_result is not None
        if last:
            del self.trips[call]
        try:
            trip.on_result(index, item)
        finally:  # the trip ends (and frees its instance) even if a callback failed
            if last:
                trip.on_done(None)
            else:  # the next request of the trip now owes its answer
                trip.since = time.monotonic()

    def on_result(self, call: int, answers: Any) -> None:
        trip = self.trips.pop(call, None)
        if trip is not None:
            trip.on_done(answers)

    def on_item(self, call: int, item: Any) -> None:
        if call in self.streams:
            self.streams[call].put_nowait(item)

    def on_end(self, call: int, payload: None) -> None:
        if call in self.streams:
            self.streams[call].put_nowait(STREAM_END)

    def fail_call(self, call: int, sent: ErrorEnvelope) -> None:
        """Call ``call`` failed as a whole: end its trip or its stream with the error."""
        trip = self.trips.pop(call, None)
        if trip is not None:
            trip.on_done(error_from(sent))
        elif call in self.streams:
            self.streams[call].put_nowait(error_from(sent))

    def fail_all(self, error: BaseException) -> None:
        """The worker went down: every trip ends with ``error``, every stream receives it."""
        trips, self.trips = list(self.trips.values()), {}
        for trip in trips:
            trip.on_done(error)
        for queue in self.streams.values():
            queue.put_nowait(error)


def resolve(future: asyncio.Future[Any], result: Any) -> None:
    """Settle ``future`` with ``result``, or with it as the exception; once only."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
