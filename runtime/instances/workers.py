"""Runs a model instance in a worker process of its own: the Executor the engine calls.

The server side of runtime/instances/worker_main.py: requests go down a pipe (tensors through
shared memory), items come back as the model produces them. The process and its supervision
(start, restarts, hang watchdog, memory limit) are runtime/instances/worker_supervisor.py's; the
open calls' bookkeeping is runtime/instances/worker_calls.py's. This module turns the Executor's
calls (unary trips, Generate, Stream) into messages and their answers back into results.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from registry.errors import ModelrtError
from runtime.instances.executor import (
    Executor,
    InstanceEvent,
    InstanceSpec,
    Item,
    LoadedModel,
    OnBatchDone,
    OnEachDone,
    OnResult,
)
from runtime.instances.ipc import by_shared_memory, is_large
from runtime.instances.outputs import ItemFailure
from runtime.instances.payload import Answer, StreamInput, WireRequest
from runtime.instances.proctree import MemorySampler
from runtime.instances.worker_calls import STREAM_END, CallBook, Trip, resolve
from runtime.instances.worker_memory import MemoryGuard, MemoryObserver
from runtime.instances.worker_process import (
    InstanceDownError,
    WorkerSettings,
    instance_label,
    start_process,
    wait_for_exit,
)
from runtime.instances.worker_protocol import Kind
from runtime.instances.worker_supervisor import WorkerSupervisor

__all__ = [
    "InstanceDownError",
    "MemoryObserver",
    "WorkerExecutor",
    "WorkerSettings",
    "make_worker_factory",
    "start_process",
    "wait_for_exit",
]


class WorkerExecutor(Executor):
    """One model instance in its own process (spawn context), supervised."""

    def __init__(
        self,
        spec: InstanceSpec,
        settings: WorkerSettings,
        sampler: MemorySampler | None = None,
        observer: MemoryObserver | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        configured = spec.prepared.config.memory_limit_mb
        self.memory_limit_mb = settings.memory_limit_mb if configured is None else configured
        self.calls = CallBook()
        self.supervisor = WorkerSupervisor(
            spec,
            settings,
            self.calls,
            MemoryGuard(
                spec.name,
                spec.index,
                instance_label(spec),
                self.memory_limit_mb,
                sampler or MemorySampler(0.5),
                observer,
            ),
        )
        self.loaded: LoadedModel | None = None

    @property
    def label(self) -> str:
        return self.supervisor.label

    def watch(self, listener: Callable[[InstanceEvent], None]) -> None:
        self.supervisor.watch(listener)

    async def start(self) -> LoadedModel:
        self.loaded = await self.supervisor.start()
        return self.loaded

    async def stop(self) -> None:
        await self.supervisor.stop()

    # -- unary trips ----------------------------------------------------------------------------

    def _submit(self, kind: Kind, requests: list[WireRequest], trip: Trip) -> None:
        call = self.calls.open_trip(trip)
        large = any(is_large(data) for data, _ in requests)
        if large:  # big tensors: through shared memory, not the pipe
            requests = [(by_shared_memory(data), rid) for data, rid in requests]
        try:
            self.supervisor.send(kind, call, requests, plain=not large)
        except ModelrtError:
            del self.calls.trips[call]
            raise

    def submit_batch(self, requests: list[WireRequest], on_done: OnBatchDone) -> None:
        self._submit(Kind.BATCH, requests, Trip(None, on_done, time.monotonic()))

    def submit_each(
        self, requests: list[WireRequest], on_result: OnResult, on_done: OnEachDone
    ) -> None:
        self._submit(Kind.EACH, requests, Trip(on_result, on_done, time.monotonic()))

    async def predict_batch(self, requests: list[WireRequest]) -> list[Answer]:
        future: asyncio.Future[list[Answer]] = asyncio.get_running_loop().create_future()
        self.submit_batch(requests, lambda result: resolve(future, result))
        return await future

    async def predict_each(self, requests: list[WireRequest], on_result: OnResult) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.submit_each(requests, on_result, lambda error: resolve(future, error))
        await future

    # -- Generate and Stream --------------------------------------------------------------------

    async def _receive(
        self, call: int, queue: asyncio.Queue[Any], item_timeout: float | None
    ) -> AsyncGenerator[Any, None]:
        finished = False
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), item_timeout)
                except TimeoutError:
                    await self.supervisor.kill_hung("in generate")
                    item = await queue.get()  # the error the worker's exit put there
                if item is STREAM_END:
                    finished = True
                    return
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                yield item
        finally:
            self.calls.streams.pop(call, None)
            if not finished:
                self.supervisor.cancel(call)

    def _send_request(self, kind: Kind, call: int, request: WireRequest) -> None:
        """Send one request of a Generate or Stream call (big ones through shared memory)."""
        data, rid = request
        large = is_large(data)
        payload = (by_shared_memory(data), rid) if large else request
        self.supervisor.send(kind, call, payload, plain=not large)

    async def generate(self, request: WireRequest) -> AsyncGenerator[Item, None]:
        call, queue = self.calls.open_stream()
        try:
            self._send_request(Kind.GENERATE, call, request)
        except ModelrtError:
            self.calls.streams.pop(call, None)
            raise
        receiving = self._receive(call, queue, self.settings.hang_timeout_s)
        async with aclosing(receiving) as items:
            async for item in items:
                yield item

    async def stream(self, requests: AsyncIterator[StreamInput]) -> AsyncGenerator[Item, None]:
        call, queue = self.calls.open_stream()
        self.supervisor.send(Kind.STREAM_OPEN, call)
        pumping = asyncio.create_task(self._pump(call, queue, requests))
        try:
            async with aclosing(self._receive(call, queue, None)) as items:
                async for item in items:
                    yield item
        finally:
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)

    async def _pump(
        self, call: int, queue: asyncio.Queue[Any], requests: AsyncIterator[StreamInput]
    ) -> None:
        """Send a Stream call's requests as they arrive; those refused already are answered."""
        try:
            async for request in requests:
                if isinstance(request, ModelrtError):
                    queue.put_nowait(ItemFailure(request))
                else:
                    self._send_request(Kind.STREAM_ITEM, call, request)
        finally:
            if call in self.calls.streams:
                self.supervisor.send(Kind.STREAM_END, call)


def make_worker_factory(
    settings: WorkerSettings, observer: MemoryObserver | None = None
) -> Callable[[InstanceSpec], Executor]:
    """An ExecutorFactory that runs each instance in its own worker process.

    Its instances share one memory sampler: one /proc scan serves them all.
    """
    sampler = MemorySampler(0.5)

    def build(spec: InstanceSpec) -> Executor:
        return WorkerExecutor(spec, settings, sampler, observer)

    return build
