"""Every error reason the server code can send, found in its source with its gRPC status."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("registry", "loader", "runtime")


def _trees() -> list[ast.Module]:
    return [
        ast.parse(path.read_text(encoding="utf-8"))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    ]


def _constant(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _classes(trees: list[ast.Module]) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Class name -> (base names, class-level ``code`` and ``reason`` assignments)."""
    found: dict[str, tuple[list[str], dict[str, str]]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [
                b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
            ]
            values: dict[str, str] = {}
            for statement in node.body:
                if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                    target = statement.targets[0]
                    if isinstance(target, ast.Name) and target.id == "reason":
                        values["reason"] = _constant(statement.value) or ""
                    if isinstance(target, ast.Name) and target.id == "code":
                        value = statement.value
                        if isinstance(value, ast.Attribute):
                            values["code"] = value.attr
            found[node.name] = (bases, values)
    return found


def _code_of(name: str, classes: dict[str, tuple[list[str], dict[str, str]]]) -> str | None:
    seen: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop(0)
        if current in seen or current not in classes:
            continue
        seen.add(current)
        bases, values = classes[current]
        if "code" in values:
            return values["code"]
        pending.extend(bases)
    return None


def sent_reasons() -> dict[str, set[str]]:
    """Reason -> the gRPC status names it is sent with (empty when the source does not say)."""
    trees = _trees()
    classes = _classes(trees)
    reasons: dict[str, set[str]] = {}
    for name, (_, values) in classes.items():
        if values.get("reason"):
            code = _code_of(name, classes)
            reasons.setdefault(values["reason"], set()).update([code] if code else [])
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                reason = _constant(keyword.value) if keyword.arg == "reason" else None
                if not reason:
                    continue
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                code = _code_of(called, classes)
                reasons.setdefault(reason, set()).update([code] if code else [])
    return reasons
