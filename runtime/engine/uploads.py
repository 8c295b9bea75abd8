"""Upload: a bundle streamed to a staging file, verified, checked in a worker, then committed.

Bytes go to disk as they arrive (memory stays bounded whatever the size); the size limit is
enforced as soon as it is crossed; size and sha256 are verified before unpacking; the bundle is
unpacked safely and imported in a throwaway process; only then is it renamed into the store as
a new version and loaded. Whatever goes wrong, or when the caller goes away, the staging folder
is removed and the store is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from loader.bundle import prepare_bundle
from loader.unpack import UnpackLimits, safe_unpack
from registry.errors import ErrorCode, InvalidInputError, ModelrtError
from runtime.engine.catalog import Catalog
from runtime.engine.models import ModelRecord
from runtime.placement.planning import InstancePlanner
from runtime.store.mirror import StoreMirror
from runtime.store.store import (
    Manifest,
    ModelStore,
    NamespaceOwnedError,
    VersionExistsError,
    check_name,
)

logger = logging.getLogger(__name__)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
UPLOAD_FILE = "upload.zip"


class UploadTooLargeError(ModelrtError):
    """The bundle is bigger than the server accepts."""

    code = ErrorCode.RESOURCE_EXHAUSTED
    reason = "UPLOAD_TOO_LARGE"


class UploadCorruptError(ModelrtError):
    """The bytes received are not the bundle the header described (size or sha256)."""

    code = ErrorCode.DATA_LOSS
    reason = "UPLOAD_CORRUPT"


@dataclass(frozen=True)
class UploadHeader:
    """The first message of an Upload, as the engine sees it.

    >>> UploadHeader("iris", total_size=10, sha256="0" * 64).skip_load
    False
    """

    namespace: str = ""
    version: str = ""
    format: str = ""  # "" to detect
    total_size: int = 0
    sha256: str = ""
    card: Mapping[str, Any] = field(default_factory=dict)
    skip_load: bool = False


@dataclass(frozen=True)
class UploadSettings:
    """Limits and checks of the upload path."""

    max_upload_bytes: int
    limits: UnpackLimits
    strict_requirements: bool = False
    check_timeout_s: float = 300.0


class Upload:
    """One upload in progress: a staging folder and the file its bytes go to."""

    def __init__(self, header: UploadHeader, staged: Path, max_bytes: int) -> None:
        self.header = header
        self.staged = staged
        self.path = staged / UPLOAD_FILE
        self.received = 0
        self._max_bytes = max_bytes
        self._hash = hashlib.sha256()
        self._file: BinaryIO | None = self.path.open("wb")
        self.committing: asyncio.Future[ModelRecord] | None = None

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk``; fails as soon as the size limit or the announced size is crossed."""
        self.received += len(chunk)
        if self.received > self._max_bytes:
            raise UploadTooLargeError(
                f"the upload passed the server's limit of {self._max_bytes} bytes",
                metadata={"limit": str(self._max_bytes)},
            )
        if self.received > self.header.total_size:
            raise UploadCorruptError(
                f"received more than the {self.header.total_size} bytes the header announced"
            )
        await asyncio.to_thread(self._append, chunk)

    def _append(self, chunk: bytes) -> None:
        assert self._file is not None
        self._file.write(chunk)
        self._hash.update(chunk)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def verify(self) -> str:
        """The sha256 of what was received; UploadCorruptError unless it matches the header."""
        self.close()
        if self.received != self.header.total_size:
            raise UploadCorruptError(
                f"received {self.received} bytes but the header announced "
                f"{self.header.total_size}; the upload was cut short"
            )
        digest = self._hash.hexdigest()
        if digest != self.header.sha256:
            raise UploadCorruptError(
                f"sha256 of the received bytes is {digest}, the header said {self.header.sha256}"
            )
        return digest


def check_header(header: UploadHeader, max_bytes: int) -> None:
    """Refuse a header that cannot lead to a valid upload, before any byte is read."""
    if header.namespace:
        check_name("namespace", header.namespace)
    if header.version:
        check_name("version", header.version)
    if header.total_size <= 0:
        raise InvalidInputError("the Upload header must give the bundle's size (total_size > 0)")
    if header.total_size > max_bytes:
        raise UploadTooLargeError(
            f"the bundle is {header.total_size} bytes; this server accepts at most {max_bytes}",
            metadata={"limit": str(max_bytes)},
        )
    if not _SHA256.match(header.sha256):
        raise InvalidInputError("the Upload header must give the bundle's sha256 as 64 hex digits")


class CheckedBundle(Protocol):
    """What the bundle check found; committing needs only the model class."""

    @property
    def model_class(self) -> str:
        """The qualified name of the bundle's registered model class."""
        ...


class BundleCheck(Protocol):
    """Imports a bundle's code away from the server process and checks it.

    The server passes ``runtime.instances.validation.validate_bundle``: it runs bundle code in a
    throwaway worker process, which is instance-side code, so the engine only names its shape.
    """

    def __call__(
        self, root: Path, *, python: str | None, strict_requirements: bool, timeout_s: float
    ) -> Awaitable[CheckedBundle]: ...


