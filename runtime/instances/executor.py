"""The executor interface: how the engine runs one model instance, wherever that instance lives.

inprocess.py (in this room) runs an instance inside the current process; workers.py runs it in
a worker process of its own (which itself uses the in-process executor behind a pipe).
Executors return outputs already shaped against the model's schema, since only the instance
has the bundle's code. Predict calls cross in wire form (runtime/wire.py): the instance decodes
and checks each request and encodes each answer.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loader.bundle import PreparedBundle
from runtime.instances.outputs import ItemFailure, ModelOutput
from runtime.instances.payload import Answer, StreamInput, WireRequest

Item = ModelOutput | ItemFailure  # one Generate or Stream item
OnResult = Callable[[int, Answer], None]  # one request of an unbatched trip answered
OnBatchDone = Callable[[list[Answer] | BaseException], None]  # a batch's answers, or its error
OnEachDone = Callable[[BaseException | None], None]  # an unbatched trip ended (error or None)


@dataclass(frozen=True)
class InstanceSpec:
    """Everything needed to start one instance of a model version."""

    prepared: PreparedBundle
    index: int = 0
    device: str = "cpu"
    env: Mapping[str, str] = field(default_factory=dict)
    python: str | None = None
    strict_requirements: bool = False
    max_sync_workers: int = 4
    max_concurrent_streams: int = 64

    @property
    def name(self) -> str:
        return self.prepared.name

    @property
    def version(self) -> str:
        return self.prepared.version


@dataclass(frozen=True)
class LoadedModel:
    """What an instance reports once its bundle is imported and ``load_model`` has run."""

    capabilities: tuple[str, ...]
    output_schema: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstanceEvent:
    """An instance went down (crash, hang), came back up, or gave up restarting."""

    kind: Literal["up", "down", "failed"]
    reason: str = ""


class Executor(abc.ABC):
    """Runs the hooks of one model instance."""

    def watch(self, listener: Callable[[InstanceEvent], None]) -> None:  # noqa: B027
        """Be told when the instance goes down or comes back (an in-process one never does)."""

    @abc.abstractmethod
    async def start(self) -> LoadedModel:
        """Import the bundle, build the model and run ``load_model``."""

    @abc.abstractmethod
    async def predict_batch(self, requests: list[WireRequest]) -> list[Answer]:
        """One answer per request, in order; those that fail their input check skip the model."""

    @abc.abstractmethod
    async def predict_each(self, requests: list[WireRequest], on_result: OnResult) -> None:
        """Run requests one at a time (no batching); ``on_result(index, answer)`` as each ends."""

    def submit_batch(self, requests: list[WireRequest], on_done: OnBatchDone) -> None:
        """Start ``predict_batch``; ``on_done(outputs or error)`` once it ends, never sooner
        than this returns. Raises at once when the instance cannot take the call."""
        _in_background(self.predict_batch(requests), on_done)

    def submit_each(
        self, requests: list[WireRequest], on_result: OnResult, on_done: OnEachDone
    ) -> None:
        """Start ``predict_each``; then ``on_done(None or error)`` as with submit_batch."""
        _in_background(
            self.predict_each(requests, on_result),
            lambda result: on_done(result if isinstance(result, BaseException) else None),
        )

    @abc.abstractmethod
    def generate(self, request: WireRequest) -> AsyncGenerator[Item, None]:
        """Yield ``generate``'s items as the model produces them; closing it stops the model.

        The request is decoded and checked here, like Predict's: a bad one fails the call
        (INVALID_ARGUMENT) before the model sees it.
        """

    @abc.abstractmethod
    def stream(self, requests: AsyncIterator[StreamInput]) -> AsyncGenerator[Item, None]:
        """Feed ``requests`` to ``stream`` as they arrive and yield its outputs as produced.

        A request that fails to decode or check, or that arrives refused, is answered with an
        ItemFailure in its place and never reaches the model; the stream goes on.
        """

    @abc.abstractmethod
    async def stop(self) -> None:
        """Release the instance and everything it holds."""


_BACKGROUND: set[asyncio.Task[Any]] = set()  # strong references until the tasks end


def _in_background(work: Awaitable[Any], on_done: Callable[[Any], None]) -> None:
    """Run ``work`` as a task and call ``on_done`` with its result or exception."""

    async def run() -> None:
        try:
            result = await work
        except BaseException as exc:  # cancelled too: the trip ends either way
            on_done(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            on_done(result)

    task = asyncio.get_running_loop().create_task(run())
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


#: Builds the executor of one instance (the server picks in-process or worker processes).
ExecutorFactory = Callable[[InstanceSpec], Executor]
