"""A bundle's requirements.txt checked against the packages installed in this environment."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from loader.errors import BundleError, RequirementsError

logger = logging.getLogger(__name__)

# pip's rule: '#' starts a comment at the line start or after whitespace (so URL '#egg=' stays).
_COMMENT = re.compile(r"(^|\s)#.*$")
# Per-requirement pip options such as '--hash=sha256:...' after the requirement itself.
_TRAILING_OPTION = re.compile(r"\s--?[A-Za-z]")
_LOCAL_ARCHIVE = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2")


def _interchangeable(*names: str) -> dict[str, tuple[str, ...]]:
    return {name: tuple(other for other in names if other != name) for name in names}


_OPENCV_CONTRIB = ("opencv-contrib-python", "opencv-contrib-python-headless")
PROVIDERS: dict[str, tuple[str, ...]] = {
    **_interchangeable("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel"),
    **_interchangeable(
        "onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"
    ),
    **_interchangeable(*_OPENCV_CONTRIB),
    # The contrib builds hold every module of the plain ones, not the other way round.
    "opencv-python": ("opencv-python-headless", *_OPENCV_CONTRIB),
    "opencv-python-headless": ("opencv-python", *_OPENCV_CONTRIB),
    "pillow": ("pillow-simd",),
    **_interchangeable("psycopg2", "psycopg2-binary"),
    **_interchangeable("faiss-cpu", "faiss-gpu"),
}
"""Other distributions that install the same importable package as a requirement's: a
requirement on a key is met by any of them at a version its specifier accepts (a bundle asking
for ``tensorflow`` runs on ``tensorflow-cpu``; GPU builds stand in for CPU ones and back, since
the instance's device decides which is used)."""


@dataclass(frozen=True)
class RequirementProblem:
    """One requirement the environment does not satisfy (or a line that cannot be parsed).

    >>> RequirementProblem("six", "==1.16.0", "1.17.0", "six==1.16.0 is required ...").found
    '1.17.0'
    """

    name: str
    wanted: str
    found: str | None
    message: str
    source: str = "requirements.txt"


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of a requirements file: comments dropped, continuations joined.

    >>> list(logical_lines("a==1  # pin\\nb\\\\\\n>=2\\n"))
    [(1, 'a==1'), (2, 'b >=2')]
    """
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


def _is_unchecked(line: str) -> bool:
    """Pip options, URLs, VCS links and local paths: nothing to compare a version against."""
    if line.startswith("-"):
        logger.debug("requirements: skipping pip option line %r", line)
        return True
    if "://" in line or line.startswith((".", "/", "~")) or line.endswith(_LOCAL_ARCHIVE):
        logger.info("requirements: %r is a URL or path requirement; not checked", line)
        return True
    return False


def installed_providers(name: str) -> list[tuple[str, str]]:
    """(distribution, version) of ``name`` and of its ``PROVIDERS`` that are installed here.

    >>> installed_providers("tensorflow")  # doctest: +SKIP
    [('tensorflow-cpu', '2.16.2')]
    """
    found = []
    for dist in (name, *PROVIDERS.get(canonicalize_name(name), ())):
        try:
            found.append((dist, metadata.version(dist)))
        except metadata.PackageNotFoundError:
            continue
    return found


def _check_one(req: Requirement, source: str) -> RequirementProblem | None:
    wanted = str(req.specifier)
    installed = installed_providers(req.name)
    if not installed:
        if wanted:
            message = f"{req.name}{wanted} is required but {req.name} is not installed"
        else:
            message = f"{req.name} is required but is not installed"
        return RequirementProblem(req.name, wanted, None, message, source)
    if any(req.specifier.contains(version, prereleases=True) for _, version in installed):
        return None
    dist, found = installed[0]
    what = found if canonicalize_name(dist) == canonicalize_name(req.name) else f"{dist} {found}"
    message = f"{req.name}{wanted} is required but {what} is installed"
    return RequirementProblem(req.name, wanted, found, message, source)


def check_requirements(path: Path, ignore: Collection[str] = ()) -> list[RequirementProblem]:
    """Compare each requirement in ``path`` with the installed version; return the problems.

    Blank lines, comments, pip options, URL/VCS/path requirements, requirements whose markers
    do not apply here, and names in ``ignore`` are skipped. A requirement is met by its own
    distribution or by one of its ``PROVIDERS`` (``tensorflow`` by ``tensorflow-cpu``). A line
    that cannot be parsed is reported as a problem (with ``found`` None) rather than raised. A
    missing file has none.

    >>> check_requirements(Path("bundle/requirements.txt"), ignore=["register"])  # doctest: +SKIP
    [RequirementProblem(name='six', wanted='==1.16.0', found='1.17.0', message='six==...')]
    """
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path.name}: cannot read: {exc}") from None
    ignored = {canonicalize_name(name) for name in ignore}
    problems = []
    for number, line in logical_lines(text):
        if _is_unchecked(line):
            continue
        spec = _TRAILING_OPTION.split(line, maxsplit=1)[0].strip()
        try:
            req = Requirement(spec)
        except InvalidRequirement as exc:
            message = f"{path.name} line {number}: cannot parse {line!r}: {exc}".splitlines()[0]
            problems.append(RequirementProblem(line, "", None, message, path.name))
            continue
        if req.url is not None:
            logger.info("requirements: %r is a URL requirement; not checked", line)
            continue
        if canonicalize_name(req.name) in ignored:
            continue
        if req.marker is not None and not req.marker.evaluate():
            logger.debug("requirements: %r does not apply to this environment", line)
            continue
        if (problem := _check_one(req, path.name)) is not None:
            problems.append(problem)
    return problems


def enforce_requirements(problems: Sequence[RequirementProblem], *, strict: bool) -> list[str]:
    """Raise RequirementsError for any problem when ``strict``; else log and return warnings.

    >>> enforce_requirements([], strict=True)
    []
    """
    messages = [problem.message for problem in problems]
    if not messages:
        return []
    if strict:
        raise RequirementsError(
            "requirements not met: " + "; ".join(messages),
            metadata={"packages": ",".join(problem.name for problem in problems)},
        )
    for message in messages:
        logger.warning("requirements: %s", message)
    return messages


def describe_import_error(exc: ImportError, problems: Sequence[RequirementProblem]) -> str:
    """Explain a failed bundle import, pointing at the requirement that covers the module
    and the file that asks for it.

    >>> err = ModuleNotFoundError("No module named 'foo'", name="foo")
    >>> describe_import_error(err, [RequirementProblem("foo", ">=2", None, "...", "reqs.txt")])
    "bundle code imports 'foo', which is not installed (reqs.txt asks for foo>=2)"
    """
    if exc.name is None:
        return f"bundle code failed to import: {exc}"
    if isinstance(exc, ModuleNotFoundError):
        text = f"bundle code imports {exc.name!r}, which is not installed"
    else:
        text = f"bundle code failed to import from {exc.name!r}: {exc}"
    top = canonicalize_name(exc.name.split(".")[0])
    for problem in problems:
        if canonicalize_name(problem.name) == top:
            installed = "" if problem.found is None else f"; {problem.found} is installed"
            asks = f"{problem.source} asks for {problem.name}{problem.wanted}"
            return f"{text} ({asks}{installed})"
    return text
