"""The model store in an S3-compatible bucket: versions published behind a commit marker.

``<prefix>/<namespace>/<version>/`` holds ``state.json`` (created first and only if absent: it
claims the version number), ``bundle.zip`` and, written last, ``manifest.json``: the commit marker.
A version without a manifest is never listed as committed. A delete writes ``deleted.json`` (the
tombstone: from then on the version is gone) before removing the manifest and zip; ``state.json``
stays, so the number remains claimed and is never given out again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from registry.errors import ErrorCode, ModelrtError
from runtime.store.bundle_zip import file_digest, zip_bundle
from runtime.store.staging import STALE_STAGING_S
from runtime.store.store import (
    MANIFEST,
    STATE,
    Manifest,
    StoreError,
    VersionExistsError,
    check_name,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

BUNDLE_ZIP = "bundle.zip"
TOMBSTONE = "deleted.json"
_FILES = (MANIFEST, STATE, BUNDLE_ZIP, TOMBSTONE)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MAX_CLAIMS = 100
_TAKEN = {"PreconditionFailed", "ConditionalRequestConflict"}  # If-None-Match lost the race
_MISSING = {"NoSuchKey", "404", "NotFound"}


class BucketError(ModelrtError):
    """The bucket could not be reached or answered with an error."""

    code = ErrorCode.UNAVAILABLE
    reason = "STORE_UNAVAILABLE"


@dataclass(frozen=True)
class BucketLocation:
    """Where the store lives: a bucket and a key prefix ("" or ending in "/").

    >>> BucketLocation("models", "prod/").url
    's3://models/prod/'
    """

    bucket: str
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def parse_store_url(url: str) -> BucketLocation:
    """The bucket and prefix of ``s3://BUCKET[/PREFIX]``; ValueError for anything else.

    >>> parse_store_url("s3://models/prod/v1")
    BucketLocation(bucket='models', prefix='prod/v1/')
    """
    parts = urlsplit(url)
    prefix = parts.path.strip("/")
    if (
        parts.scheme != "s3"
        or not _BUCKET.match(parts.netloc)
        or parts.query
        or parts.fragment
        or "//" in prefix
    ):
        raise ValueError(
            f"store_url {url!r} is not s3://BUCKET[/PREFIX] (a bucket name of 3-63 lowercase "
            "letters, digits, '.' or '-')"
        )
    return BucketLocation(parts.netloc, f"{prefix}/" if prefix else "")


@dataclass(frozen=True)
class BucketVersion:
    """A committed version as the bucket holds it: its manifest, state and zip's digest."""

    manifest: Manifest
    loaded: bool
    bundle_sha256: str
    bundle_size: int


def _needs_boto3() -> BucketError:
    return BucketError(
        "store_url needs boto3: install modelrt with the s3 extra (pip install 'modelrt[s3]')"
    )


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    return str(error.get("Code", ""))


