"""Keeps a replica in step with a model store that other replicas change too.

``plan_sync`` decides what to add, drop, load and unload; ``Catalog.sync`` carries the plan out;
``StoreSync`` calls it every ``store_sync_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from registry.errors import ModelrtError
from runtime.engine.models import ModelRecord, ModelState
from runtime.store.store import StoredVersion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncPlan:
    """What a replica must change to serve what the store holds.

    >>> SyncPlan().empty
    True
    """

    add: tuple[StoredVersion, ...] = ()  # committed versions not served yet
    drop: tuple[ModelRecord, ...] = ()  # served versions deleted from the store
    load: tuple[ModelRecord, ...] = ()  # unloaded here, marked loaded in the store
    unload: tuple[ModelRecord, ...] = ()  # loaded here, marked unloaded in the store

    @property
    def empty(self) -> bool:
        return not (self.add or self.drop or self.load or self.unload)


def plan_sync(records: Sequence[ModelRecord], stored: Sequence[StoredVersion]) -> SyncPlan:
    """Compare the versions a replica serves with a scan of the store.

    Only committed versions count (a scan never shows a half-written one); bundles placed in the
    store by hand are read at start and on LoadModel only, so they are left out on both sides. A
    version deleted and committed again under the same number is dropped and added.

    >>> plan_sync([], []).empty
    True
    """
    in_store = {entry.home: entry for entry in stored if entry.manifest is not None}
    served: dict[Path, ModelRecord] = {
        record.entry.home: record
        for record in records
        if record.entry is not None and record.entry.manifest is not None
    }
    add, drop, load, unload = [], [], [], []
    for home, entry in in_store.items():
        record = served.get(home)
        if record is None or record.entry is None or record.entry.manifest != entry.manifest:
            add.append(entry)
        elif entry.loaded and record.state is ModelState.UNLOADED:
            load.append(record)
        elif not entry.loaded and record.state is not ModelState.UNLOADED:
            unload.append(record)
    for home, record in served.items():
        kept = in_store.get(home)
        if kept is None or record.entry is None or record.entry.manifest != kept.manifest:
            drop.append(record)
    return SyncPlan(tuple(add), tuple(drop), tuple(load), tuple(unload))


class StoreSync:
    """Runs ``sync`` every ``interval_s`` seconds until stopped; a failed round is logged.

    >>> syncer = StoreSync(engine.sync, 10.0)  # doctest: +SKIP
    >>> syncer.start()  # doctest: +SKIP
    """

    def __init__(self, sync: Callable[[], Awaitable[SyncPlan]], interval_s: float) -> None:
        self._sync = sync
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.interval_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                plan = await self._sync()
            except ModelrtError as exc:  # e.g. the bucket is out of reach: no trace every round
                logger.error("syncing with the model store failed; trying again: %s", exc.message)
                continue
            except Exception:
                logger.exception("syncing with the model store failed; trying again")
                continue
            if not plan.empty:
                logger.info(
                    "synced with the model store: %d added, %d dropped, %d loaded, %d unloaded",
                    len(plan.add),
                    len(plan.drop),
                    len(plan.load),
                    len(plan.unload),
                )
