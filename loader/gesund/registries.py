"""The ``modelservice`` and ``outschema`` registries Gesund-style bundles register into.

One pair per mounted bundle (see loader.gesund.platform), so two bundles never share state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from registry.decorators import check_namespace, is_pydantic_model
from registry.errors import DuplicateNamespaceError, RegistrationError

C = TypeVar("C", bound=type)


class ModuleRegistry:
    """Classes by namespace; ``@registry.register_module(name='NS', default=False)`` adds one.

    >>> modelservice = ModuleRegistry("modelservice")
    >>> @modelservice.register_module(name="echo", default=False)
    ... class Echo: ...
    >>> modelservice.get("echo") is Echo
    True
    """

    def __init__(self, kind: str, check: Callable[[type], str | None] | None = None) -> None:
        self.kind = kind
        self._check = check
        self.modules: dict[str, type] = {}

    def register_module(
        self, name: str | None = None, default: bool = False, module: type | None = None
    ) -> Any:
        """Register a class under ``name`` (its class name when None); a decorator unless
        ``module`` is given. ``default=True`` is refused: each bundle has its own namespace."""
        if default:
            raise RegistrationError(
                f"@{self.kind}.register_module(name={name!r}, default=True): default models are"
                " not supported; modelrt serves each bundle under its own namespace"
                " (use default=False)",
                metadata={"namespace": str(name)},
            )

        def add(cls: C) -> C:
            self._add(cls.__name__ if name is None else name, cls)
            return cls

        return add if module is None else add(module)

    def get(self, name: str) -> type | None:
        """The class registered under ``name``, if any."""
        return self.modules.get(name)

    def _add(self, name: object, cls: type) -> None:
        where = f"@{self.kind}.register_module on {cls.__qualname__}"
        namespace = check_namespace(name, where)
        if self._check is not None and (problem := self._check(cls)) is not None:
            raise RegistrationError(f"{where}: {problem}", metadata={"namespace": namespace})
        existing = self.modules.get(namespace)
        if existing is not None and existing is not cls:
            raise DuplicateNamespaceError(
                f"namespace {namespace!r} is already registered to {existing.__qualname__} in"
                f" {self.kind}; {cls.__qualname__} cannot take it too",
                metadata={"namespace": namespace},
            )
        self.modules[namespace] = cls


def _must_be_class(cls: object) -> str | None:
    return None if isinstance(cls, type) else "only classes can be registered"


def _must_be_schema(cls: object) -> str | None:
    if is_pydantic_model(cls):
        return None
    return "an output schema must be a pydantic model (pydantic.BaseModel or pydantic.v1)"


def model_registry() -> ModuleRegistry:
    """A fresh ``modelservice``: model classes by namespace."""
    return ModuleRegistry("modelservice", _must_be_class)


def schema_registry() -> ModuleRegistry:
    """A fresh ``outschema``: pydantic response classes by namespace."""
    return ModuleRegistry("outschema", _must_be_schema)
