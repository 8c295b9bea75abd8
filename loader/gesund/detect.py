"""Recognises a Gesund-style bundle and builds its config, reading its code without running it.

The namespace comes from the ``@modelservice.register_module(name=...)`` decorator found by a
static scan of the bundle's ``.py`` files. Optional serving settings (batching, instances, ...)
live in ``modelrt-gesund.yaml``: the keys of modelrt.yaml, with ``name`` taken from the code.
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loader.config import BundleConfig, InstanceGroup, ModelType, parse_config, read_yaml
from loader.errors import BundleError
from loader.frameworks import find_weights, framework_of
from loader.layout import NATIVE_CONFIG_NAMES, Layout
from registry.decorators import check_namespace
from registry.errors import DuplicateNamespaceError

logger = logging.getLogger(__name__)

FORMAT = "gesund"
SETTINGS_FILE = "modelrt-gesund.yaml"
_MARKERS = ("register.register", "modelservice")
_STAGE_FILES = ("preprocess.py", "postprocess.py")
#: Response field names that give the model type away (first match wins).
_TYPE_HINTS: tuple[tuple[str, ModelType], ...] = (
    ("prediction_class", "classification"),
    ("masks", "segmentation"),
    ("mask", "segmentation"),
    ("boxes", "object_detection"),
    ("bboxes", "object_detection"),
)


@dataclass(frozen=True)
class Registration:
    """One ``@<registry>.register_module(...)`` decorator found in the bundle's code."""

    registry: str  # "modelservice" or "outschema"
    namespace: object  # the literal name (a str when the bundle is well formed)
    default: object
    where: str  # "model.py:12 ISIC_TF"


def gesund_layout(root: Path) -> Layout | None:
    """A Gesund-style bundle: model.py, no modelrt config, and the platform's marks (an import of
    ``register.register``/``modelservice``, or preprocess.py/postprocess.py)."""
    if not (root / "model.py").is_file():
        return None
    if any((root / name).is_file() for name in NATIVE_CONFIG_NAMES):
        return None
    marked = any((root / name).is_file() for name in _STAGE_FILES) or any(
        marker in _read(path) for path in _sources(root) for marker in _MARKERS
    )
    if not marked:
        return None
    settings = root / SETTINGS_FILE
    return Layout(FORMAT, root, settings if settings.is_file() else None)


def _sources(root: Path) -> list[Path]:
    return sorted(path for path in root.glob("*.py") if path.is_file())


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _registration(decorator: ast.expr, owner: str, where: str) -> Registration | None:
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
        return None
    if decorator.func.attr != "register_module":
        return None
    target = decorator.func.value
    registry = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    if registry not in ("modelservice", "outschema"):
        return None
    arguments: dict[str, ast.expr] = dict(zip(("name", "default"), decorator.args, strict=False))
    arguments.update({kw.arg: kw.value for kw in decorator.keywords if kw.arg})

    def literal(key: str, default: object) -> object:
        node = arguments.get(key)
        if node is None:
            return default
        try:
            return ast.literal_eval(node)
        except ValueError:
            return ast.unparse(node)

    return Registration(registry, literal("name", owner), literal("default", False), where)


def scan_registrations(root: Path) -> list[Registration]:
    """Every ``register_module`` decorator on a class in the bundle's top-level ``.py`` files."""
    found = []
    for path in _sources(root):
        try:
            tree = ast.parse(_read(path), filename=path.name)
        except SyntaxError as exc:
            raise BundleError(f"{path.name} line {exc.lineno}: syntax error: {exc.msg}") from None
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                where = f"{path.name}:{node.lineno} {node.name}"
                for decorator in node.decorator_list:
                    if (found_one := _registration(decorator, node.name, where)) is not None:
                        found.append(found_one)
    return found


def namespace_of(registrations: list[Registration]) -> str:
    """The one namespace the bundle's model class is registered under; BundleError otherwise."""
    for registration in registrations:
        if registration.default is not False:
            raise BundleError(
                f"{registration.where}: @{registration.registry}.register_module(...,"
                f" default={registration.default!r}): default models are not supported; modelrt"
                " serves each bundle under its own namespace (use default=False)"
            )
    models = [r for r in registrations if r.registry == "modelservice"]
    if not models:
        raise BundleError(
            "a Gesund-style bundle registers its model class with"
            " @modelservice.register_module(name='NS', default=False) (from register.register"
            " import modelservice); none found in the bundle's .py files"
        )
    names = {str(r.namespace) for r in models}
    if len(names) > 1:
        listed = ", ".join(f"{r.namespace!r} ({r.where})" for r in models)
        raise BundleError(f"a bundle serves one model, but several are registered: {listed}")
    if len(models) > 1:
        raise DuplicateNamespaceError(
            f"namespace {models[0].namespace!r} is registered twice: "
            + " and ".join(r.where for r in models),
            metadata={"namespace": str(models[0].namespace)},
        )
    return check_namespace(
        models[0].namespace, f"@modelservice.register_module ({models[0].where})"
    )


def _model_type(root: Path) -> ModelType:
    schema = root / "schema.py"
    if not schema.is_file():
        return "other"
    try:
        tree = ast.parse(_read(schema))
    except SyntaxError:
        return "other"
    fields = {
        node.target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    return next((kind for field, kind in _TYPE_HINTS if field in fields), "other")


def gesund_config(layout: Layout) -> BundleConfig:
    """The config of a Gesund-style bundle: namespace from the code, framework from the weights,
    CPU instances and no batching unless modelrt-gesund.yaml says otherwise."""
    root = layout.code_root
    namespace = namespace_of(scan_registrations(root))
    settings: dict[str, Any] = {}
    if layout.config_file is not None:
        settings = read_yaml(layout.config_file)
        named = settings.pop("name", namespace)
        if named != namespace:
            raise BundleError(
                f"{SETTINGS_FILE}: name {named!r} differs from the namespace {namespace!r} that"
                " model.py registers; leave name out"
            )
    weights = find_weights(root, settings.get("weights"))
    defaults: dict[str, Any] = {
        "model_type": _model_type(root),
        "framework": framework_of(weights),
        # Published bundles are written for CPU (map_location="cpu", .to("cpu")).
        "instances": [InstanceGroup(kind="cpu").model_dump()],
    }
    data = {**defaults, **settings, "name": namespace}
    data["weights"] = weights.relative_to(root).as_posix()
    return parse_config(data, SETTINGS_FILE)
