"""Lifecycle of a model version's instances: load slots, one lock per version, start and stop.

Starting plans the instances, starts them through the executor factory and puts a scheduler in
front of them; instance events (down, up, failed) update scheduling and the version's state.
Knows nothing of the store: the catalog decides which versions to load and unload.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from loader.bundle import PreparedBundle
from registry.errors import ModelrtError
from runtime.engine.models import ModelRecord, ModelState
from runtime.engine.scheduler import ModelScheduler, Observer
from runtime.engine.table import ModelTable
from runtime.errors import ModelNotReadyError
from runtime.instances.executor import ExecutorFactory, InstanceEvent
from runtime.placement.planning import InstancePlanner

logger = logging.getLogger(__name__)

# Past load_timeout_s the engine gives up on a load itself, this much later than an instance's
# own start timeout (a worker ends its process and names the timeout), so that one fires first.
_LOAD_BACKSTOP_S = 5.0


class Lifecycle:
    """Starts and stops the instances of the model versions in a table.

    >>> lifecycle = Lifecycle(table, executor_factory, planner)  # doctest: +SKIP
    >>> await lifecycle.load(record)  # doctest: +SKIP
    """

    def __init__(
        self,
        table: ModelTable,
        executor_factory: ExecutorFactory,
        planner: InstancePlanner,
        observer: Observer | None = None,
        *,
        load_concurrency: int = 2,
        load_timeout_s: float = 120.0,
    ) -> None:
        self.table = table
        self.executor_factory = executor_factory
        self.planner = planner
        self.observer = observer
        self.load_timeout_s = load_timeout_s
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._load_slots = asyncio.Semaphore(load_concurrency)

    def _lock(self, record: ModelRecord) -> asyncio.Lock:
        # One lock per name and version, for as long as the server runs: a version read again
        # (a new record under the same key) is still loaded and stopped one step at a time.
        return self._locks.setdefault(record.key, asyncio.Lock())

    async def load_queued(self, record: ModelRecord, only_from: ModelState) -> None:
        """``load`` once one of the load slots is free (start-up and sync load many at once)."""
        async with self._load_slots:
            await self.load(record, only_from=only_from)

    async def load(self, record: ModelRecord, *, only_from: ModelState | None = None) -> None:
        """(Re)load ``record``; with ``only_from``, only if it is still in that state."""
        async with self._lock(record):
            if only_from is not None and record.state is not only_from:
                return  # loaded (or unloaded) meanwhile by another caller
            if self.table.at(record.key) is not record:
                return  # deleted meanwhile
            await self.stop_instances(record)
            if record.prepared is None:  # unreadable: its reason is what reading it said
                reason = record.reason or "the bundle could not be read"
                self.table.set_state(record, ModelState.FAILED, reason)
                return
            if record.state is not ModelState.LOADING:
                self.table.set_state(record, ModelState.LOADING)
            try:
                await self._start_instances(record, record.prepared)
            except ModelrtError as exc:
                await self.stop_instances(record)
                self.table.set_state(record, ModelState.FAILED, exc.message)
            except Exception as exc:
                await self.stop_instances(record)
                logger.exception("loading %s:%s failed", record.name, record.version)
                self.table.set_state(record, ModelState.FAILED, f"loading failed: {_describe(exc)}")
            else:
                self.table.set_state(record, ModelState.READY)

    async def stop(self, record: ModelRecord) -> None:
        """Stop ``record``'s instances and mark it UNLOADED (after any load in progress)."""
        async with self._lock(record):
            await self.stop_instances(record)
            if record.state is not ModelState.UNLOADED:
                self.table.set_state(record, ModelState.UNLOADED)

    async def shutdown(self) -> None:
        """Stop every instance of every model, all at once: a busy instance that has to be
        killed costs its own stop timeout, not one after another per model."""
        records = list(self.table)
        stops = await asyncio.gather(
            *(self.stop_instances(record) for record in records), return_exceptions=True
        )
        for record, outcome in zip(records, stops, strict=True):
            if isinstance(outcome, BaseException):
                logger.error("stopping %s:%s failed: %s", record.name, record.version, outcome)

    async def _start_instances(self, record: ModelRecord, prepared: PreparedBundle) -> None:
        specs, notes = await self.planner.plan(prepared)
        record.instances = [self.executor_factory(spec) for spec in specs]
        for index, executor in enumerate(record.instances):
            executor.watch(functools.partial(self._instance_event, record, index))
        timeout = self.load_timeout_s
        try:
            loaded = await asyncio.wait_for(
                asyncio.gather(*(ex.start() for ex in record.instances)),
                timeout + _LOAD_BACKSTOP_S,
            )
        except TimeoutError:
            raise ModelNotReadyError(
                f"model {record.name!r} version {record.version} did not load within "
                f"{timeout:g}s (load_timeout_s)",
                reason="LOAD_TIMEOUT",
                metadata={"model": record.name},
            ) from None
        self.planner.settle(prepared)
        record.loaded = loaded[0]
        record.warnings = [*loaded[0].warnings, *notes]
        record.scheduler = ModelScheduler(
            record.name, record.instances, prepared.config.batching, self.observer
        )

    async def stop_instances(self, record: ModelRecord) -> None:
        """Close ``record``'s scheduler (queued calls fail) and stop its instances, unlocked."""
        scheduler, record.scheduler = record.scheduler, None
        if scheduler is not None:
            await scheduler.close(
                ModelNotReadyError(
                    f"model {record.name!r} version {record.version} is unloading",
                    metadata={"model": record.name},
                )
            )
        instances, record.instances = record.instances, []
        await asyncio.gather(*(ex.stop() for ex in instances), return_exceptions=True)
        if record.prepared is not None:
            self.planner.release(record.prepared)

    def _instance_event(self, record: ModelRecord, index: int, event: InstanceEvent) -> None:
        """A worker went down, came back, or gave up: update scheduling, state and health."""
        scheduler = record.scheduler
        if scheduler is None:
            return
        if event.kind == "failed":
            self.table.set_state(record, ModelState.FAILED, event.reason)
            asyncio.get_running_loop().create_task(self.stop_instances(record))
            return
        scheduler.set_up(index, event.kind == "up")
        if event.kind == "up" and self.observer is not None:
            self.observer.count_restart(record.name)
        detail = f": {event.reason}" if event.reason else ""
        logger.warning(
            "model %s:%s instance %d is %s%s",
            record.name,
            record.version,
            index,
            event.kind,
            detail,
        )
        self.table.notify(record)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
