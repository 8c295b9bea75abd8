"""Per-model scheduling: one bounded queue for Predict, dynamic batches, free instances.

A request goes out at once when an instance is idle; batches grow while every instance is busy,
and a batch that is not full waits for company (up to ``max_queue_delay_ms``) only when the
model's measured trip cost says it pays (batch_cost.py; ``queue_delay: fixed`` always waits).
Everything here runs as plain callbacks on the event loop: no task per batch, no dispatcher to
wake. Requests whose deadline has passed are dropped before they run, and counted. Generate and
Stream calls skip the queue and go to the instance with the fewest open streams.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Protocol

from loader.config import BatchingConfig
from registry.errors import ErrorCode, ModelrtError
from runtime.engine.batch_cost import BatchCost
from runtime.errors import ModelExecutionError, ModelNotReadyError
from runtime.instances.executor import Executor, Item
from runtime.instances.outputs import ItemFailure
from runtime.instances.payload import Answer, Encoded, StreamInput, WireRequest

logger = logging.getLogger(__name__)
#: Most unbatched requests handed to an instance in one trip (each still runs on its own).
MAX_TRIP = 32


class QueueFullError(ModelrtError):
    """The model's queue holds ``max_queue_size`` requests already."""

    code = ErrorCode.RESOURCE_EXHAUSTED
    reason = "QUEUE_FULL"


class DeadlineExpiredError(ModelrtError):
    """The caller's deadline passed while the request waited in the queue."""

    code = ErrorCode.DEADLINE_EXCEEDED
    reason = "DEADLINE_EXPIRED_IN_QUEUE"


class Observer(Protocol):
    """Receives scheduling measurements (the metrics module implements it)."""

    def observe_queue(self, model: str, seconds: float) -> None: ...

    def observe_batch(self, model: str, size: int) -> None: ...

    def count_restart(self, model: str) -> None: ...

    def count_expired(self, model: str) -> None: ...

    def count_batch_reason(self, model: str, reason: str) -> None: ...


@dataclass(slots=True)
class _Pending:
    request: WireRequest
    future: asyncio.Future[Encoded]
    enqueued: float
    deadline: float | None


@dataclass
class _Instance:
    executor: Executor
    index: int
    busy: bool = False
    streams: int = 0
    up: bool = True


