"""The engine: model lifecycle and inference dispatch. Imports neither grpc nor protobuf.

Servicers convert wire messages to Requests and call the engine; the engine resolves the model
version, checks inputs, runs the hook through the model's Executor and shapes the output.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import shutil
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

from loader.bundle import PreparedBundle, prepare_bundle
from loader.errors import BundleError
from loader.unpack import UnpackLimits
from registry.errors import HookNotImplementedError, ModelrtError
from runtime.engine.models import ModelRecord, ModelState, check_model_ref
from runtime.engine.reconcile import SyncPlan, plan_sync
from runtime.engine.scheduler import ModelScheduler, Observer
from runtime.errors import ModelNotFoundError, ModelNotReadyError
from runtime.instances.executor import ExecutorFactory, InstanceEvent
from runtime.instances.outputs import ItemFailure, ModelOutput
from runtime.instances.payload import Encoded, StreamInput, WireRequest
from runtime.placement.planning import InstancePlanner
from runtime.store.bucket import Bucket, BucketError
from runtime.store.mirror import StoreMirror
from runtime.store.store import Manifest, ModelStore, NamespaceOwnedError, StoredVersion

logger = logging.getLogger(__name__)
Listener = Callable[[ModelRecord], None]


@dataclass(frozen=True)
class EngineConfig:
    """What the engine needs from the server settings."""

    store: Path
    unpack_dir: Path
    limits: UnpackLimits
    load_concurrency: int = 2
    load_timeout_s: float = 120.0


# Past load_timeout_s the engine gives up on a load itself, this much later than an instance's
# own start timeout (a worker ends its process and names the timeout), so that one fires first.
_LOAD_BACKSTOP_S = 5.0


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


class Engine:
    """Loads the bundles of a model store and answers calls on them.

    >>> engine = Engine(config, executor_factory)  # doctest: +SKIP
    >>> await engine.start()  # doctest: +SKIP
    """

    def __init__(
        self,
        config: EngineConfig,
        executor_factory: ExecutorFactory,
        planner: InstancePlanner,
        observer: Observer | None = None,
        bucket: Bucket | None = None,
    ) -> None:
        self.config = config
        self.executor_factory = executor_factory
        self.planner = planner
        self.observer = observer
        self.store = ModelStore(config.store)  # with a bucket: this replica's cache of it
        self.mirror = StoreMirror(self.store, bucket, config.limits)
        self._records: dict[tuple[str, str], ModelRecord] = {}
        # get(name) for calls that name no version, cached until a record or state changes.
        self._newest: dict[str, ModelRecord] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._listeners: list[Listener] = []
        self._forget_listeners: list[Callable[[str], None]] = []
        # Scans, adds and deletes of store entries one at a time, so a version is never both
        # found by a sync and added by the upload that committed it.
        self._store_lock = asyncio.Lock()
        self._load_slots = asyncio.Semaphore(config.load_concurrency)

    # -- state ---------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(record)`` whenever a model version changes state."""
        self._listeners.append(listener)

    def on_forget(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` when the last version of a model is deleted."""
        self._forget_listeners.append(listener)

    def _put(self, record: ModelRecord) -> None:
        self._records[record.key] = record
        self._newest.clear()

    def _drop(self, key: tuple[str, str]) -> None:
        self._records.pop(key, None)
        self._newest.clear()

    def _set_state(self, record: ModelRecord, state: ModelState, reason: str = "") -> None:
        record.set_state(state, reason)
        self._newest.clear()
        log = logger.warning if state is ModelState.FAILED else logger.info
        log("model %s:%s is %s%s", record.name, record.version, state, f": {reason}" * bool(reason))
        for listener in self._listeners:
            listener(record)

    def records(self, name: str = "") -> list[ModelRecord]:
        """Every known model version (of ``name`` when given), sorted by name then version."""
        chosen = [r for r in self._records.values() if not name or r.name == name]
        return sorted(chosen, key=lambda r: (r.name, _version_key(r.version)))

    def get(self, name: str, version: str = "") -> ModelRecord:
        """The version asked for; with no version the newest READY one, else the newest."""
        check_model_ref(name, version)
        versions = self.records(name)
        if not versions:
            raise ModelNotFoundError(f"model {name!r} is not known", metadata={"model": name})
        if version:
            for record in versions:
                if record.version == version:
                    return record
            known = ", ".join(r.version for r in versions)
            raise ModelNotFoundError(
                f"model {name!r} has no version {version!r} (versions: {known})",
                metadata={"model": name, "version": version},
            )
        ready = [r for r in versions if r.state is ModelState.READY]
        return (ready or versions)[-1]

    # -- lifecycle -----------------------------------------------------------------------------

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
        pending = [r for r in self._records.values() if r.state is ModelState.LOADING]
        await asyncio.gather(*(self._load_queued(r, ModelState.LOADING) for r in pending))

    async def sync(self) -> SyncPlan:
        """Match the store as other replicas left it: their new versions, deletes and unloads.

        Bundles placed by hand (seeds) are left as they are; see ``runtime.reconcile``. With a
        bucket, its committed versions are copied into the store folder first.
        """
        await self.mirror.pull()
        async with self._store_lock:
            plan = plan_sync(self.records(), await asyncio.to_thread(self.store.scan))
            for record in plan.drop:
                self._drop(record.key)
            added = [r for e in plan.add if (r := await self._prepare(e)) is not None]
        await asyncio.gather(*(self._retire(record) for record in plan.drop))
        await asyncio.gather(
            *(self._load_queued(r, ModelState.LOADING) for r in added),
            *(self._load_queued(r, ModelState.UNLOADED) for r in plan.load),
            *(self._stop(record) for record in plan.unload),
        )
        return plan

    async def _load_queued(self, record: ModelRecord, only_from: ModelState) -> None:
        async with self._load_slots:
            await self._load(record, only_from=only_from)

    async def _retire(self, record: ModelRecord) -> None:
        """Stop serving a version deleted from the store elsewhere (its files are gone)."""
        await self._stop(record)
        if record.prepared is not None and record.prepared.unpacked:
            shutil.rmtree(record.prepared.root, ignore_errors=True)
        if not self.records(record.name):
            for listener in self._forget_listeners:
                listener(record.name)

    async def _discover(self) -> list[ModelRecord]:
        known = {r.entry.home.resolve() for r in self._records.values() if r.entry is not None}
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
            prepared = await asyncio.to_thread(
                prepare_bundle, source, self.config.unpack_dir, self.config.limits
            )
            if manifest is not None:
                prepared = with_manifest(prepared, manifest)
        except ModelrtError as exc:
            name, version = (
                (manifest.namespace, manifest.version) if manifest else (source.stem, "1")
            )
            record = ModelRecord(name, version, source, entry=entry)
            self._add(record)
            self._set_state(record, ModelState.FAILED, exc.message)
            return record
        record = ModelRecord(
            prepared.name, prepared.version, source, prepared=prepared, entry=entry
        )
        if record.key in self._records:
            other = self._records[record.key]
            other.warnings.append(f"{source.name} also claims {record.name}:{record.version}")
            logger.error(
                "ignoring %s: %s:%s is already served from %s",
                source,
                record.name,
                record.version,
                other.source,
            )
            return None
        self._add(record)
        self._set_state(record, ModelState.LOADING if entry.loaded else ModelState.UNLOADED)
        return record

    def _add(self, record: ModelRecord) -> None:
        self._put(record)
        self._locks.setdefault(record.key, asyncio.Lock())

    async def _load(self, record: ModelRecord, *, only_from: ModelState | None = None) -> None:
        """(Re)load ``record``; with ``only_from``, only if it is still in that state."""
        async with self._locks[record.key]:
            if only_from is not None and record.state is not only_from:
                return  # loaded (or unloaded) meanwhile by another caller
            if self._records.get(record.key) is not record:
                return  # deleted meanwhile
            await self._stop_instances(record)
            if record.prepared is None:  # unreadable: its reason is what reading it said
                reason = record.reason or "the bundle could not be read"
                self._set_state(record, ModelState.FAILED, reason)
                return
            if record.state is not ModelState.LOADING:
                self._set_state(record, ModelState.LOADING)
            try:
                await self._start_instances(record, record.prepared)
            except ModelrtError as exc:
                await self._stop_instances(record)
                self._set_state(record, ModelState.FAILED, exc.message)
            except Exception as exc:
                await self._stop_instances(record)
                logger.exception("loading %s:%s failed", record.name, record.version)
                self._set_state(record, ModelState.FAILED, f"loading failed: {_describe(exc)}")
            else:
                self._set_state(record, ModelState.READY)

    async def _start_instances(self, record: ModelRecord, prepared: PreparedBundle) -> None:
        specs, notes = await self.planner.plan(prepared)
        record.instances = [self.executor_factory(spec) for spec in specs]
        for index, executor in enumerate(record.instances):
            executor.watch(functools.partial(self._instance_event, record, index))
        timeout = self.config.load_timeout_s
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

    async def _stop_instances(self, record: ModelRecord) -> None:
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
            self._set_state(record, ModelState.FAILED, event.reason)
            asyncio.get_running_loop().create_task(self._stop_instances(record))
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
        for listener in self._listeners:
            listener(record)

    async def load(self, name: str, version: str = "") -> ModelRecord:
        """(Re)load a model version; a bundle added to the store since start is found too."""
        check_model_ref(name, version)
        async with self._store_lock:
            if not self.records(name):
                await self._discover()
            record = self.get(name, version)
            if record.prepared is None and record.entry is not None:  # unreadable: read again
                self._drop(record.key)
                refreshed = await self._prepare(record.entry)
                record = refreshed or record
        # The wish is stored first: a replica syncing meanwhile then agrees instead of undoing it.
        await self._remember(record, loaded=True)
        await self._load(record)
        return record

    async def add(self, entry: StoredVersion) -> ModelRecord:
        """Serve a version just committed to the store; loads it unless it is stored unloaded."""
        async with self._store_lock:
            stale = [  # an older version once stored under this number (deleted elsewhere)
                r
                for r in self._records.values()
                if r.entry is not None
                and r.entry.home == entry.home
                and r.entry.manifest != entry.manifest
            ]
            for old in stale:
                self._drop(old.key)
            record = self._found(entry) or await self._prepare(entry)
        await asyncio.gather(*(self._retire(old) for old in stale))
        if record is None:
            raise BundleError(f"{entry.source} names a model version that is already served")
        if entry.loaded:
            await self._load(record, only_from=ModelState.LOADING)
        return record

    def _found(self, entry: StoredVersion) -> ModelRecord | None:
        """The record a sync already made for ``entry`` (it ran between commit and add)."""
        for record in self._records.values():
            if record.entry is not None and record.entry.home == entry.home:
                return record if record.entry.manifest == entry.manifest else None
        return None

    def check_owner(self, namespace: str, model_class: str) -> None:
        """Refuse a new version of ``namespace`` whose model class is not the one it serves."""
        for record in self.records(namespace):
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
        targets = [self.get(name, version)] if version else self.records(name)
        if not targets:
            raise ModelNotFoundError(f"model {name!r} is not known", metadata={"model": name})
        for record in targets:
            if remember:
                await self._remember(record, loaded=False)  # first, as in load()
            await self._stop(record)
        return targets

    async def _stop(self, record: ModelRecord) -> None:
        async with self._locks[record.key]:
            await self._stop_instances(record)
            if record.state is not ModelState.UNLOADED:
                self._set_state(record, ModelState.UNLOADED)

    async def delete(self, name: str, version: str = "") -> list[str]:
        """Unload and forget a version (or all), and remove its bundle from the store.

        The store keeps each version as it was (its loaded state too) until the one step that
        removes it, so a crash leaves a version either served as before or gone.
        """
        check_model_ref(name, version)  # never every model: "" is refused
        targets = await self.unload(name, version, remember=False)
        for record in targets:
            async with self._store_lock:
                await self._stop(record)  # again: a sync may have reloaded it meanwhile
                if record.entry is not None:
                    await self.mirror.remove(record.entry)
                self._drop(record.key)
            if record.prepared is not None and record.prepared.unpacked:
                shutil.rmtree(record.prepared.root, ignore_errors=True)
        if not self.records(name):
            for listener in self._forget_listeners:
                listener(name)
        return [record.version for record in targets]

    async def shutdown(self) -> None:
        """Stop every instance of every model, all at once: a busy instance that has to be
        killed costs its own stop timeout, not one after another per model."""
        records = list(self._records.values())
        stops = await asyncio.gather(
            *(self._stop_instances(record) for record in records), return_exceptions=True
        )
        for record, outcome in zip(records, stops, strict=True):
            if isinstance(outcome, BaseException):
                logger.error("stopping %s:%s failed: %s", record.name, record.version, outcome)

    # -- inference -----------------------------------------------------------------------------

    def resolve(self, name: str, version: str, capability: str) -> ModelRecord:
        """The READY version to call; else NOT_FOUND, UNAVAILABLE or UNIMPLEMENTED."""
        found = self._records.get((name, version)) if version else self._newest.get(name)
        if found is None:
            found = self.get(name, version)
            if not version:
                self._newest[name] = found
        record = found
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
        """One request, one encoded answer (runtime/wire.py); the instance checks the inputs.

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


def with_manifest(prepared: PreparedBundle, manifest: Manifest) -> PreparedBundle:
    """A stored version's bundle as the store names it: its version, and the upload's card."""
    if prepared.name != manifest.namespace:
        raise BundleError(
            f"the bundle names model {prepared.name!r} but is stored as {manifest.namespace!r}"
        )
    card = {key: value for key, value in manifest.card.items() if value}
    config = prepared.config.model_copy(update={**card, "version": manifest.version})
    return dataclasses.replace(prepared, config=config)


def _scheduler(record: ModelRecord) -> ModelScheduler:
    if record.scheduler is None:
        raise ModelNotReadyError(f"model {record.name!r} is not loaded")
    return record.scheduler


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
