"""The bundle pipeline: prepare (unpack, layout, config), then import (requirements, code)."""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from loader.errors import BundleError
from loader.formats import FORMATS, format_named
from loader.importer import BundlePackage
from loader.layout import detect_layout
from loader.prepared import PreparedBundle
from loader.requirements import check_requirements, enforce_requirements
from loader.unpack import UnpackLimits, check_folder, safe_unpack
from registry.runner import ModelRunner, capabilities

logger = logging.getLogger(__name__)

#: PreparedBundle lives in loader.prepared (the formats read it); it is part of this API too.
__all__ = ["BundleSpec", "PreparedBundle", "import_bundle", "prepare_bundle", "requirements_of"]


@dataclass
class BundleSpec:
    """An imported bundle: the model class and output schema its namespace registers."""

    prepared: PreparedBundle
    runner_cls: type[ModelRunner]
    schema_cls: type | None
    package: BundlePackage
    warnings: list[str] = field(default_factory=list)

    @property
    def capabilities(self) -> tuple[str, ...]:
        return capabilities(self.runner_cls)


def _unpack_dir(source: Path, work_dir: Path) -> Path:
    stat = source.stat()
    key = f"{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
    return work_dir / f"{source.stem}-{hashlib.sha256(key).hexdigest()[:12]}"


def prepare_bundle(source: Path, work_dir: Path, limits: UnpackLimits) -> PreparedBundle:
    """Unpack a zip (or check a folder), detect the layout and validate the config.

    >>> prepare_bundle(Path("examples/sentiment"), Path("/tmp/w"), UnpackLimits()).name
    ... # doctest: +SKIP
    'sentiment'
    """
    unpacked = False
    if source.is_dir():
        check_folder(source, limits)
        folder = source
    elif source.is_file() and source.suffix == ".zip":
        folder = _unpack_dir(source, work_dir)
        if not folder.exists():
            work_dir.mkdir(parents=True, exist_ok=True)
            safe_unpack(source, folder, limits)
        unpacked = True
    else:
        raise BundleError(f"{source.name}: a bundle is a folder or a .zip file")
    try:
        layout = detect_layout(folder, [kind.detect for kind in FORMATS])
        config = format_named(layout.format).read_config(layout)
    except BaseException:
        if unpacked:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return PreparedBundle(source, layout.code_root, layout.format, config, unpacked)


def requirements_of(prepared: PreparedBundle) -> Path | None:
    """The bundle's requirements file (its name depends on the format), if any."""
    return format_named(prepared.format).requirements(prepared.root)


def import_bundle(prepared: PreparedBundle, *, strict_requirements: bool) -> BundleSpec:
    """Check requirements, import the bundle's code and find the class for its namespace."""
    kind = format_named(prepared.format)
    requirements = kind.requirements(prepared.root)
    problems = check_requirements(requirements, ignore=kind.provided) if requirements else []
    warnings = enforce_requirements(problems, strict=strict_requirements)
    package = kind.mount(prepared.root)
    try:
        runner, schema = kind.load(prepared, package, problems)
    except BaseException:
        package.unmount()
        raise
    return BundleSpec(prepared, runner, schema, package, warnings)
