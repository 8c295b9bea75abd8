"""Loads a Clarifai-style folder: checks checkpoints, imports 1/model.py, wraps its class."""

from __future__ import annotations

import importlib.util
import inspect
import logging
from pathlib import Path
from types import ModuleType

from loader.clarifai.adapter import ClarifaiRunner, check_constructible
from loader.clarifai.checkpoints import check_checkpoints
from loader.clarifai.config import ClarifaiConfig, bundle_config, read_clarifai_config
from loader.clarifai.layout import model_module
from loader.clarifai.proto_style import proto_hooks, proto_runner
from loader.clarifai.pythonic import method_runner
from loader.clarifai.schema import output_schema
from loader.clarifai.signatures import method_specs
from loader.clarifai.types import platform_name
from loader.code import import_code
from loader.config import BundleConfig
from loader.errors import BundleError
from loader.frameworks.kinds import framework_of, weights_candidates
from loader.importer import BundlePackage
from loader.layout import Layout
from loader.prepared import PreparedBundle
from loader.requirements import RequirementProblem
from registry.runner import ModelRunner

logger = logging.getLogger(__name__)

#: The package that stands in for the ``clarifai`` SDK when it is not installed.
SDK_STAND_IN = "loader.clarifai.sdk"
_BASES = ("ModelClass", "ModelRunner")


def clarifai_config(layout: Layout) -> BundleConfig:
    """The BundleConfig of a Clarifai-style folder (config.yaml validated; no code run)."""
    config = read_clarifai_config(layout.code_root)
    model_module(layout.code_root)  # a folder without model code fails here, not at load
    return with_framework(bundle_config(config), layout.code_root)


def with_framework(config: BundleConfig, root: Path) -> BundleConfig:
    """config.yaml names no framework: take it from the weights the folder ships, when they
    all belong to one (model code loads them itself; this only labels the model card)."""
    frameworks = {framework_of(path) for path in weights_candidates(root)}
    if len(frameworks) != 1:
        return config
    return config.model_copy(update={"framework": frameworks.pop()})


def find_model_class(module: ModuleType) -> type:
    """The one class in ``module`` built on the platform's ModelClass or ModelRunner."""
    candidates = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and value.__module__ == module.__name__
        and platform_name(value) in _BASES
    ]
    leaves = [c for c in candidates if not any(o is not c and issubclass(o, c) for o in candidates)]
    if len(leaves) == 1:
        return leaves[0]
    path = module.__name__.partition(".")[2].replace(".", "/") + ".py"
    if not leaves:
        raise BundleError(
            f"{path} defines no model class: subclass ModelClass (from"
            " clarifai.runners.models.model_class) or ModelRunner"
        )
    names = ", ".join(sorted(c.__name__ for c in leaves))
    raise BundleError(f"{path} defines several model classes ({names}); keep exactly one")


def runner_for(model_class: type, config: ClarifaiConfig) -> type[ClarifaiRunner]:
    """The adapter for either API style: marked methods, else proto-style hooks."""
    check_constructible(model_class)
    methods = method_specs(model_class)
    if methods:
        return method_runner(model_class, methods)
    hooks = proto_hooks(model_class)
    if hooks:
        return proto_runner(model_class, hooks, config.concept_names(), config.platform_ids())
    raise BundleError(
        f"model class {model_class.__name__} has no @ModelClass.method methods and no"
        " proto-style methods (predict/generate/stream(request), or PostModelOutputs/"
        "GenerateModelOutputs/StreamModelOutputs(request))"
    )


def clarifai_load(
    prepared: PreparedBundle, package: BundlePackage, problems: list[RequirementProblem]
) -> tuple[type[ModelRunner], type | None]:
    """Import the folder's model code and return the adapter class that serves it."""
    config = read_clarifai_config(prepared.root)
    check_checkpoints(prepared.root, config.checkpoints)
    if importlib.util.find_spec("clarifai") is None:
        package.provide({"clarifai": SDK_STAND_IN})
    module_name = model_module(prepared.root)
    folder = module_name.rpartition(".")[0]
    if folder:
        # Clarifai model code reaches the modules next to 1/model.py by putting 1/ on sys.path;
        # ``import helpers`` then gets this bundle's 1/helpers.py, whoever else has one.
        package.add_module_folder(folder)
    module = import_code(package, module_name, problems)
    model_class = find_model_class(module)
    runner = runner_for(model_class, config)
    methods = method_specs(model_class)  # empty for the proto style: its answers vary
    return runner, output_schema(model_class, methods) if methods else None
