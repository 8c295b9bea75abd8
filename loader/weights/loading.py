"""The "weights" bundle format (config + weights, no model.py): its config check and its load.

The config is checked without running code: the weights must be one file the runtime can read
(named by ``weights:`` or the only one in the bundle), of the declared framework, and an
``architecture`` must name a module the bundle ships.
"""

from __future__ import annotations

from loader.config import BundleConfig, parse_config, read_yaml
from loader.errors import BundleError
from loader.frameworks.kinds import find_weights, framework_of
from loader.importer import BundlePackage
from loader.layout import Layout
from loader.prepared import PreparedBundle
from loader.requirements import RequirementProblem, describe_import_error
from loader.weights.runner import WeightsModel, runner_for

_TENSORFLOW = frozenset({"tensorflow", "keras"})


def weights_config(layout: Layout) -> BundleConfig:
    """Parse the config and resolve its weights; BundleError says what is missing or wrong."""
    assert layout.config_file is not None
    source = layout.config_file.name
    config = parse_config(read_yaml(layout.config_file), source)
    root = layout.code_root
    try:
        weights = find_weights(root, config.weights)
    except BundleError as exc:
        raise BundleError(
            f"{source}: a bundle without model.py serves its weights: {exc.message}",
            reason=exc.reason,
        ) from None
    found = framework_of(weights)
    declared = config.framework
    if declared not in ("other", found) and not {declared, found} <= _TENSORFLOW:
        raise BundleError(f"{source}: framework is {declared!r} but {weights.name} is {found}")
    framework = found if declared == "other" else declared
    if config.architecture is not None:
        if framework != "pytorch":
            raise BundleError(f"{source}: architecture applies to PyTorch state dicts only")
        module = config.architecture.partition(":")[0].replace(".", "/")
        if not ((root / f"{module}.py").is_file() or (root / module / "__init__.py").is_file()):
            raise BundleError(
                f"{source}: architecture {config.architecture!r}: the bundle has no {module}.py"
            )
    relative = weights.resolve().relative_to(root.resolve()).as_posix()
    return config.model_copy(update={"weights": relative, "framework": framework})


def weights_load(
    prepared: PreparedBundle, package: BundlePackage, problems: list[RequirementProblem]
) -> tuple[type[WeightsModel], None]:
    """WeightsModel, bound to the config's architecture class (imported from the bundle)."""
    if prepared.config.architecture is None:
        return WeightsModel, None
    module_name, _, class_name = prepared.config.architecture.partition(":")
    try:
        module = package.import_module(module_name)
    except ImportError as exc:
        raise BundleError(describe_import_error(exc, problems)) from exc
    except Exception as exc:
        raise BundleError(f"importing {module_name} failed: {type(exc).__name__}: {exc}") from exc
    architecture = getattr(module, class_name, None)
    if not isinstance(architecture, type):
        raise BundleError(f"architecture {prepared.config.architecture!r}: no such class")
    return runner_for(architecture), None
