"""Keeps the local model store in step with a bucket that every replica shares, if there is one.

With a bucket the local store is a cache: a change goes to the bucket first (its commit marker makes
a version visible to every replica, its tombstone deletes it, and it gives out version numbers),
then to the cache; ``pull`` copies committed versions in and removes those the bucket no longer
holds. Without one, each call is the plain ModelStore operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from loader.unpack import UnpackLimits, safe_unpack
from registry.errors import ModelrtError
from runtime.store.bucket import BUNDLE_ZIP, Bucket, BucketError, BucketVersion
from runtime.store.store import BUNDLE, Manifest, ModelStore, StoredVersion

logger = logging.getLogger(__name__)


class StoreMirror:
    """Every change to the model store, applied to the bucket (when there is one) and the cache.

    One change at a time, pulls included, so a pull never races an upload or a delete of this
    replica. Bucket calls run in threads, off the event loop.

    >>> mirror = StoreMirror(ModelStore(Path("cache")), bucket, UnpackLimits())  # doctest: +SKIP
    >>> await mirror.pull()  # doctest: +SKIP
    """

    def __init__(self, store: ModelStore, bucket: Bucket | None, limits: UnpackLimits) -> None:
        self.store = store
        self.bucket = bucket
        self.limits = limits
        self._lock = asyncio.Lock()

    async def recover(self) -> None:
        """Sweep what a crash left half-done, in the cache and (long abandoned) in the bucket."""
        await asyncio.to_thread(self.store.recover)
        if self.bucket is not None:
            try:
                await asyncio.to_thread(self.bucket.sweep)
            except BucketError as exc:
                logger.warning("could not sweep the bucket: %s", exc.message)

    async def manifests(self) -> list[Manifest]:
        """The manifest of every committed version: the bucket's, or the store folder's."""
        async with self._lock:
            if self.bucket is not None:
                found = await asyncio.to_thread(self.bucket.committed)
                return [version.manifest for version in found.values()]
            entries = await asyncio.to_thread(self.store.scan)
            return [entry.manifest for entry in entries if entry.manifest is not None]

    async def pull(self) -> None:
        """Make the cache hold exactly the bucket's committed versions, in their state."""
        if self.bucket is None:
            return
        async with self._lock:
            remote = await asyncio.to_thread(self.bucket.committed)
            await asyncio.to_thread(self._apply, remote)

    def _apply(self, remote: dict[tuple[str, str], BucketVersion]) -> None:
        local = {
            (entry.manifest.namespace, entry.manifest.version): entry
            for entry in self.store.scan()
            if entry.manifest is not None
        }
        for key, entry in local.items():
            kept = remote.get(key)
            if kept is None or kept.manifest != entry.manifest:  # deleted (maybe committed anew)
                logger.info("removing %s:%s from the cache: the bucket no longer holds it", *key)
                self.store.remove(entry)
            elif kept.loaded != entry.loaded:
                self.store.set_loaded(entry, kept.loaded)
        for key, version in remote.items():
            cached = local.get(key)
            if cached is None or cached.manifest != version.manifest:
                self._fetch(version)

    def _fetch(self, version: BucketVersion) -> None:
        """Download, check and unpack a version, then commit it to the cache in one rename."""
        assert self.bucket is not None
        manifest = version.manifest
        staged = self.store.stage()
        try:
            archive = self.bucket.download(version, staged / BUNDLE_ZIP)
            safe_unpack(archive, staged / BUNDLE, self.limits)
            archive.unlink()
            self.store.commit(staged, manifest, loaded=version.loaded, claim=False)
            logger.info("copied %s:%s from the bucket", manifest.namespace, manifest.version)
        except (ModelrtError, OSError) as exc:  # the next pull tries again
            detail = exc.message if isinstance(exc, ModelrtError) else str(exc)
            logger.error(
                "cannot copy %s:%s from the bucket: %s",
                manifest.namespace,
                manifest.version,
                detail,
            )
        finally:
            self.store.discard(staged)

    async def commit(self, staged: Path, manifest: Manifest, *, loaded: bool) -> StoredVersion:
        """Store ``staged/bundle`` as a new version: published to the bucket, then cached."""
        async with self._lock:
            if self.bucket is None:
                return await asyncio.to_thread(self.store.commit, staged, manifest, loaded=loaded)
            bucket = self.bucket
            manifest = await asyncio.to_thread(
                bucket.publish, staged / BUNDLE, manifest, loaded=loaded, workdir=staged
            )
            try:
                await asyncio.to_thread(self._drop_cached, manifest)
                return await asyncio.to_thread(
                    self.store.commit, staged, manifest, loaded=loaded, claim=False
                )
            except BaseException:  # the upload fails as a whole: no replica may serve it
                with contextlib.suppress(BucketError):
                    await asyncio.to_thread(bucket.remove, manifest.namespace, manifest.version)
                raise

    def _drop_cached(self, manifest: Manifest) -> None:
        """Remove a cached copy of a version the bucket deleted and gave out anew (old releases)."""
        for entry in self.store.scan():
            if entry.manifest is not None and (
                (entry.manifest.namespace, entry.manifest.version)
                == (manifest.namespace, manifest.version)
            ):
                self.store.remove(entry)

    async def set_loaded(self, entry: StoredVersion, loaded: bool) -> None:
        """Record whether every replica should load the version (bucket, then cache)."""
        if entry.manifest is None:
            return
        async with self._lock:
            if self.bucket is not None:
                manifest = entry.manifest
                await asyncio.to_thread(
                    self.bucket.set_loaded, manifest.namespace, manifest.version, loaded
                )
            await asyncio.to_thread(self.store.set_loaded, entry, loaded)

    async def remove(self, entry: StoredVersion) -> None:
        """Delete a version (or a seed): from the bucket first, then from the cache."""
        async with self._lock:
            if self.bucket is not None and entry.manifest is not None:
                manifest = entry.manifest
                await asyncio.to_thread(self.bucket.remove, manifest.namespace, manifest.version)
            await asyncio.to_thread(self.store.remove, entry)
