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

from loader.clarifai import clarifai_config, clarifai_layout, clarifai_load
from loader.code import import_code
from loader.config import BundleConfig, parse_config, read_yaml
from loader.errors import BundleError
from loader.gesund import (
    PLATFORM_REQUIREMENTS,
    REQUIREMENT_FILES,
    GesundPackage,
    gesund_config,
    gesund_layout,
    gesund_load,
)
from loader.importer import BundlePackage
from loader.layout import Layout, native_layout, weights_only
from loader.prepared import PreparedBundle
from loader.requirements import RequirementProblem
from loader.weights import weights_config, weights_load
from registry.registry import Registry
from registry.runner import ModelRunner

logger = logging.getLogger(__name__)

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
    #: Mounts the bundle's code as a package (a format may provide platform modules to it).
    mount: Callable[[Path], BundlePackage] = BundlePackage

    def requirements(self, root: Path) -> Path | None:
        """The bundle's requirements file, if it has one."""
        for name in self.requirement_files:
            if (root / name).is_file():
                return root / name
        return None


def _native_config(layout: Layout) -> BundleConfig:
    assert layout.config_file is not None
    if weights_only(layout.code_root):  # no model.py: the built-in WeightsModel serves it
        return weights_config(layout)
    return parse_config(read_yaml(layout.config_file), layout.config_file.name)


def _native_load(
    prepared: PreparedBundle, package: BundlePackage, problems: list[RequirementProblem]
) -> Loaded:
    if weights_only(prepared.root):
        return weights_load(prepared, package, problems)
    import_code(package, "model", problems)
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
#: config.yaml with a ``model: {id, model_type_id}`` mapping and 1/model.py; before NATIVE, which
#: also accepts config.yaml with model.py (loader/clarifai).
CLARIFAI = BundleFormat("clarifai", clarifai_layout, clarifai_config, clarifai_load)
#: model.py registered with @modelservice.register_module, reqs.txt, no modelrt config; after
#: NATIVE (a modelrt config makes a bundle native). Platform modules are mounted per bundle.
GESUND = BundleFormat(
    "gesund",
    gesund_layout,
    gesund_config,
    gesund_load,
    requirement_files=REQUIREMENT_FILES,
    provided=PLATFORM_REQUIREMENTS,
    mount=GesundPackage,
)

# Most specific first: each detector returns None when a folder is not of its kind.
FORMATS: tuple[BundleFormat, ...] = (CLARIFAI, NATIVE, GESUND)


def format_named(name: str) -> BundleFormat:
    """The format called ``name``.

    >>> format_named("native").requirement_files
    ('requirements.txt',)
    """
    for candidate in FORMATS:
        if candidate.name == name:
            return candidate
    raise BundleError(f"unknown bundle format {name!r}")