class Uploads:
    """Receives uploads, commits them to the store and has the catalog serve them.

    ``store`` stages the bytes, ``mirror`` commits them (to the bucket too, when there is one),
    ``planner`` names the interpreter the bundle check runs in, ``catalog`` owns the namespaces.

    >>> uploads = Uploads(settings, check, catalog=catalog, store=store, mirror=mirror,
    ...                   planner=planner)  # doctest: +SKIP
    >>> async with uploads.receive(header) as upload:  # doctest: +SKIP
    ...     await upload.write(chunk)
    ...     record, sha256 = await uploads.commit(upload)
    """

    def __init__(
        self,
        settings: UploadSettings,
        check: BundleCheck,
        *,
        catalog: Catalog,
        store: ModelStore,
        mirror: StoreMirror,
        planner: InstancePlanner,
    ) -> None:
        self.settings = settings
        self.check = check
        self.catalog = catalog
        self.store = store
        self.mirror = mirror
        self.planner = planner
        self._commit_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def receive(self, header: UploadHeader) -> AsyncIterator[Upload]:
        """An Upload to write chunks to; its staging folder is gone when the block ends."""
        check_header(header, self.settings.max_upload_bytes)
        self._check_target(header)  # before any chunk is read: a refusal costs the client nothing
        staged = await asyncio.to_thread(self.store.stage)
        upload = Upload(header, staged, self.settings.max_upload_bytes)
        try:
            yield upload
        finally:
            upload.close()
            # Shielded: a cancelled call must still remove what it staged.
            await asyncio.shield(self._clean_up(upload))

    def _check_target(self, header: UploadHeader) -> None:
        """Refuse, from the header alone, a namespace this server knows to be taken by a bundle
        placed by hand, or a version it already serves. (A namespace owned by another model
        class can only be told once the bundle is imported; commit checks that.)"""
        if not header.namespace:
            return
        self.catalog.check_owner(header.namespace, "")
        if header.version and any(
            record.version == header.version for record in self.catalog.records(header.namespace)
        ):
            raise VersionExistsError(
                f"model {header.namespace!r} already has version {header.version!r}",
                metadata={"model": header.namespace, "version": header.version},
            )

    async def _clean_up(self, upload: Upload) -> None:
        """Wait for a commit in progress (it moves files out of staging), then drop staging."""
        if upload.committing is not None:
            with contextlib.suppress(BaseException):
                await upload.committing
        await asyncio.to_thread(self.store.discard, upload.staged)

    async def commit(self, upload: Upload) -> tuple[ModelRecord, str]:
        """Verify, unpack, check and store the bundle as a new version, then serve it."""
        digest = upload.verify()
        header, limits = upload.header, self.settings.limits
        bundle = upload.staged / "bundle"
        await asyncio.to_thread(safe_unpack, upload.path, bundle, limits)
        await asyncio.to_thread(upload.path.unlink)
        prepared = await asyncio.to_thread(prepare_bundle, bundle, upload.staged, limits)
        namespace = header.namespace or prepared.name
        if prepared.name != namespace:
            raise InvalidInputError(
                f"the bundle is model {prepared.name!r} but the upload is for {namespace!r}",
                metadata={"model": namespace},
            )
        if header.format and header.format != prepared.format:
            raise InvalidInputError(
                f"the upload says format {header.format!r} but the bundle is {prepared.format!r}"
            )
        python, _ = await self.planner.interpreter(prepared)
        checked = await self.check(
            bundle,
            python=python,
            strict_requirements=self.settings.strict_requirements and python is None,
            timeout_s=self.settings.check_timeout_s,
        )
        manifest = Manifest(
            namespace=namespace,
            version=header.version,
            sha256=digest,
            size=upload.received,
            format=prepared.format,
            card=dict(header.card),
            model_class=checked.model_class,
        )
        # Once committing starts it finishes, even if the caller goes away: a version is either
        # not stored at all, or stored and served.
        upload.committing = asyncio.ensure_future(
            self._commit(upload.staged, manifest, not header.skip_load)
        )
        return await asyncio.shield(upload.committing), digest

    async def _commit(self, staged: Path, manifest: Manifest, load: bool) -> ModelRecord:
        namespace, owner = manifest.namespace, manifest.model_class
        async with self._commit_lock:  # owner check and commit as one step
            self.catalog.check_owner(namespace, owner)
            await self._check_stored_owner(namespace, owner)
            entry = await self.mirror.commit(staged, manifest, loaded=load)
        logger.info(
            "stored %s:%s (%d bytes, sha256 %s)",
            namespace,
            entry.home.name,
            manifest.size,
            manifest.sha256,
        )
        return await self.catalog.add(entry)

    async def _check_stored_owner(self, namespace: str, model_class: str) -> None:
        """The store may hold versions this server has not read yet (another replica's)."""
        for stored in await self.mirror.manifests():
            owner = stored.model_class
            if stored.namespace == namespace and owner != model_class:
                raise NamespaceOwnedError(
                    f"namespace {namespace!r} belongs to model class {owner}; this bundle "
                    f"registers {model_class} (use another namespace for another model)",
                    metadata={"model": namespace, "owner": owner},
                )
