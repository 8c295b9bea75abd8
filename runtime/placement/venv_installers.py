"""The two ways a bundle venv is created and filled: uv when it can be found, else venv + pip.

Both keep the server's frameworks: pip sees them as installed (through the venv's .pth) and is
held to their versions by constraints; uv does not look past the venv's own site-packages, so
the kept packages the server provides are excluded from its resolution and the bundle's
packages are then checked against the server's versions.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from registry.errors import ErrorCode, ModelrtError

logger = logging.getLogger(__name__)

InstallerChoice = Literal["auto", "uv", "pip"]

_TAIL_LINES = 15


class VenvError(ModelrtError):
    """A bundle's requirements could not be installed; the message carries the installer's reason.

    >>> VenvError("pip failed: ERROR: No matching distribution found for x==9").reason
    'REQUIREMENTS_INSTALL_FAILED'
    """

    code = ErrorCode.FAILED_PRECONDITION
    reason = "REQUIREMENTS_INSTALL_FAILED"


@dataclass(frozen=True)
class InstallJob:
    """One venv to build: where, from which python, with which files, within which deadline.

    ``pinned`` are the kept packages the server provides (name -> version); ``refused`` the
    kept names it lacks, which no dependency may install.

    >>> InstallJob(Path("v"), "python3", Path("r.txt"), Path("."), {}, (), 0.0).venv_python
    PosixPath('v/bin/python')
    """

    venv: Path
    base_python: str
    requirements: Path
    cwd: Path
    pinned: Mapping[str, str]
    refused: tuple[str, ...]
    deadline: float

    @property
    def venv_python(self) -> Path:
        return self.venv / "bin" / "python"


def find_uv() -> str | None:
    """The uv executable: on PATH, else the one the ``uv`` Python package ships; None if neither.

    >>> find_uv()  # doctest: +SKIP
    '/srv/venv/bin/uv'
    """
    found = shutil.which("uv")
    if found is not None:
        return found
    try:
        from uv import find_uv_bin  # the PyPI package that ships the binary
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return None


def pick_installer(choice: InstallerChoice) -> str | None:
    """uv's path for ``auto`` (when found) or ``uv``; None means pip.

    >>> pick_installer("pip") is None
    True
    """
    if choice == "pip":
        return None
    uv = find_uv()
    if uv is None and choice == "uv":
        raise VenvError("venv_installer is 'uv' but no uv was found (on PATH or the uv package)")
    return uv


def create_with_venv(job: InstallJob) -> None:
    """``python -m venv --system-site-packages``: the standard library's way."""
    create = [job.base_python, "-m", "venv", "--system-site-packages", str(job.venv)]
    run_step(create, job.deadline, None, f"creating the venv {job.venv}")


def install_with_pip(job: InstallJob) -> None:
    """pip in the venv, the kept packages pinned by constraints (or made uninstallable)."""
    constraints = job.venv / "constraints.txt"
    lines = [f"{name}=={version}" for name, version in sorted(job.pinned.items())]
    constraints.write_text(_constraint_text(lines, job.refused), encoding="utf-8")
    pip = [str(job.venv_python), "-m", "pip", "install", "--no-input"]
    pip += ["--disable-pip-version-check", "-r", str(job.requirements), "-c", str(constraints)]
    run_step(pip, job.deadline, job.cwd, f"pip install -r {job.requirements}")


def create_with_uv(uv: str, job: InstallJob) -> None:
    """``uv venv --system-site-packages`` for the server's python."""
    create = [uv, "venv", "--quiet", "--system-site-packages", "--python", job.base_python]
    run_step([*create, str(job.venv)], job.deadline, None, f"uv venv {job.venv}")


def install_with_uv(uv: str, job: InstallJob) -> None:
    """uv into the venv, the provided kept packages excluded, then checked against the server's."""
    excludes = job.venv / "excludes.txt"
    excludes.write_text("".join(f"{name}\n" for name in sorted(job.pinned)), encoding="utf-8")
    constraints = job.venv / "constraints.txt"
    # uv parses '===' as a version; '<0' is as unsatisfiable (pip's wording says more, though).
    constraints.write_text("".join(f"{name}<0\n" for name in job.refused), encoding="utf-8")
    install = [uv, "pip", "install", "--python", str(job.venv_python), "-r", str(job.requirements)]
    install += ["-c", str(constraints), "--excludes", str(excludes)]
    run_step(install, job.deadline, job.cwd, f"uv pip install -r {job.requirements}")
    conflicts = kept_conflicts(job.venv, job.pinned)
    if conflicts:
        raise VenvError("installed packages do not fit the server's: " + "; ".join(conflicts))


def kept_conflicts(venv: Path, pinned: Mapping[str, str]) -> list[str]:
    """What the venv's own packages need of the kept packages that the server's versions lack.

    >>> kept_conflicts(Path("/nonexistent"), {"numpy": "2.4.6"})
    []
    """
    folders = [str(path) for path in sorted(venv.glob("lib/python*/site-packages"))]
    conflicts = []
    for dist in metadata.distributions(path=folders):
        name = canonicalize_name(dist.metadata["Name"] or "")
        if name in pinned:
            conflicts.append(f"{name} was installed into the venv; the server provides it")
        for line in dist.requires or ():
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            wanted = canonicalize_name(req.name)
            if wanted not in pinned or (req.marker and not req.marker.evaluate({"extra": ""})):
                continue
            if not req.specifier.contains(pinned[wanted], prereleases=True):
                conflicts.append(
                    f"{name} {dist.version} needs {wanted}{req.specifier} but the server "
                    f"provides {wanted} {pinned[wanted]}"
                )
    return conflicts


def _constraint_text(lines: list[str], refused: tuple[str, ...]) -> str:
    # A kept package the server lacks gets a version no release has: no dependency installs it
    # (a transitive torch is gigabytes of CUDA).
    return "\n".join([*lines, *(f"{name}===not-provided-by-the-server" for name in refused)]) + "\n"


def run_step(argv: list[str], deadline: float, cwd: Path | None, what: str) -> None:
    """Run a build step in its own process group, killed as a whole when the deadline passes."""
    timeout = max(deadline - time.monotonic(), 1.0)
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise VenvError(f"{what}: cannot start {argv[0]}: {exc.strerror or exc}") from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        stdout, stderr = process.communicate()
        raise VenvError(
            f"{what} timed out after {timeout:.0f}s:\n{_tail(stdout, stderr)}"
        ) from None
    except BaseException:
        _kill_group(process.pid)
        process.wait()
        raise
    if process.returncode != 0:
        tail = _tail(stdout, stderr)
        raise VenvError(f"{what} failed (exit code {process.returncode}):\n{tail}")


def _kill_group(pid: int) -> None:
    """Kill the step and whatever it started (installers run build backends in subprocesses)."""
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _tail(stdout: str, stderr: str) -> str:
    """The installer's reason: the last meaningful lines, from stderr when it has any."""
    for text in (stderr, stdout):
        lines = [line.rstrip() for line in text.splitlines()]
        meaningful = [line for line in lines if line.strip() and not line.startswith("[notice]")]
        if meaningful:
            return "\n".join(meaningful[-_TAIL_LINES:])
    return "(no output)"
