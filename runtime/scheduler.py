"""Per-model scheduling: one bounded queue for Predict, dynamic batches, free instances.

A request goes out at once when an instance is idle; batches grow only while every instance is
busy (or for up to ``max_queue_delay_ms`` when the model asks to wait). Requests whose deadline
has passed are dropped before they run. Generate and Stream calls skip the queue and go to the
instance with the fewest open streams.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Protocol

from loader.config import BatchingConfig
from registry.errors import ErrorCode, ModelrtError
from registry.runner import Request
from runtime.errors import ModelNotReadyError
from runtime.executor import Executor, Item
from runtime.outputs import ItemFailure, ModelOutput

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


@dataclass
class _Pending:
    request: Request
    future: asyncio.Future[ModelOutput]
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

    >>> scheduler = ModelScheduler("m", [executor], BatchingConfig(max_batch_size=8))
    ... # doctest: +SKIP
    >>> output = await scheduler.predict(Request(inputs={"x": 1}))  # doctest: +SKIP
    """

    name: str
    executors: Sequence[Executor]
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    observer: Observer | None = None

    def __post_init__(self) -> None:
        self._instances = [_Instance(ex, i) for i, ex in enumerate(self.executors)]
        self._queue: deque[_Pending] = deque()
        self._changed = asyncio.Event()
        self._closed: ModelrtError | None = None
        self._waiting = False  # a batch is waiting out max_queue_delay_ms
        self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())
        self._running: set[asyncio.Task[None]] = set()

    # -- instance state ----------------------------------------------------------------------

    def set_up(self, index: int, up: bool) -> None:
        """Mark an instance up or down (a crashed worker is down until it restarts)."""
        self._instances[index].up = up
        self._changed.set()

    @property
    def instances_up(self) -> int:
        return sum(instance.up for instance in self._instances)

    def _check_open(self) -> None:
        if self._closed is not None:
            raise self._closed
        if not self.instances_up:
            raise ModelNotReadyError(
                f"model {self.name!r} has no instance up (restarting)",
                metadata={"model": self.name},
            )

    # -- Predict ------------------------------------------------------------------------------

    async def predict(self, request: Request, deadline: float | None = None) -> ModelOutput:
        """Queue one request; returns its output once its batch has run."""
        self._check_open()
        limit = self.batching.max_queue_size
        if len(self._queue) >= limit:
            raise QueueFullError(
                f"model {self.name!r} has {limit} requests queued; try again later",
                metadata={"model": self.name},
            )
        future: asyncio.Future[ModelOutput] = asyncio.get_running_loop().create_future()
        pending = _Pending(request, future, time.monotonic(), deadline)
        waits = self.batched and self.batching.max_queue_delay_ms > 0
        idle = None if self._queue or self._waiting or waits else self._free_instance()
        if idle is not None:
            # Nothing queued and an instance idle: run in this task, no dispatcher round trip.
            idle.busy = True
            await self._run(idle, [pending])
            return future.result()
        self._queue.append(pending)
        self._changed.set()
        return await future

    def _free_instance(self) -> _Instance | None:
        free = [i for i in self._instances if i.up and not i.busy]
        return min(free, key=lambda i: i.streams) if free else None

    def _take(self, limit: int) -> list[_Pending]:
        batch: list[_Pending] = []
        now = time.monotonic()
        while self._queue and len(batch) < limit:
            pending = self._queue.popleft()
            if pending.future.done():  # the caller went away
                continue
            if pending.deadline is not None and now >= pending.deadline:
                pending.future.set_exception(
                    DeadlineExpiredError(
                        f"deadline passed after {now - pending.enqueued:.3f}s in the queue of "
                        f"{self.name!r}; the request was not run",
                        metadata={"model": self.name},
                    )
                )
                continue
            batch.append(pending)
        return batch

    @property
    def batched(self) -> bool:
        return self.batching.max_batch_size > 1

    def _batch_limit(self) -> int:
        if self.batched:
            return self.batching.max_batch_size
        # Unbatched: one trip to the worker carries several queued requests, run one at a time,
        # split fairly over the free instances.
        free = sum(i.up and not i.busy for i in self._instances)
        return max(1, min(MAX_TRIP, -(-len(self._queue) // max(1, free))))

    def _cut_to_preferred(self, batch: list[_Pending]) -> list[_Pending]:
        fitting = [size for size in self.batching.preferred_batch_sizes if size <= len(batch)]
        if not fitting or len(batch) in self.batching.preferred_batch_sizes:
            return batch
        keep = max(fitting)
        for pending in reversed(batch[keep:]):
            self._queue.appendleft(pending)
        return batch[:keep]

    async def _wait_for_more(self, batch: list[_Pending]) -> list[_Pending]:
        """With max_queue_delay_ms, let a small batch grow until the oldest request's delay ends."""
        delay = self.batching.max_queue_delay_ms / 1000
        limit = self._batch_limit()
        preferred = self.batching.preferred_batch_sizes
        until = batch[0].enqueued + delay
        while len(batch) < limit and len(batch) not in preferred:
            remaining = until - time.monotonic()
            if remaining <= 0:
                break
            self._changed.clear()
            if not self._queue:
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    break
            batch.extend(self._take(limit - len(batch)))
        return batch

    async def _dispatch(self) -> None:
        while True:
            instance = self._free_instance() if self._queue else None
            if instance is None:
                self._changed.clear()
                await self._changed.wait()
                continue
            batch = self._take(self._batch_limit())
            if not batch:
                continue
            instance.busy = True
            if self.batching.max_queue_delay_ms > 0 and self.batched:
                self._waiting = True
                try:
                    batch = await self._wait_for_more(batch)
                finally:
                    self._waiting = False
            batch = self._cut_to_preferred(batch)
            task = asyncio.create_task(self._run(instance, batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, instance: _Instance, batch: list[_Pending]) -> None:
        started = time.monotonic()
        if self.observer is not None:
            for pending in batch:
                self.observer.observe_queue(self.name, started - pending.enqueued)
                if not self.batched:
                    self.observer.observe_batch(self.name, 1)
            if self.batched:
                self.observer.observe_batch(self.name, len(batch))
        try:
            requests = [p.request for p in batch]
            if self.batched:
                results = await instance.executor.predict_batch(requests)
            else:
                await instance.executor.predict_each(
                    requests, lambda index, result: _settle(batch[index], result)
                )
                results = []
        except ModelrtError as exc:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
        except Exception as exc:  # an executor bug, not model code: keep the server up
            logger.exception("batch of %s failed", self.name)
            error = ModelNotReadyError(f"model {self.name!r} failed to run the batch: {exc}")
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
        else:
            for pending, result in zip(batch, results, strict=False):
                _settle(pending, result)
        finally:
            instance.busy = False
            self._changed.set()

    # -- Generate and Stream ------------------------------------------------------------------

    def _stream_instance(self) -> _Instance:
        self._check_open()
        return min((i for i in self._instances if i.up), key=lambda i: (i.streams, i.busy))

    async def generate(self, request: Request) -> AsyncGenerator[Item, None]:
        """The model's items for one Generate call, from the least busy instance."""
        instance = self._stream_instance()
        instance.streams += 1
        try:
            async with aclosing(instance.executor.generate(request)) as items:
                async for item in items:
                    yield item
        finally:
            instance.streams -= 1

    async def stream(self, requests: AsyncIterator[Request]) -> AsyncGenerator[Item, None]:
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
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(error)
        self._dispatcher.cancel()
        await asyncio.gather(self._dispatcher, return_exceptions=True)


def _settle(pending: _Pending, result: Item) -> None:
    if pending.future.done():  # the caller went away
        return
    if isinstance(result, ItemFailure):
        pending.future.set_exception(result.error)
    else:
        pending.future.set_result(result)