@dataclass
class ModelScheduler:
    """Schedules one model version's calls over its instances.

    Predict never waits on a task of its own: a request joins the queue and batches go out
    from callbacks, when a request arrives, an instance finishes, or a batch delay ends. The
    caller awaits only its own future.

    >>> scheduler = ModelScheduler("m", [executor], BatchingConfig(max_batch_size=8))
    ... # doctest: +SKIP
    >>> answer = await scheduler.predict((request_bytes, "id-1"), timeout=2.5)  # doctest: +SKIP

    ``clock`` (seconds) times the queue: the batch delay, deadlines and queue durations. Not the
    loop's time: uvloop's counts whole milliseconds, too coarse for a queue measured in 0.1 ms.
    """

    name: str
    executors: Sequence[Executor]
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    observer: Observer | None = None
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._instances = [_Instance(ex, i) for i, ex in enumerate(self.executors)]
        self._up = len(self._instances)  # how many are up: read on every request
        self._queue: deque[_Pending] = deque()
        self._closed: ModelrtError | None = None
        self._loop = asyncio.get_running_loop()
        # Ends a max_queue_delay_ms wait. The moment it is due is kept here rather than asked
        # of the handle: uvloop answers a delay under half a millisecond with a plain Handle,
        # which has no when(), and its clock is not self.clock anyway.
        self._timer: asyncio.Handle | None = None
        self._timer_due = 0.0  # self.clock() when _timer fires
        self._pumping = False
        self._batched = self.batching.max_batch_size > 1  # read several times per request
        self._adaptive = self.batching.queue_delay == "adaptive"
        self.cost = BatchCost()  # what a trip costs and how often requests come

    # -- instance state ----------------------------------------------------------------------

    def set_up(self, index: int, up: bool) -> None:
        """Mark an instance up or down (a crashed worker is down until it restarts)."""
        self._instances[index].up = up
        self._up = sum(instance.up for instance in self._instances)
        self._pump()

    @property
    def instances_up(self) -> int:
        return self._up

    def _check_open(self) -> None:
        if self._closed is not None:
            raise self._closed
        if not self._up:
            raise ModelNotReadyError(
                f"model {self.name!r} has no instance up (restarting)",
                metadata={"model": self.name},
            )

    # -- Predict ------------------------------------------------------------------------------

    def predict(self, request: WireRequest, timeout: float | None = None) -> Awaitable[Encoded]:
        """Queue one request; the returned future holds its encoded answer once it has run.

        ``timeout``: the seconds the caller still waits (None: no deadline). A request still
        queued when they have passed is dropped and fails with DEADLINE_EXPIRED_IN_QUEUE.
        """
        self._check_open()
        limit = self.batching.max_queue_size
        if len(self._queue) >= limit:
            raise QueueFullError(
                f"model {self.name!r} has {limit} requests queued; try again later",
                metadata={"model": self.name},
            )
        future: asyncio.Future[Encoded] = self._loop.create_future()
        now = self.clock()
        if self._batched:
            self.cost.observe_arrival(now)
        deadline = None if timeout is None else now + timeout
        self._queue.append(_Pending(request, future, now, deadline))
        self._pump()
        return future

    def _free_instance(self) -> _Instance | None:
        if len(self._instances) == 1:
            only = self._instances[0]
            return only if only.up and not only.busy else None
        free = [i for i in self._instances if i.up and not i.busy]
        return min(free, key=lambda i: i.streams) if free else None

    def _pump(self) -> None:
        """Send batches to free instances while requests wait (re-entry is a no-op)."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._queue and self._closed is None:
                instance = self._free_instance()
                if instance is None:
                    return
                reason = self._ready()
                if reason is None:
                    return
                batch = self._cut_to_preferred(self._take(self._batch_limit()))
                if batch:
                    self._start(instance, batch, reason)
        finally:
            self._pumping = False

    def _ready(self) -> str | None:
        """Why the queue may go out now ("full", "preferred", "delay" when its wait is over,
        "idle" when waiting would not pay), or None while it waits to grow."""
        if not self._batched:
            return "idle"
        size = len(self._queue)
        if size >= self.batching.max_batch_size:
            return "full"
        if size in self.batching.preferred_batch_sizes:
            return "preferred"
        delay = self.batching.max_queue_delay_ms / 1000
        if delay <= 0:
            return "idle"
        first = self._queue[0].enqueued
        if self._adaptive:
            until = self.cost.wait_until(first, delay)
            if until is None:
                return "idle"
        else:
            until = first + delay
        now = self.clock()
        if now >= until:
            return "delay"
        # A timer due sooner stays: when it fires, the queue is looked at again and a new one
        # set (an adaptive wait moves later with every arrival; no timer churn per request).
        if self._timer is None or self._timer_due > until:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_later(until - now, self._delay_over)
            self._timer_due = until
        return None

    def _delay_over(self) -> None:
        self._timer = None
        self._pump()

    def _take(self, limit: int) -> list[_Pending]:
        batch: list[_Pending] = []
        now = self.clock()
        while self._queue and len(batch) < limit:
            pending = self._queue.popleft()
            if pending.deadline is not None and now >= pending.deadline:
                self._expire(pending, now)
            elif not pending.future.done():  # else the caller went away
                batch.append(pending)
        return batch

    def _expire(self, pending: _Pending, now: float) -> None:
        """Drop a request whose deadline passed in the queue. Its caller may be gone already
        (gRPC cancels a call at its deadline): it is counted all the same."""
        if self.observer is not None:
            self.observer.count_expired(self.name)
        if not pending.future.done():
            pending.future.set_exception(
                DeadlineExpiredError(
                    f"deadline passed after {now - pending.enqueued:.3f}s in the queue of "
                    f"{self.name!r}; the request was not run",
                    metadata={"model": self.name},
                )
            )

    def _batch_limit(self) -> int:
        if self._batched:
            return self.batching.max_batch_size
        # Unbatched: one trip to the worker carries several queued requests, run one at a time,
        # split fairly over the free instances (one instance: the one free now).
        if len(self._instances) == 1:
            return max(1, min(MAX_TRIP, len(self._queue)))
        free = sum(i.up and not i.busy for i in self._instances)
        return max(1, min(MAX_TRIP, -(-len(self._queue) // max(1, free))))

    def _cut_to_preferred(self, batch: list[_Pending]) -> list[_Pending]:
        if not self.batching.preferred_batch_sizes:
            return batch
        fitting = [size for size in self.batching.preferred_batch_sizes if size <= len(batch)]
        if not fitting or len(batch) in self.batching.preferred_batch_sizes:
            return batch
        keep = max(fitting)
        for pending in reversed(batch[keep:]):
            self._queue.appendleft(pending)
        return batch[:keep]

    def _start(self, instance: _Instance, batch: list[_Pending], reason: str) -> None:
        """Hand ``batch`` to ``instance``; its callbacks settle the callers and pump again."""
        started = self.clock()
        observer = self.observer
        if observer is not None:
            for pending in batch:
                observer.observe_queue(self.name, started - pending.enqueued)
                if not self._batched:
                    observer.observe_batch(self.name, 1)
            if self._batched:
                observer.observe_batch(self.name, len(batch))
                observer.count_batch_reason(self.name, reason)
        instance.busy = True
        requests = [p.request for p in batch]
        executor = instance.executor
        try:
            if self._batched:
                executor.submit_batch(
                    requests, lambda result: self._batch_done(instance, batch, result, started)
                )
            else:
                executor.submit_each(
                    requests,
                    lambda index, item: _settle(batch[index], item),
                    lambda error: self._done(instance, batch, error),
                )
        except Exception as exc:  # the instance is down or unreachable
            self._done(instance, batch, exc)

    def _batch_done(
        self,
        instance: _Instance,
        batch: list[_Pending],
        result: list[Answer] | BaseException,
        started: float,
    ) -> None:
        """A batch trip ended: learn what it cost (when it ran), then settle it as any trip."""
        if not isinstance(result, BaseException):
            self.cost.observe_trip(len(batch), self.clock() - started)
        self._done(instance, batch, result)

    def _done(
        self,
        instance: _Instance,
        batch: list[_Pending],
        result: list[Answer] | BaseException | None,
    ) -> None:
        """A trip ended: settle its callers (``result``: outputs, an error, or None when an
        unbatched trip answered each caller on its own) and pump."""
        instance.busy = False
        if isinstance(result, BaseException):
            error = result
            if not isinstance(error, ModelrtError):  # an executor bug, or a cancelled trip
                if isinstance(error, Exception):
                    logger.error("batch of %s failed", self.name, exc_info=error)
                error = ModelNotReadyError(
                    f"model {self.name!r} failed to run the batch: {error!r}",
                    metadata={"model": self.name},
                )
            _fail(batch, error)
        elif result is not None and len(result) == len(batch):
            for pending, item in zip(batch, result, strict=True):
                _settle(pending, item)
        else:
            unanswered = sum(not p.future.done() for p in batch)
            if result is not None or unanswered:
                answered = len(result) if result is not None else len(batch) - unanswered
                _fail(batch, self._miscounted(instance, answered, len(batch)))
        self._pump()

    def _miscounted(self, instance: _Instance, answers: int, requests: int) -> ModelrtError:
        """An instance answered a trip with the wrong number of answers: a bug, not the
        model's (the instance checks what the model returns), so INTERNAL for every caller."""
        error = ModelExecutionError(
            f"instance {instance.index} of {self.name!r} returned {answers} answers for "
            f"{requests} requests",
            reason="INTERNAL",
            model=self.name,
        )
        logger.error("%s", error.message)  # the message names its error id
        return error

    # -- Generate and Stream ------------------------------------------------------------------

    def _stream_instance(self) -> _Instance:
        self._check_open()
        return min((i for i in self._instances if i.up), key=lambda i: (i.streams, i.busy))

    async def generate(self, request: WireRequest) -> AsyncGenerator[Item, None]:
        """The model's items for one Generate call, from the least busy instance."""
        instance = self._stream_instance()
        instance.streams += 1
        try:
            async with aclosing(instance.executor.generate(request)) as items:
                async for item in items:
                    yield item
        finally:
            instance.streams -= 1

    async def stream(self, requests: AsyncIterator[StreamInput]) -> AsyncGenerator[Item, None]:
        """The model's outputs for one Stream call, from the least busy instance."""
        instance = self._stream_instance()
        instance.streams += 1
        try:
            async with aclosing(instance.executor.stream(requests)) as items:
                async for item in items:
                    yield item
        finally:
            instance.streams -= 1

    # -- shutdown -----------------------------------------------------------------------------

    async def close(self, error: ModelrtError) -> None:
        """Refuse new calls with ``error``, fail queued ones, stop dispatching."""
        self._closed = error
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(error)


def _fail(batch: list[_Pending], error: BaseException) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(error)


def _settle(pending: _Pending, result: Answer) -> None:
    if pending.future.done():  # the caller went away
        return
    if isinstance(result, ItemFailure):
        pending.future.set_exception(result.error)
    else:
        pending.future.set_result(result)
