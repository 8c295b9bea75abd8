"""Registry: the model classes and output schemas one bundle registers, by namespace."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import cast

from registry.decorators import RUNNER_MARK, SCHEMA_MARK, own_mark
from registry.errors import DuplicateNamespaceError
from registry.runner import ModelRunner


def _where(cls: type) -> str:
    """``model.py:Classifier``: where a class is defined, in the bundle author's terms."""
    try:
        return f"{Path(inspect.getfile(cls)).name}:{cls.__qualname__}"
    except TypeError:  # defined outside any file
        return cls.__qualname__


@dataclass
class Registry:
    """Namespaces -> model classes and output schemas. One per bundle load; no global state.

    >>> reg = Registry()
    >>> reg.namespaces()
    []
    """

    runners: dict[str, type[ModelRunner]] = field(default_factory=dict)
    schemas: dict[str, type] = field(default_factory=dict)

    def add_runner(self, namespace: str, cls: type[ModelRunner]) -> None:
        """Register ``cls`` under ``namespace``; another class there is DuplicateNamespaceError."""
        self._add(self.runners, namespace, cls, "model")

    def add_schema(self, namespace: str, cls: type) -> None:
        """Register output schema ``cls`` under ``namespace``."""
        self._add(self.schemas, namespace, cls, "output schema")

    def collect(self, module: ModuleType) -> None:
        """Add every class defined or imported in ``module`` that a decorator marked."""
        for value in list(vars(module).values()):
            if not inspect.isclass(value):
                continue
            if (namespace := own_mark(value, RUNNER_MARK)) is not None:
                self.add_runner(namespace, cast(type[ModelRunner], value))  # @register checked it
            if (namespace := own_mark(value, SCHEMA_MARK)) is not None:
                self.add_schema(namespace, value)

    def namespaces(self) -> list[str]:
        """Every namespace with a registered model class, sorted."""
        return sorted(self.runners)

    @staticmethod
    def _add(table: dict[str, type], namespace: str, cls: type, what: str) -> None:
        existing = table.get(namespace)
        if existing is not None and existing is not cls:
            raise DuplicateNamespaceError(
                f"namespace {namespace!r} is already registered to {what} {_where(existing)};"
                f" {_where(cls)} cannot take it",
                metadata={"namespace": namespace},
            )
        table[namespace] = cls