class Bucket:
    """The store's versions in a bucket; boto3's default credential chain signs the calls.

    Calls block: callers run them in a thread. The client is made on first use, not here.

    >>> bucket = Bucket(parse_store_url("s3://models"), "http://127.0.0.1:9000")  # doctest: +SKIP
    >>> bucket.publish(Path("staged/bundle"), manifest, loaded=True, workdir=Path("staged"))
    ... # doctest: +SKIP
    """

    def __init__(self, location: BucketLocation, endpoint_url: str | None = None) -> None:
        self.location = location
        self.endpoint_url = endpoint_url
        self._s3: S3Client | None = None
        self._lock = threading.Lock()
        self._json: dict[str, tuple[str, Any]] = {}  # key -> (ETag, parsed body)

    # -- plumbing --------------------------------------------------------------------------------

    def _client(self) -> S3Client:
        with self._lock:
            if self._s3 is None:
                try:
                    import boto3
                    from botocore.config import Config
                except ImportError:
                    raise _needs_boto3() from None
                options: dict[str, Any] = {
                    "retries": {"mode": "standard", "max_attempts": 5},
                    "connect_timeout": 10,
                    "read_timeout": 60,
                }
                if self.endpoint_url:  # S3-compatible servers: path-style keys, no new checksums
                    options["s3"] = {"addressing_style": "path"}
                    options["request_checksum_calculation"] = "when_required"
                    options["response_checksum_validation"] = "when_required"
                session = boto3.session.Session()
                self._s3 = session.client(
                    "s3", endpoint_url=self.endpoint_url, config=Config(**options)
                )
            return self._s3

    @contextlib.contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Report a failed call as BucketError, naming what was being done."""
        try:
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError:
            raise _needs_boto3() from None
        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise BucketError(
                f"{what} in {self.location.url} failed: {exc}",
                metadata={"store_url": self.location.url},
            ) from exc

    def _key(self, namespace: str, version: str, name: str) -> str:
        return f"{self.location.prefix}{namespace}/{version}/{name}"

    def _folders(self, under: str = "") -> dict[tuple[str, str], dict[str, tuple[str, float]]]:
        """Each version folder's known files: ``{(ns, version): {file: (etag, modified)}}``."""
        prefix = self.location.prefix
        found: dict[tuple[str, str], dict[str, tuple[str, float]]] = {}
        with self._calling("listing the store"):
            pages = self._client().get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.location.bucket, Prefix=prefix + under):
                for obj in page.get("Contents", []):
                    parts = obj["Key"][len(prefix) :].split("/")
                    if len(parts) != 3 or parts[2] not in _FILES:
                        continue
                    with contextlib.suppress(StoreError):
                        key = (check_name("namespace", parts[0]), check_name("version", parts[1]))
                        seen = (obj["ETag"], obj["LastModified"].timestamp())
                        found.setdefault(key, {})[parts[2]] = seen
        return found

    def _read_json(self, key: str, etag: str) -> Any:
        """The parsed object at ``key``, fetched again only when its ETag changed."""
        cached = self._json.get(key)
        if cached is not None and cached[0] == etag:
            return cached[1]
        with self._calling(f"reading {key}"):
            body = self._client().get_object(Bucket=self.location.bucket, Key=key)["Body"]
            data = json.loads(body.read())
        self._json[key] = (etag, data)
        return data

    def _put_json(self, key: str, data: dict[str, Any], *, only_new: bool = False) -> bool:
        """Write ``data`` at ``key``; with ``only_new``, False when the key exists already."""
        body = json.dumps(data, indent=2, sort_keys=True).encode()
        bucket, s3 = self.location.bucket, self._client()
        with self._calling(f"writing {key}"):
            from botocore.exceptions import ClientError  # importable: _calling checked

            try:
                if only_new:
                    s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
                else:
                    s3.put_object(Bucket=bucket, Key=key, Body=body)
            except ClientError as exc:
                if only_new and _error_code(exc) in _TAKEN:
                    return False
                raise
        return True

    def _delete(self, namespace: str, version: str, names: tuple[str, ...]) -> None:
        with self._calling(f"deleting {namespace}:{version}"):
            for name in names:  # one by one, in order: the commit marker goes first
                key = self._key(namespace, version, name)
                self._client().delete_object(Bucket=self.location.bucket, Key=key)

    # -- reading ---------------------------------------------------------------------------------

    def committed(self) -> dict[tuple[str, str], BucketVersion]:
        """Every committed version (one with a readable manifest), by (namespace, version)."""
        committed: dict[tuple[str, str], BucketVersion] = {}
        folders = self._folders()
        for (namespace, version), files in folders.items():
            if MANIFEST not in files or TOMBSTONE in files:
                continue  # being published, or deleted: not a version (yet, or any more)
            try:
                etag, modified = files[MANIFEST]
                data = self._read_json(self._key(namespace, version, MANIFEST), etag)
                # A manifest written by hand may lack its time: the object's own keeps it stable.
                created = datetime.fromtimestamp(modified, UTC).isoformat()
                manifest = Manifest.from_dict({"created": created, **data})
                state = (
                    self._read_json(self._key(namespace, version, STATE), files[STATE][0])
                    if STATE in files
                    else {}
                )
                found = BucketVersion(
                    manifest,
                    bool(state.get("loaded", True)),
                    str(data["bundle_sha256"]),
                    int(data["bundle_size"]),
                )
            except BucketError as exc:
                if _error_code(exc.__cause__ or exc) in _MISSING:
                    continue  # deleted since the listing
                raise
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                logger.error(
                    "skipping %s:%s in the bucket: bad manifest (%s)", namespace, version, exc
                )
                continue
            if (manifest.namespace, manifest.version) != (namespace, version):
                logger.error(
                    "skipping %s:%s in the bucket: its manifest names another", namespace, version
                )
                continue
            committed[(namespace, version)] = found
        listed = {self._key(ns, v, name) for (ns, v), files in folders.items() for name in files}
        self._json = {key: value for key, value in self._json.items() if key in listed}
        return committed

    def download(self, version: BucketVersion, dest: Path) -> Path:
        """Copy a committed version's zip to ``dest``; BucketError unless size and sha256 match."""
        manifest = version.manifest
        key = self._key(manifest.namespace, manifest.version, BUNDLE_ZIP)
        with self._calling(f"downloading {key}"):
            self._client().download_file(self.location.bucket, key, str(dest))
        digest, size = file_digest(dest)
        if (digest, size) != (version.bundle_sha256, version.bundle_size):
            raise BucketError(
                f"{key} is {size} bytes with sha256 {digest}; its manifest says "
                f"{version.bundle_size} bytes with sha256 {version.bundle_sha256}",
                reason="STORE_BUNDLE_CORRUPT",
            )
        return dest

    # -- writing ---------------------------------------------------------------------------------

    def publish(self, bundle: Path, manifest: Manifest, *, loaded: bool, workdir: Path) -> Manifest:
        """Store the folder ``bundle`` as a new version; returns the manifest with its version.

        The version is ``manifest.version`` (VersionExistsError when taken) or the next free one.
        """
        archive = zip_bundle(bundle, workdir / BUNDLE_ZIP)
        try:
            digest, size = file_digest(archive)
            final = replace(manifest, version=self._claim(manifest, loaded))
            namespace, version = final.namespace, final.version
            try:
                with self._calling(f"uploading {namespace}:{version}"):
                    key = self._key(namespace, version, BUNDLE_ZIP)
                    self._client().upload_file(str(archive), self.location.bucket, key)
                marker = {**asdict(final), "bundle_sha256": digest, "bundle_size": size}
                self._put_json(self._key(namespace, version, MANIFEST), marker)
            except BaseException:
                # Retire the number (never given out again) and drop the marker, in case its
                # write failed only as seen here.
                with contextlib.suppress(BucketError):
                    self.remove(namespace, version)
                raise
        finally:
            archive.unlink(missing_ok=True)
        return final

    def _claim(self, manifest: Manifest, loaded: bool) -> str:
        """Create the state.json of a free version number, which makes the number this caller's."""
        namespace, wanted = manifest.namespace, manifest.version
        for _ in range(_MAX_CLAIMS):
            version = wanted or self._next_version(namespace)
            key = self._key(namespace, version, STATE)
            if self._put_json(key, {"loaded": loaded}, only_new=True):
                return version
            if wanted:
                raise VersionExistsError(
                    f"model {namespace!r} has or had version {wanted!r}; a version, once given "
                    "out, is never reused, even after a delete (upload without a version to get "
                    "the next one)",
                    metadata={"model": namespace, "version": wanted},
                )
        raise StoreError(f"could not find a free version for {namespace!r}")

    def _next_version(self, namespace: str) -> str:
        """One more than any number claimed in the namespace (deleted versions' included)."""
        taken = [int(v) for ns, v in self._folders(f"{namespace}/") if v.isdigit()]
        return str(max(taken, default=0) + 1)

    def set_loaded(self, namespace: str, version: str, loaded: bool) -> None:
        """Record whether replicas should load the version (skipped when it is deleted)."""
        files = self._folders(f"{namespace}/{version}/").get((namespace, version), {})
        if MANIFEST in files and TOMBSTONE not in files:
            self._put_json(self._key(namespace, version, STATE), {"loaded": loaded})

    def remove(self, namespace: str, version: str) -> None:
        """Delete a version: its tombstone decides it in one write; the manifest and zip follow.

        ``state.json`` is kept: it holds the number, so no later upload is given it.
        """
        self._put_json(self._key(namespace, version, TOMBSTONE), {"deleted": _now()})
        self._delete(namespace, version, (MANIFEST, BUNDLE_ZIP))

    def sweep(self, stale_after_s: float = STALE_STAGING_S) -> None:
        """Finish interrupted deletes, and retire uploads left without a manifest this long."""
        now = time.time()
        for (namespace, version), files in self._folders().items():
            if TOMBSTONE in files:
                leftovers = tuple(name for name in (MANIFEST, BUNDLE_ZIP) if name in files)
                if leftovers:
                    logger.info("finishing the delete of %s:%s in the bucket", namespace, version)
                    self._delete(namespace, version, leftovers)
            elif MANIFEST not in files and now - max(t for _, t in files.values()) > stale_after_s:
                logger.info(
                    "removing the abandoned upload %s:%s from the bucket", namespace, version
                )
                self.remove(namespace, version)


def _now() -> str:
    return datetime.now(UTC).isoformat()
