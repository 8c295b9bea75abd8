"""The engine: the one door the front doors use, to the model table, catalog and lifecycle.

Servicers convert wire messages to requests and call the engine; the engine resolves the model
version and hands the call to its scheduler, and passes the lifecycle calls (load, unload,
delete) to the catalog. Imports neither grpc nor protobuf.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing

from registry.errors import HookNotImplementedError
from runtime.engine.catalog import Catalog
from runtime.engine.lifecycle import Lifecycle
from runtime.engine.models import ModelRecord, ModelState
from runtime.engine.reconcile import SyncPlan
from runtime.engine.scheduler import ModelScheduler
from runtime.engine.table import Listener, ModelTable
from runtime.errors import ModelNotReadyError
from runtime.instances.outputs import ItemFailure, ModelOutput
from runtime.instances.payload import Encoded, StreamInput, WireRequest

logger = logging.getLogger(__name__)


class Engine:
    """Loads the bundles of a model store and answers calls on them.

    >>> engine = Engine(table, catalog, lifecycle)  # doctest: +SKIP
    >>> await engine.start()  # doctest: +SKIP
    """

    def __init__(self, table: ModelTable, catalog: Catalog, lifecycle: Lifecycle) -> None:
        self._table = table
        self._catalog = catalog
        self._lifecycle = lifecycle

    # -- the model table -----------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(record)`` whenever a model version changes state."""
        self._table.add_listener(listener)

    def on_forget(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` when the last version of a model is deleted."""
        self._table.on_forget(listener)

    def records(self, name: str = "") -> list[ModelRecord]:
        """Every known model version (of ``name`` when given), sorted by name then version."""
        return self._table.records(name)

    def get(self, name: str, version: str = "") -> ModelRecord:
        """The version asked for; with no version the newest READY one, else the newest."""
        return self._table.get(name, version)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Find every bundle in the store and load them all; returns when loading has finished."""
        await self._catalog.start()

    async def sync(self) -> SyncPlan:
        """Match the store as other replicas left it: their new versions, deletes and unloads."""
        return await self._catalog.sync()

    async def load(self, name: str, version: str = "") -> ModelRecord:
        """(Re)load a model version; a bundle added to the store since start is found too."""
        return await self._catalog.load(name, version)

    async def unload(self, name: str, version: str = "") -> list[ModelRecord]:
        """Unload one version, or every version when ``version`` is empty."""
        return await self._catalog.unload(name, version)

    async def delete(self, name: str, version: str = "") -> list[str]:
        """Unload and forget a version (or all), and remove its bundle from the store."""
        return await self._catalog.delete(name, version)

    async def shutdown(self) -> None:
        """Stop every instance of every model, all at once."""
        await self._lifecycle.shutdown()

    # -- inference -----------------------------------------------------------------------------

    def resolve(self, name: str, version: str, capability: str) -> ModelRecord:
        """The READY version to call; else NOT_FOUND, UNAVAILABLE or UNIMPLEMENTED."""
        record = self._table.lookup(name, version)
        if record.state is not ModelState.READY or record.scheduler is None:
            detail = f": {record.reason}" if record.reason else ""
            raise ModelNotReadyError(
                f"model {record.name!r} version {record.version} is {record.state}{detail}",
                metadata={"model": record.name, "state": str(record.state)},
            )
        if capability not in record.capabilities:
            offered = ", ".join(record.capabilities)
            raise HookNotImplementedError(
                f"model {record.name!r} does not implement {capability} (it offers {offered})",
                metadata={"model": record.name},
            )
        return record

    def predict(
        self, record: ModelRecord, request: WireRequest, timeout: float | None = None
    ) -> Awaitable[Encoded]:
        """One request, one encoded answer (instances/wire.py); the instance checks the inputs.

        ``timeout``: seconds left until the caller's deadline (None: none); a request still
        queued when they have passed is dropped unrun (DEADLINE_EXPIRED_IN_QUEUE).
        """
        return _scheduler(record).predict(request, timeout)

    async def generate(
        self, record: ModelRecord, request: WireRequest
    ) -> AsyncGenerator[ModelOutput | ItemFailure, None]:
        """Items as the model yields them; the instance decodes and checks the request first.

        An item that fails its schema is an ItemFailure; a bad request fails the call.
        """
        async with aclosing(_scheduler(record).generate(request)) as items:
            async for item in items:
                yield item

    async def stream(
        self, record: ModelRecord, requests: AsyncIterator[StreamInput]
    ) -> AsyncGenerator[ModelOutput | ItemFailure, None]:
        """The model's outputs for requests fed as they come; the instance decodes and checks
        each, answering a bad (or refused) one with an ItemFailure in its place."""
        async with aclosing(_scheduler(record).stream(requests)) as items:
            async for item in items:
                yield item


def _scheduler(record: ModelRecord) -> ModelScheduler:
    if record.scheduler is None:
        raise ModelNotReadyError(f"model {record.name!r} is not loaded")
    return record.scheduler
