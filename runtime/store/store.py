"""The model store on disk: versioned namespaces with manifests, changed only by atomic renames.

``<store>/<namespace>/<version>/`` holds ``bundle/`` (the unpacked bundle), ``manifest.json`` and
``state.json`` (loaded or not). A version is built whole under ``.staging/`` and renamed into
place; a delete renames it to ``.trash/`` before removing files, and that rename alone decides
whether it happened. So a crash at any moment leaves each version either committed and complete
(in its last state) or invisible, and ``recover()`` sweeps the leftovers. Every version name a
namespace gives out is recorded under ``.claims/<namespace>/`` before it becomes visible and kept
after a delete, so a number is never given out twice.
Several replicas may share one store: a staged folder is named after the process building it, and
``recover()`` only sweeps the ones whose process is gone (or, from another host, long idle; see
``staging``).
Bundles dropped straight into the store (a folder or a ``.zip``) are served too, as seeds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry.errors import ErrorCode, ModelrtError
from runtime.store.staging import STALE_STAGING_S, is_abandoned, staging_owner

logger = logging.getLogger(__name__)

NAMESPACE_MARK = ".namespace"  # a managed namespace folder, as opposed to a seed bundle folder
MANIFEST = "manifest.json"
STATE = "state.json"
BUNDLE = "bundle"
STAGING = ".staging"
TRASH = ".trash"
CLAIMS = ".claims"  # <namespace>/<version>: every version ever given out, kept after deletes
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MAX_COMMIT_TRIES = 100


class StoreError(ModelrtError):
    """A store operation that cannot be done as asked (a name or version that is not allowed)."""

    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_STORE_NAME"


class NamespaceOwnedError(ModelrtError):
    """The namespace belongs to another model (another model class, or a bundle placed by hand)."""

    code = ErrorCode.ALREADY_EXISTS
    reason = "NAMESPACE_OWNED"


class VersionExistsError(ModelrtError):
    """The version asked for is committed, or was once and has been deleted (never reused)."""

    code = ErrorCode.ALREADY_EXISTS
    reason = "VERSION_EXISTS"


def check_name(kind: str, value: str) -> str:
    """``value`` when it is a safe folder name for a namespace or version, else StoreError.

    >>> check_name("namespace", "iris-v2")
    'iris-v2'
    """
    if not _NAME.match(value) or value in (".", ".."):
        raise StoreError(
            f"{kind} {value!r} is not allowed: use letters, digits, '.', '_' or '-' "
            "(at most 128, starting with a letter or digit)",
            metadata={kind: value},
        )
    return value


@dataclass(frozen=True)
class Manifest:
    """What the store knows about one committed version.

    >>> Manifest("iris", "1", sha256="ab", size=2, format="native").card
    {}
    """

    namespace: str
    version: str
    sha256: str
    size: int
    format: str
    card: dict[str, Any] = field(default_factory=dict)
    model_class: str = ""
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """The manifest in ``data``; keys it does not know (a bucket's extra fields) are ignored."""
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass(frozen=True)
class StoredVersion:
    """One servable entry of the store: a committed version, or a seed bundle (no manifest)."""

    source: Path  # the bundle folder (or seed zip) to prepare
    home: Path  # what a delete removes: the version folder, or the seed itself
    manifest: Manifest | None = None
    loaded: bool = True

    @property
    def managed(self) -> bool:
        return self.manifest is not None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``path`` whole or not at all: a temp file, fsync, then rename over it."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with temp.open("w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
    _sync_dir(path.parent)


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_managed(home: Path) -> None:
    """NamespaceOwnedError when ``home`` exists but is a seed bundle, not a managed namespace."""
    if (home.exists() or home.is_symlink()) and not (home / NAMESPACE_MARK).is_file():
        raise NamespaceOwnedError(
            f"namespace {home.name!r} is served from a bundle placed in the model store by "
            "hand; remove it from the store or upload under another namespace",
            metadata={"model": home.name},
        )


def _taken(namespace: str, version: str) -> VersionExistsError:
    return VersionExistsError(
        f"model {namespace!r} has or had version {version!r}; a version, once given out, is "
        "never reused, even after a delete (upload without a version to get the next one)",
        metadata={"model": namespace, "version": version},
    )


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


class ModelStore:
    """The store folder. Every change is one rename, so readers never see half a version.

    >>> store = ModelStore(Path("model-store"))  # doctest: +SKIP
    >>> entry = store.commit(store.stage(), manifest)  # doctest: +SKIP
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- reading ---------------------------------------------------------------------------------

    def scan(self) -> list[StoredVersion]:
        """Every committed version (by namespace, then version) and every seed bundle."""
        if not self.root.is_dir():
            return []
        found: list[StoredVersion] = []
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith("."):
                continue
            if (entry / NAMESPACE_MARK).is_file():
                found += self._versions(entry)
            elif entry.is_dir() or (entry.is_file() and entry.suffix == ".zip"):
                found.append(StoredVersion(source=entry, home=entry))
        return found

    def _versions(self, namespace_dir: Path) -> list[StoredVersion]:
        versions = []
        for folder in sorted(namespace_dir.iterdir(), key=lambda p: _version_key(p.name)):
            if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
                continue
            try:
                manifest = Manifest.read(folder / MANIFEST)
                state = json.loads((folder / STATE).read_text(encoding="utf-8"))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                logger.error("skipping %s: its manifest cannot be read (%s)", folder, exc)
                continue
            loaded = bool(state.get("loaded", True))
            versions.append(StoredVersion(folder / BUNDLE, folder, manifest, loaded))
        return versions

    def versions(self, namespace: str) -> list[str]:
        """The committed versions of ``namespace``, oldest first."""
        return [
            e.manifest.version
            for e in self.scan()
            if e.manifest and e.manifest.namespace == namespace
        ]

    # -- writing ---------------------------------------------------------------------------------

    def recover(self, *, stale_after_s: float = STALE_STAGING_S) -> None:
        """Remove what a crash left half-done: staged uploads whose process is gone, and deletes.

        Another replica's upload in progress is kept: a staged folder from this host is swept when
        its process has ended, one from another host when untouched for ``stale_after_s``.
        """
        staging = self.root / STAGING
        for staged in sorted(staging.iterdir()) if staging.is_dir() else []:
            if is_abandoned(staged, stale_after_s):
                logger.info("removing the abandoned upload %s", staged)
                shutil.rmtree(staged, ignore_errors=True)
        trash = self.root / TRASH
        if trash.exists():  # a delete is final once renamed here: finishing it is always safe
            logger.info("removing leftovers in %s", trash)
            shutil.rmtree(trash, ignore_errors=True)
        for entry in self.scan():  # versions placed by hand or by an older release
            if entry.managed:
                self._claim(entry.home.parent.name, entry.home.name, exclusive=False)

    def stage(self) -> Path:
        """A fresh private folder under .staging/ to build an upload in, named after its owner."""
        folder = self.root / STAGING / f"{staging_owner()}_{uuid.uuid4().hex}"
        folder.mkdir(parents=True)
        return folder

    def discard(self, staged: Path) -> None:
        """Forget a staged upload (cancelled or invalid)."""
        if staged.is_relative_to(self.root / STAGING):
            shutil.rmtree(staged, ignore_errors=True)

    def commit(
        self, staged: Path, manifest: Manifest, *, loaded: bool = True, claim: bool = True
    ) -> StoredVersion:
        """Move ``staged/bundle`` into the store as ``manifest``'s version, or the next free one.

        The version's name is claimed for good first (``claim``; False when a bucket gave it out
        and this store is its cache), so no later upload gets a number a deleted version had. The
        version folder is completed inside ``staged`` (manifest, state), then renamed into place
        in one step; when another upload took that version first, the next one is tried.
        """
        namespace = check_name("namespace", manifest.namespace)
        home = self.root / namespace
        wanted = manifest.version
        if wanted:
            check_name("version", wanted)
        for _ in range(_MAX_COMMIT_TRIES):
            _check_managed(home)
            version = wanted or self._next_version(namespace)
            if claim and not self._claim(namespace, version, exclusive=True):
                if wanted:
                    raise _taken(namespace, wanted)
                continue
            final = Manifest(**{**asdict(manifest), "version": version})
            built = staged / "version"
            built.mkdir(exist_ok=True)
            if (staged / BUNDLE).exists():
                os.rename(staged / BUNDLE, built / BUNDLE)
            _write_json(built / MANIFEST, asdict(final))
            _write_json(built / STATE, {"loaded": loaded})
            if self._place(staged, built, home, version):
                return StoredVersion(home / version / BUNDLE, home / version, final, loaded)
            if wanted:
                raise _taken(namespace, wanted)
        raise StoreError(f"could not find a free version for {namespace!r}")

    def _next_version(self, namespace: str) -> str:
        """One more than any number the namespace holds or ever gave out."""
        home = self.root / namespace
        used = [p.name for p in home.iterdir()] if home.is_dir() else []
        used += self._claimed(namespace)  # read second: a delete claims before it renames
        return str(max((int(v) for v in used if v.isdigit()), default=0) + 1)

    def _claimed(self, namespace: str) -> list[str]:
        folder = self.root / CLAIMS / namespace
        return [p.name for p in folder.iterdir()] if folder.is_dir() else []

    def _claim(self, namespace: str, version: str, *, exclusive: bool) -> bool:
        """Record for good that ``namespace`` gave out ``version``; exclusive: False if taken."""
        folder = self.root / CLAIMS / namespace
        if not exclusive and (folder / version).exists():
            return True
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            _sync_dir(folder.parent)
            _sync_dir(self.root)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else 0)
        try:
            os.close(os.open(folder / version, flags, 0o644))
        except FileExistsError:
            return False
        _sync_dir(folder)
        return True

    def _place(self, staged: Path, built: Path, home: Path, version: str) -> bool:
        """Rename ``built`` to home/version; False when that version exists already."""
        if not home.exists():
            # A new namespace appears whole: marker and first version in one rename.
            fresh = staged / "namespace"
            fresh.mkdir()
            (fresh / NAMESPACE_MARK).write_text(home.name + "\n", encoding="utf-8")
            os.rename(built, fresh / version)
            try:
                os.rename(fresh, home)
            except OSError:  # created meanwhile by another upload: add the version to it
                os.rename(fresh / version, built)
                shutil.rmtree(fresh, ignore_errors=True)
            else:
                _sync_dir(self.root)
                return True
        _check_managed(home)
        try:
            os.rename(built, home / version)  # fails when the version exists (never empty)
        except OSError:
            return False
        _sync_dir(home)
        return True

    def set_loaded(self, entry: StoredVersion, loaded: bool) -> None:
        """Remember whether the version should be loaded when the server starts."""
        if entry.managed and entry.home.is_dir():
            _write_json(entry.home / STATE, {"loaded": loaded})

    def remove(self, entry: StoredVersion) -> None:
        """Delete a version (or a seed): renamed out of sight in one step, then its files removed.

        A version's name stays claimed, so it is never given out again. Until the rename the
        version is stored as it was (state included); after it, ``recover()`` finishes the job.
        """
        home = entry.home
        if (
            not home.resolve().is_relative_to(self.root.resolve())
            or home.resolve() == self.root.resolve()
        ):
            raise ValueError(f"{home} is not inside the model store {self.root}")
        if not (home.exists() or home.is_symlink()):
            return
        if home.is_symlink() or home.is_file():
            home.unlink()
            return
        trash = self.root / TRASH
        trash.mkdir(exist_ok=True)
        namespace = home.parent
        if entry.managed:
            self._claim(namespace.name, home.name, exclusive=False)
        last = entry.managed and not any(
            p != home and (p / MANIFEST).is_file() for p in namespace.iterdir()
        )
        target = trash / uuid.uuid4().hex
        os.rename(namespace if last else home, target)
        _sync_dir(self.root if last else namespace)
        shutil.rmtree(target, ignore_errors=True)
