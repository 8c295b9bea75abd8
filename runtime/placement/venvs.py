"""A virtual environment per requirements hash, in which a bundle's worker processes run.

Each venv sees the server's packages underneath it; the serving stack and the heavy frameworks
(KEEP) always come from the server and are never installed or replaced by a bundle. This module
owns the server probe, the venv key, the build lock and the build itself; what a requirements
file installs is ``venv_requirements``'s, how a venv is created and filled ``venv_installers``'.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from runtime.placement.venv_installers import (
    InstallerChoice,
    InstallJob,
    VenvError,
    create_with_uv,
    create_with_venv,
    install_with_pip,
    install_with_uv,
    pick_installer,
)
from runtime.placement.venv_requirements import KEEP, RequirementsPlan, plan_requirements

__all__ = ["KEEP", "BundleEnv", "RequirementsPlan", "ServerEnv", "VenvError", "ensure_venv"]

logger = logging.getLogger(__name__)

COMPLETE_MARKER = ".modelrt-complete"
"""Written into a venv after its install succeeded; a venv without it is never used."""

_SERVER_PTH = "_modelrt_server_site.pth"
_LOCK_POLL_S = 0.2
_LOCK_MARGIN_S = 30.0
_PROBE_TIMEOUT_S = 60.0

_PROBE = """
import json, platform, site, sys
from importlib import metadata
provided = {}
for name in json.loads(sys.argv[1]):
    try:
        provided[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
print(json.dumps({"version": platform.python_version(), "site_dirs": site.getsitepackages(),
                  "provided": provided}))
"""


@dataclass(frozen=True)
class ServerEnv:
    """The server's interpreter as a bundle venv inherits it (see ``probe_server``).

    >>> ServerEnv("3.11.7", ("/srv/venv/lib/python3.11/site-packages",), {"numpy": "2.4"}).version
    '3.11.7'
    """

    version: str
    site_dirs: tuple[str, ...]
    provided: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BundleEnv:
    """The interpreter that runs a bundle's workers: a venv's python, or the server's own.

    >>> BundleEnv(Path("/usr/bin/python3"), "system", ()).key
    'system'
    """

    python: Path
    key: str
    notes: tuple[str, ...]


def probe_server(base_python: str, keep: Collection[str] = KEEP) -> ServerEnv:
    """Run ``base_python`` to learn its version, site-packages and the kept packages it has.

    >>> probe_server(sys.executable).provided["numpy"]  # doctest: +SKIP
    '2.4.6'
    """
    names = json.dumps(sorted(canonicalize_name(name) for name in keep))
    try:
        done = subprocess.run(
            [base_python, "-c", _PROBE, names],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=True,
        )
        found = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise VenvError(f"cannot inspect the server's python {base_python}: {exc}") from None
    provided = {str(canonicalize_name(name)): str(v) for name, v in found["provided"].items()}
    return ServerEnv(str(found["version"]), tuple(found["site_dirs"]), provided)


def requirements_key(
    path: Path, keep: Collection[str] = KEEP, *, server: ServerEnv | None = None
) -> str:
    """Hash of the requirements that would be installed plus the server's Python version.

    Order, case, whitespace and comments do not change it. With ``server`` (as ``ensure_venv``
    passes) the server's site-packages and kept-package versions count too, so a venv is rebuilt
    when the frameworks under it change.

    >>> requirements_key(Path("bundle/requirements.txt"))  # doctest: +SKIP
    '3f2a9c0d41b7e865'
    """
    plan = plan_requirements(path, keep, provided={})
    return _key(plan, server)


def ensure_venv(
    requirements: Path,
    cache_dir: Path,
    *,
    keep: Collection[str] = KEEP,
    timeout_s: float = 900,
    base_python: str = sys.executable,
    installer: InstallerChoice = "auto",
) -> BundleEnv:
    """Return the interpreter for a bundle: a cached or new venv with its requirements installed.

    Nothing left to install after the keep filter means the server's own python. A venv is built
    once per key, under a lock shared by threads and processes, and only a complete one is used.
    ``installer``: uv when found, else pip (auto; a failed uv build is retried with pip), or one
    of them. Relative paths are taken from the current directory, once, here.

    >>> ensure_venv(Path("bundle/requirements.txt"), Path("/var/cache/venvs"))  # doctest: +SKIP
    BundleEnv(python=PosixPath('/var/cache/venvs/3f2a9c0d41b7e865-1c9e04aa/bin/python'), ...)
    """
    requirements, cache_dir = Path(os.path.abspath(requirements)), Path(os.path.abspath(cache_dir))
    server = probe_server(base_python, keep)
    plan = plan_requirements(requirements, keep, server.provided)
    if not plan.install:
        return BundleEnv(python=Path(base_python), key="system", notes=plan.notes)
    key = _key(plan, server)
    link = cache_dir / key
    if not _is_complete(link):
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _locked(cache_dir / f"{key}.lock", timeout_s + _LOCK_MARGIN_S):
            if not _is_complete(link):
                job = _Build(link, plan, server, keep, base_python, requirements, installer)
                _build(job, timeout_s)
    logger.debug("venv %s: using %s", key, link.resolve())
    return BundleEnv(python=link.resolve() / "bin" / "python", key=key, notes=plan.notes)


def _key(plan: RequirementsPlan, server: ServerEnv | None) -> str:
    payload: dict[str, object] = {"requirements": sorted(plan.install)}
    if server is None:
        payload["python"] = platform.python_version()
    else:
        payload["python"] = server.version
        payload["site_dirs"] = list(server.site_dirs)
        payload["provided"] = dict(sorted(server.provided.items()))
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()[:16]


def _is_complete(venv: Path) -> bool:
    return (venv / COMPLETE_MARKER).is_file()


@contextmanager
def _locked(lock_path: Path, wait_s: float) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_path``; each call opens its own, so threads exclude too."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise VenvError(
                        f"timed out after {wait_s:.0f}s waiting for another build ({lock_path})"
                    ) from None
                time.sleep(_LOCK_POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@dataclass(frozen=True)
class _Build:
    link: Path
    plan: RequirementsPlan
    server: ServerEnv
    keep: Collection[str]
    base_python: str
    requirements: Path
    installer: InstallerChoice


def _build(build: _Build, timeout_s: float) -> None:
    """Build the venv in a fresh sibling folder; point the link at it only once it is complete.

    The folder never moves (a moved venv has stale script shebangs); the symlink swap is the
    atomic step. Leftovers of crashed builds of this key are removed first (we hold the lock).
    """
    link = build.link
    _remove_leftovers(link)
    venv = link.with_name(f"{link.name}-{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    kept = {canonicalize_name(name) for name in build.keep}
    job = InstallJob(
        venv=venv,
        base_python=build.base_python,
        requirements=venv / "requirements.txt",
        cwd=build.requirements.parent,
        pinned={name: v for name, v in build.server.provided.items() if name in kept},
        refused=tuple(sorted(kept - set(build.server.provided))),
        deadline=started + timeout_s,
    )
    installs = " ".join(build.plan.install)
    logger.info("venv %s: building for %s: %s", link.name, build.requirements, installs)
    try:
        used = _install(job, build)
        (venv / COMPLETE_MARKER).write_text(f"{time.time():.0f}\n", encoding="utf-8")
        temporary_link = link.with_name(f".{venv.name}.link")
        os.symlink(venv.name, temporary_link)
        os.replace(temporary_link, link)
    except BaseException as exc:
        shutil.rmtree(venv, ignore_errors=True)
        if isinstance(exc, VenvError):
            exc.metadata.update(key=link.name, requirements=str(build.requirements))
        raise
    logger.info("venv %s: built with %s in %.1fs", link.name, used, time.monotonic() - started)


def _install(job: InstallJob, build: _Build) -> str:
    """Create and fill the venv with uv or pip (see ``ensure_venv``); the one used."""
    uv = pick_installer(build.installer)
    if uv is not None:
        try:
            create_with_uv(uv, job)
            _prepare(job, build)
            install_with_uv(uv, job)
            return "uv"
        except VenvError as exc:
            if build.installer == "uv":
                raise
            logger.warning("venv %s: uv failed, trying pip: %s", build.link.name, exc)
            shutil.rmtree(job.venv, ignore_errors=True)
    create_with_venv(job)
    _prepare(job, build)
    install_with_pip(job)
    return "pip"


def _prepare(job: InstallJob, build: _Build) -> None:
    _write_server_pth(job.venv, build.server.site_dirs)
    job.requirements.write_text("\n".join(build.plan.install) + "\n", encoding="utf-8")


def _remove_leftovers(link: Path) -> None:
    if link.is_symlink() or link.exists():
        logger.warning("venv %s: removing an incomplete venv", link.name)
        target = link.resolve()
        if link.is_symlink():
            link.unlink()
        else:
            shutil.rmtree(link, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
    for leftover in link.parent.glob(f"{link.name}-*"):
        logger.warning("venv %s: removing the leftover %s", link.name, leftover.name)
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in link.parent.glob(f".{link.name}-*.link"):
        leftover.unlink(missing_ok=True)


def _write_server_pth(venv: Path, site_dirs: tuple[str, ...]) -> None:
    """Let the venv import the server's packages, after its own (so the bundle's pins win).

    ``--system-site-packages`` from a python that is itself a venv exposes only the base
    interpreter's site-packages, not the server venv's. ``addsitedir`` (rather than a bare path
    line) also runs the server's own .pth files, which is how editable installs are found.
    """
    site_packages = sorted(venv.glob("lib/python*/site-packages"))
    if not site_packages:
        raise VenvError(f"venv {venv} has no site-packages folder")
    lines = [f"import site; site.addsitedir({directory!r})" for directory in site_dirs]
    (site_packages[0] / _SERVER_PTH).write_text("\n".join(lines) + "\n", encoding="utf-8")
