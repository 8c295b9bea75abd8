"""What of a bundle's requirements file its venv installs: the keep filter and the plan.

A requirements file is read line by line (``-r`` includes inlined, relative paths made absolute,
names canonicalised, lines whose markers do not apply here dropped) into the lines a venv is
built from and hashed by. Packages in KEEP (the serving stack and the heavy frameworks) always
come from the server; a line naming one is left out with a note saying what the server has.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from loader.requirements import PROVIDERS, installed_providers, logical_lines
from runtime.placement.venv_installers import VenvError

__all__ = ["KEEP", "RequirementsPlan", "plan_requirements"]

logger = logging.getLogger(__name__)

# Packages a bundle never installs or replaces. numpy is kept because torch, onnxruntime and
# tensorflow are built against the server's numpy; a bundle's numpy shadowing it breaks them
# only at inference time. "register" and "logger" are a foreign bundle format's platform
# modules, never the unrelated PyPI packages of the same names.
_FRAMEWORKS = "torch tensorflow tensorflow-cpu tensorflow-gpu keras jax jaxlib numpy"
_RUNTIMES = "onnxruntime onnxruntime-gpu"
_SERVING = "grpcio grpcio-tools grpcio-status grpcio-health-checking grpcio-reflection protobuf"
_SERVING_MORE = "googleapis-common-protos pydantic pydantic-core modelrt"
_PLATFORM_MODULES = "register logger"
KEEP: frozenset[str] = frozenset(
    f"{_FRAMEWORKS} {_RUNTIMES} {_SERVING} {_SERVING_MORE} {_PLATFORM_MODULES}".split()
)

_TRAILING_OPTION = re.compile(r"\s--?[A-Za-z]")
_OPTION = re.compile(r"(--?[A-Za-z][\w-]*)(?:=|\s+|$)(.*)")
_LOCAL_ARCHIVE = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2")
_INCLUDE_OPTIONS = ("-r", "--requirement")
_PATH_OPTIONS = ("-c", "--constraint", "-e", "--editable", "-f", "--find-links")


@dataclass(frozen=True)
class RequirementsPlan:
    """What of a requirements file would be installed, and notes on what was left out.

    >>> RequirementsPlan(("six==1.16.0",), ("torch==1.10.2 not installed: ...",)).install
    ('six==1.16.0',)
    """

    install: tuple[str, ...]
    notes: tuple[str, ...]


def plan_requirements(
    path: Path, keep: Collection[str] = KEEP, provided: Mapping[str, str] | None = None
) -> RequirementsPlan:
    """Normalise ``path``'s requirements and drop those naming a kept package, with a note each.

    Comments and blank lines go, ``-r`` files are inlined, relative paths become absolute,
    requirement names are lower-cased and lines whose markers do not apply here are dropped.
    ``provided`` maps kept names to the server's versions (default: this interpreter's).

    >>> plan_requirements(Path("reqs.txt"), provided={"torch": "2.13.0"}).notes  # doctest: +SKIP
    ('torch==1.10.2 not installed: the server provides torch 2.13.0',)
    """
    kept = {canonicalize_name(name) for name in keep}
    install: list[str] = []
    notes: list[str] = []
    if not path.is_file():
        return RequirementsPlan((), ())
    for line in _requirement_lines(path, set()):
        name, normalised = _normalise(line, path)
        if normalised is None:
            continue
        if name is not None and name in kept:
            notes.append(_skip_note(normalised, name, provided))
        elif normalised not in install:
            install.append(normalised)
    return RequirementsPlan(tuple(install), tuple(notes))


def _requirement_lines(path: Path, seen: set[Path]) -> Iterator[str]:
    """Logical lines of ``path`` with ``-r`` includes inlined; relative paths made absolute."""
    resolved = path.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VenvError(f"{path.name}: cannot read: {exc}") from None
    for _, line in logical_lines(text):
        option, value = _split_option(line)
        if option in _INCLUDE_OPTIONS and "://" not in value:
            yield from _requirement_lines(Path(_absolute(value, path)), seen)
        elif option in _PATH_OPTIONS:
            yield f"{option} {_absolute(value, path)}"
        elif option is None and _is_local_path(line):
            yield _absolute(line, path)
        else:
            yield " ".join(line.split())


def _split_option(line: str) -> tuple[str | None, str]:
    """('--find-links', './wheels') from '--find-links=./wheels' or '-f ./wheels'."""
    match = _OPTION.match(line)
    if match is None:
        return None, line
    return match.group(1), match.group(2).strip()


def _is_local_path(line: str) -> bool:
    return "://" not in line and (line.startswith((".", "/", "~")) or line.endswith(_LOCAL_ARCHIVE))


def _absolute(value: str, declared_in: Path) -> str:
    """A path relative to the file declaring it made absolute; extras ('.[dev]') are kept."""
    if "://" in value or not value:
        return value
    path, bracket, extras = value.partition("[")
    return f"{(declared_in.parent / Path(path).expanduser()).resolve()}{bracket}{extras}"


def _normalise(line: str, path: Path) -> tuple[str | None, str | None]:
    """(canonical name or None, the line as it is hashed and installed; None if not here)."""
    if line.startswith("-") or _is_local_path(line):
        return None, line
    found = _TRAILING_OPTION.search(line)
    spec = line[: found.start()].strip() if found else line
    options = line[found.start() :].strip() if found else ""
    try:
        req = Requirement(spec)
    except InvalidRequirement as exc:
        if "://" in line:  # a bare URL: pip knows what to do with it
            return None, line
        message = f"{path.name}: cannot parse {line!r}: {exc}".splitlines()[0]
        raise VenvError(message) from None
    if req.marker is not None and not req.marker.evaluate():
        logger.debug("requirements: %r does not apply to this environment", line)
        return None, None
    req.name = canonicalize_name(req.name)
    return req.name, f"{req} {options}".strip()


def _skip_note(line: str, name: str, provided: Mapping[str, str] | None) -> str:
    if provided is None:
        installed = dict(installed_providers(name))
    else:
        candidates = (name, *PROVIDERS.get(name, ()))
        installed = {dist: provided[dist] for dist in candidates if dist in provided}
    if not installed:
        return f"{line} not installed: {name} is left to the server, which does not provide it"
    dist, version = next(iter(installed.items()))
    return f"{line} not installed: the server provides {dist} {version}"
