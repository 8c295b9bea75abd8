"""The bundle formats: how each is recognised, configured and imported; one table entry each.

A format never runs bundle code to be recognised or configured (that happens in the server);
``load`` imports the code (in a worker) and returns the ModelRunner class that serves it, an
adapter class for formats whose models are written against another platform's API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loader.config import BundleConfig, parse_config, read_yaml
from loader.errors import BundleError
from loader.importer import BundlePackage
from loader.layout import Layout, native_layout
from loader.requirements import RequirementProblem, describe_import_error
from registry.errors import ModelrtError
from registry.registry import Registry
from registry.runner import ModelRunner

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from loader.bundle import PreparedBundle

#: The model class and output schema class (or None) a bundle serves.
Loaded = tuple[type[ModelRunner], type | None]


@dataclass(frozen=True)
class BundleFormat:
    """One bundle format: detect (no code run), read its config (no code run), load its code."""

    name: str
    detect: Callable[[Path], Layout | None]
    read_config: Callable[[Layout], BundleConfig]
    load: Callable[[PreparedBundle, BundlePackage, list[RequirementProblem]], Loaded]
    requirement_files: tuple[str, ...] = ("requirements.txt",)
    #: Requirement names that are the platform's own modules, never checked or installed.
    provided: frozenset[str] = frozenset()

    def requirements(self, root: Path) -> Path | None:
        """The bundle's requirements file, if it has one."""
        for name in self.requirement_files:
            if (root / name).is_file():
                return root / name
        return None


def _native_config(layout: Layout) -> BundleConfig:
    assert layout.config_file is not None
    return parse_config(read_yaml(layout.config_file), layout.config_file.name)


def import_model_module(package: BundlePackage, problems: list[RequirementProblem]) -> None:
    """Import the bundle's ``model`` module; failures become a BundleError naming the cause."""
    try:
        package.import_module("model")
    except ModelrtError:
        raise
    except ImportError as exc:
        raise BundleError(describe_import_error(exc, problems)) from exc
    except Exception as exc:
        logger.exception("importing %s failed", package.root)
        raise BundleError(f"importing model.py failed: {type(exc).__name__}: {exc}") from exc


def _native_load(
    prepared: PreparedBundle, package: BundlePackage, problems: list[RequirementProblem]
) -> Loaded:
    import_model_module(package, problems)
    registry = Registry()
    for module in package.modules():
        registry.collect(module)
    runner = registry.runners.get(prepared.name)
    if runner is None:
        found = ", ".join(registry.namespaces()) or "none"
        raise BundleError(
            f"the config names model {prepared.name!r} but model.py registers no model under"
            f" that namespace (registered: {found}); use @register({prepared.name!r})"
        )
    return runner, registry.schemas.get(prepared.name)


NATIVE = BundleFormat("native", native_layout, _native_config, _native_load)

# Most specific first: each detector returns None when a folder is not of its kind.
FORMATS: tuple[BundleFormat, ...] = (NATIVE,)


def format_named(name: str) -> BundleFormat:
    """The format called ``name``.

    >>> format_named("native").requirement_files
    ('requirements.txt',)
    """
    for candidate in FORMATS:
        if candidate.name == name:
            return candidate
    raise BundleError(f"unknown bundle format {name!r}")
