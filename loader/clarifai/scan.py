"""What each RPC of a Clarifai folder takes, read from its source without running it.

``modelrt run-local`` builds its sample inputs from this: a method whose argument is a ``Text``
or ``str`` gets text, an ``Image`` an image, and so on. The marked methods of ``1/model.py`` are
read from its syntax tree (no bundle code runs in the CLI); a proto-style model, which takes
whole PostModelOutputsRequest messages, is described by its config's ``model_type_id``.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from loader.clarifai.config import read_clarifai_config
from loader.clarifai.layout import MODEL_MODULES
from loader.errors import BundleError

logger = logging.getLogger(__name__)

Hook = Literal["predict", "generate", "stream"]
#: What a sample value must be: text, an image file, a number, ... ("other": the type's usual).
#: A kind may be "list:<kind>" for a list of such values.
_KINDS = {
    "str": "text", "Text": "text", "Image": "image", "Audio": "audio", "Video": "video",
    "float": "float", "int": "int", "bool": "bool", "bytes": "bytes", "ndarray": "tensor",
    "dict": "json", "Dict": "json", "JSON": "json", "NamedFields": "json", "Any": "json",
}  # fmt: skip
_STREAMS = frozenset({"Iterator", "Iterable", "Generator", "Stream"})
_LISTS = frozenset({"list", "List", "Sequence", "tuple", "Tuple"})
_OPTIONAL = frozenset({"Optional", "Union"})
#: The input side of Clarifai model types, for proto-style models.
_TYPE_INPUTS = (
    ("text-", "text"), ("multimodal-", "text"), ("audio-", "audio"), ("video-", "video"),
)  # fmt: skip


@dataclass(frozen=True)
class InputHint:
    """One argument of the method an RPC calls: its name, the kind of value it takes, whether
    it must be sent, and whether it is the streamed one."""

    name: str
    kind: str
    required: bool = True
    streamed: bool = False


def _outer(node: ast.expr) -> tuple[str, list[ast.expr]]:
    """The last dotted name of a type hint and its subscript arguments."""
    if isinstance(node, ast.Subscript):
        name, _ = _outer(node.value)
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return name, list(inner)
    if isinstance(node, ast.Attribute):
        return node.attr, []
    if isinstance(node, ast.Name):
        return node.id, []
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # X | None
        left, right = node.left, node.right
        return _outer(right if _is_none(left) else left)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted hint
        try:
            return _outer(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return "", []
    return "", []


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def kind_of(node: ast.expr | None) -> tuple[str, bool]:
    """(kind of value, streamed?) for a type hint's syntax tree."""
    if node is None:
        return "other", False
    name, inner = _outer(node)
    if name in _OPTIONAL and inner:
        members = [member for member in inner if not _is_none(member)]
        return kind_of(members[0]) if members else ("other", False)
    if name in _STREAMS:
        return kind_of(inner[0] if inner else None)[0], True
    if name in _LISTS:
        return "list:" + kind_of(inner[0] if inner else None)[0], False
    return _KINDS.get(name, "other"), False


def _is_marked(function: ast.FunctionDef) -> bool:
    return any(
        isinstance(node, ast.Attribute) and node.attr == "method"
        for decorator in function.decorator_list
        for node in [decorator.func if isinstance(decorator, ast.Call) else decorator]
    )


def _method(function: ast.FunctionDef) -> tuple[Hook, tuple[InputHint, ...]]:
    arguments = function.args.posonlyargs + function.args.args
    first_default = len(arguments) - len(function.args.defaults)
    hints = []
    for index, argument in enumerate(arguments[1:], start=1):  # drop self
        kind, streamed = kind_of(argument.annotation)
        hints.append(InputHint(argument.arg, kind, index < first_default, streamed))
    returns_stream = kind_of(function.returns)[1]
    hook: Hook = (
        "stream" if any(h.streamed for h in hints) else "generate" if returns_stream else "predict"
    )
    return hook, tuple(hints)


def marked_methods(source: str) -> dict[str, tuple[Hook, tuple[InputHint, ...]]]:
    """Every ``@ModelClass.method`` method in ``source``: name -> (hook, arguments)."""
    found: dict[str, tuple[Hook, tuple[InputHint, ...]]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and _is_marked(item):
                    found[item.name] = _method(item)
    return found


def _per_hook(
    methods: Mapping[str, tuple[Hook, tuple[InputHint, ...]]],
) -> dict[Hook, tuple[InputHint, ...]]:
    """The method each RPC calls by default: the one named like it, else the only one."""
    chosen: dict[Hook, tuple[InputHint, ...]] = {}
    for hook in ("predict", "generate", "stream"):
        candidates = {name: hints for name, (kind, hints) in methods.items() if kind == hook}
        if hook in candidates:
            chosen[hook] = candidates[hook]
        elif len(candidates) == 1:
            chosen[hook] = next(iter(candidates.values()))
    return chosen


def _type_hints(model_type_id: str) -> dict[Hook, tuple[InputHint, ...]]:
    kind = next((k for prefix, k in _TYPE_INPUTS if model_type_id.startswith(prefix)), "image")
    hint = (InputHint("text" if kind == "text" else kind, kind, streamed=True),)
    return {"predict": hint, "generate": hint, "stream": hint}


def input_hints(root: Path) -> dict[Hook, tuple[InputHint, ...]]:
    """The arguments each RPC of the folder at ``root`` takes (empty when they cannot be read)."""
    source = next((root / rel for rel, _ in MODEL_MODULES if (root / rel).is_file()), None)
    try:
        methods = marked_methods(source.read_text(encoding="utf-8")) if source else {}
        if methods:
            return _per_hook(methods)
        return _type_hints(read_clarifai_config(root).model.model_type_id)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError, BundleError) as exc:
        logger.info("cannot read the methods of %s: %s", root, exc)
        return {}
