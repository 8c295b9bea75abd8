"""The catalog: which model versions the store holds, and whether each is wished loaded.

Scans the store into the model table (start-up, sync, a load naming a new bundle), adds the
versions an upload commits, deletes versions, checks who owns a namespace, and records load and
unload wishes in the store before the lifecycle carries them out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
from pathlib import Path

from loader.bundle import PreparedBundle, prepare_bundle
from loader.errors import BundleError
from loader.unpack import UnpackLimits
from registry.errors import ModelrtError
from runtime.engine.lifecycle import Lifecycle
from runtime.engine.models import ModelRecord, ModelState, check_model_ref
from runtime.engine.reconcile import SyncPlan, plan_sync
from runtime.engine.table import ModelTable
from runtime.errors import ModelNotFoundError
from runtime.store.bucket import BucketError
from runtime.store.mirror import StoreMirror
from runtime.store.store import Manifest, ModelStore, NamespaceOwnedError, StoredVersion

logger = logging.getLogger(__name__)


class Catalog:
    """The store's versions as model records, kept in step with the store.

    ``store`` is the local folder (with a bucket: this replica's cache of it); every change to it
    goes through ``mirror``.

    >>> catalog = Catalog(table, lifecycle, store, mirror, unpack_dir, limits)  # doctest: +SKIP
    >>> await catalog.start()  # doctest: +SKIP
    """

    def __init__(
        self,
        table: ModelTable,
        lifecycle: Lifecycle,
        store: ModelStore,
        mirror: StoreMirror,
        unpack_dir: Path,
        limits: UnpackLimits,
    ) -> None:
        self.table = table
        self.lifecycle = lifecycle
        self.store = store
        self.mirror = mirror
        self.unpack_dir = unpack_dir
        self.limits = limits
        # Scans, adds and deletes of store entries one at a time, so a version is never both
        # found by a sync and added by the upload that committed it.
        self._store_lock = asyncio.Lock()

    def records(self, name: str = "") -> list[ModelRecord]:
        """Every known model version (of ``name`` when given), sorted by name then version."""
        return self.table.records(name)

    # -- the store as a whole ------------------------------------------------------------------

    async def start(self) -> None:
        """Find every bundle in the store and load them all; returns when loading has finished.

        Versions unloaded before a restart stay unloaded; what a crash left half-done is swept.
        With a bucket, its committed versions are copied in first; when it cannot be reached,
        the cached ones are served until a sync succeeds.
        """
        await self.mirror.recover()
        try:
            await self.mirror.pull()
        except BucketError as exc:
            logger.error("serving the cached versions until a sync succeeds: %s", exc.message)
        async with self._store_lock:
            await self._discover()
        pending = [r for r in self.table if r.state is ModelState.LOADING]
        await asyncio.gather(*(self.lifecycle.load_queued(r, ModelState.LOADING) for r in pending))

    async def sync(self) -> SyncPlan:
        """Match the store as other replicas left it: their new versions, deletes and unloads.

        Bundles placed by hand (seeds) are left as they are; see ``runtime.engine.reconcile``.
        With a bucket, its committed versions are copied into the store folder first.
        """
        await self.mirror.pull()
        async with self._store_lock:
            plan = plan_sync(self.table.records(), await asyncio.to_thread(self.store.scan))
            for record in plan.drop:
                self.table.drop(record.key)
            added = [r for e in plan.add if (r := await self._prepare(e)) is not None]
        await asyncio.gather(*(self._retire(record) for record in plan.drop))
        lifecycle = self.lifecycle
        await asyncio.gather(
            *(lifecycle.load_queued(r, ModelState.LOADING) for r in added),
            *(lifecycle.load_queued(r, ModelState.UNLOADED) for r in plan.load),
            *(lifecycle.stop(record) for record in plan.unload),
        )
        return plan

    async def _retire(self, record: ModelRecord) -> None:
        """Stop serving a version deleted from the store elsewhere (its files are gone)."""
        await self.lifecycle.stop(record)
        if record.prepared is not None and record.prepared.unpacked:
            shutil.rmtree(record.prepared.root, ignore_errors=True)
        self.table.forget_if_gone(record.name)

    async def _discover(self) -> list[ModelRecord]:
        known = {r.entry.home.resolve() for r in self.table if r.entry is not None}
        found = []
        for entry in await asyncio.to_thread(self.store.scan):
            if entry.home.resolve() not in known:
                record = await self._prepare(entry)
                if record is not None:
                    found.append(record)
        return found

    async def _prepare(self, entry: StoredVersion) -> ModelRecord | None:
        source, manifest = entry.source, entry.manifest
        try:
            prepared = await asyncio.to_thread(prepare_bundle, source, self.unpack_dir, self.limits)
            if manifest is not None:
                prepared = with_manifest(prepared, manifest)
        except ModelrtError as exc:
            name, version = (
                (manifest.namespace, manifest.version) if manifest else (source.stem, "1")
            )
            record = ModelRecord(name, version, source, entry=entry)
            self.table.put(record)
            self.table.set_state(record, ModelState.FAILED, exc.message)
            return record
        record = ModelRecord(
            prepared.name, prepared.version, source, prepared=prepared, entry=entry
        )
        other = self.table.at(record.key)
        if other is not None:
            other.warnings.append(f"{source.name} also claims {record.name}:{record.version}")
            logger.error(
                "ignoring %s: %s:%s is already served from %s",
                source,
                record.name,
                record.version,
                other.source,
            )
            return None
        self.table.put(record)
        self.table.set_state(record, ModelState.LOADING if entry.loaded else ModelState.UNLOADED)
        return record

    # -- one version ---------------------------------------------------------------------------

    async def load(self, name: str, version: str = "") -> ModelRecord:
        """(Re)load a model version; a bundle added to the store since start is found too."""
        check_model_ref(name, version)
        async with self._store_lock:
            if not self.table.records(name):
                await self._discover()
            record = self.table.get(name, version)
            if record.prepared is None and record.entry is not None:  # unreadable: read again
                self.table.drop(record.key)
                refreshed = await self._prepare(record.entry)
                record = refreshed or record
        # The wish is stored first: a replica syncing meanwhile then agrees instead of undoing it.
        await self._remember(record, loaded=True)
        await self.lifecycle.load(record)
        return record

    async def add(self, entry: StoredVersion) -> ModelRecord:
        """Serve a version just committed to the store; loads it unless it is stored unloaded."""
        async with self._store_lock:
            stale = [  # an older version once stored under this number (deleted elsewhere)
                r
                for r in self.table
                if r.entry is not None
                and r.entry.home == entry.home
                and r.entry.manifest != entry.manifest
            ]
            for old in stale:
                self.table.drop(old.key)
            record = self._found(entry) or await self._prepare(entry)
        await asyncio.gather(*(self._retire(old) for old in stale))
        if record is None:
            raise BundleError(f"{entry.source} names a model version that is already served")
        if entry.loaded:
            await self.lifecycle.load(record, only_from=ModelState.LOADING)
        return record

    def _found(self, entry: StoredVersion) -> ModelRecord | None:
        """The record a sync already made for ``entry`` (it ran between commit and add)."""
        for record in self.table:
            if record.entry is not None and record.entry.home == entry.home:
                return record if record.entry.manifest == entry.manifest else None
        return None

    def check_owner(self, namespace: str, model_class: str) -> None:
        """Refuse a new version of ``namespace`` whose model class is not the one it serves."""
        for record in self.table.records(namespace):
            entry = record.entry
            if entry is None or entry.manifest is None:
                raise NamespaceOwnedError(
                    f"namespace {namespace!r} is served from {record.source.name}, a bundle placed "
                    "in the model store by hand; upload under another namespace",
                    metadata={"model": namespace},
                )
            owner = entry.manifest.model_class
            if owner and model_class and owner != model_class:
                raise NamespaceOwnedError(
                    f"namespace {namespace!r} belongs to model class {owner}; this bundle "
                    f"registers {model_class} (use another namespace for another model)",
                    metadata={"model": namespace, "owner": owner},
                )

    async def _remember(self, record: ModelRecord, *, loaded: bool) -> None:
        if record.entry is not None and record.entry.managed:
            await self.mirror.set_loaded(record.entry, loaded)

    async def unload(
        self, name: str, version: str = "", *, remember: bool = True
    ) -> list[ModelRecord]:
        """Unload one version, or every version when ``version`` is empty.

        ``remember``: record it in the store (a delete does not: its one rename decides it).
        """
        check_model_ref(name, version)  # never every model: "" is refused
        targets = [self.table.get(name, version)] if version else self.table.records(name)
        if not targets:
            raise ModelNotFoundError(f"model {name!r} is not known", metadata={"model": name})
        for record in targets:
            if remember:
                await self._remember(record, loaded=False)  # first, as in load()
            await self.lifecycle.stop(record)
        return targets

    async def delete(self, name: str, version: str = "") -> list[str]:
        """Unload and forget a version (or all), and remove its bundle from the store.

        The store keeps each version as it was (its loaded state too) until the one step that
        removes it, so a crash leaves a version either served as before or gone.
        """
        check_model_ref(name, version)  # never every model: "" is refused
        targets = await self.unload(name, version, remember=False)
        for record in targets:
            async with self._store_lock:
                await self.lifecycle.stop(record)  # again: a sync may have reloaded it meanwhile
                if record.entry is not None:
                    await self.mirror.remove(record.entry)
                self.table.drop(record.key)
            if record.prepared is not None and record.prepared.unpacked:
                shutil.rmtree(record.prepared.root, ignore_errors=True)
        self.table.forget_if_gone(name)
        return [record.version for record in targets]


def with_manifest(prepared: PreparedBundle, manifest: Manifest) -> PreparedBundle:
    """A stored version's bundle as the store names it: its version, and the upload's card."""
    if prepared.name != manifest.namespace:
        raise BundleError(
            f"the bundle names model {prepared.name!r} but is stored as {manifest.namespace!r}"
        )
    card = {key: value for key, value in manifest.card.items() if value}
    config = prepared.config.model_copy(update={**card, "version": manifest.version})
    return dataclasses.replace(prepared, config=config)
