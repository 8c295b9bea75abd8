"""Imports bundle code as a synthetic package with a unique name; never edits sys.path.

Every bundle becomes its own package (``_modelrt_bundle_<id>``), so two bundles that both ship
``model.py`` and ``helpers.py`` load side by side. Bundle modules get a private ``__import__``
that resolves plain ``import helpers`` of a sibling module to that bundle's own copy.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Mapping, Sequence
from itertools import count
from pathlib import Path
from types import ModuleType
from typing import Any

_counter = count()


def sibling_names(root: Path) -> frozenset[str]:
    """Top-level module names a bundle folder provides: ``*.py`` files and package folders."""
    names = set()
    for entry in root.iterdir():
        if entry.is_file() and entry.suffix == ".py" and entry.stem.isidentifier():
            names.add(entry.stem)
        elif entry.is_dir() and entry.name.isidentifier() and (entry / "__init__.py").exists():
            names.add(entry.name)
    return frozenset(names)


class _BundleImport:
    """The ``__import__`` of one bundle: sibling names go to the bundle's package."""

    def __init__(self, package: str, siblings: frozenset[str]) -> None:
        self.package = package
        self.siblings = siblings

    def __call__(
        self,
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> ModuleType:
        top = name.partition(".")[0]
        if level == 0 and top in self.siblings:
            full = f"{self.package}.{name}"
            module = importlib.import_module(full)
            if fromlist:
                builtins.__import__(full, globals, locals, fromlist, 0)
                return module
            return sys.modules[f"{self.package}.{top}"]
        return builtins.__import__(name, globals, locals, fromlist or (), level)


class _BundleLoader(importlib.machinery.SourceFileLoader):
    """Executes bundle modules with the bundle's private ``__import__`` in their builtins."""

    def __init__(self, fullname: str, path: str, bundle_import: _BundleImport) -> None:
        super().__init__(fullname, path)
        self.bundle_import = bundle_import

    def exec_module(self, module: ModuleType) -> None:
        scoped = dict(vars(builtins))
        scoped["__import__"] = self.bundle_import
        module.__dict__["__builtins__"] = scoped
        super().exec_module(module)


class _BundleFinder(importlib.abc.MetaPathFinder):
    """Finds modules under one bundle's synthetic package and loads them with _BundleLoader."""

    def __init__(self, package: str, root: Path, bundle_import: _BundleImport) -> None:
        self.package = package
        self.root = root
        self.bundle_import = bundle_import

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.package and not fullname.startswith(self.package + "."):
            return None
        parts = fullname.split(".")[1:]
        base = self.root.joinpath(*parts)
        init = base / "__init__.py"
        if base.is_dir():
            origin = init if init.exists() else None
            loader = _BundleLoader(fullname, str(origin), self.bundle_import) if origin else None
            spec = importlib.machinery.ModuleSpec(fullname, loader, origin=str(origin or base))
            spec.submodule_search_locations = [str(base)]
            spec.has_location = origin is not None
            return spec
        source = base.with_suffix(".py")
        if source.is_file():
            loader = _BundleLoader(fullname, str(source), self.bundle_import)
            return importlib.util.spec_from_file_location(fullname, source, loader=loader)
        return None


class BundlePackage:
    """A bundle folder mounted as a synthetic package; ``import_module("model")`` imports its code.

    >>> pkg = BundlePackage(Path("examples/sentiment"))  # doctest: +SKIP
    >>> pkg.import_module("model").__name__  # doctest: +SKIP
    '_modelrt_bundle_3f2a..._0.model'
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
        self.name = f"_modelrt_bundle_{digest}_{next(_counter)}"
        self._import = _BundleImport(self.name, sibling_names(self.root))
        self._finder = _BundleFinder(self.name, self.root, self._import)
        sys.meta_path.insert(0, self._finder)
        importlib.import_module(self.name)

    def import_module(self, relative: str) -> ModuleType:
        """Import ``relative`` (e.g. "model" or "1.model") from the bundle."""
        return importlib.import_module(f"{self.name}.{relative}")

    def modules(self) -> list[ModuleType]:
        """Every module of this bundle imported so far."""
        prefix = self.name + "."
        return [m for key, m in list(sys.modules.items()) if key.startswith(prefix)]

    def unmount(self) -> None:
        """Forget the bundle's modules and stop resolving its package name."""
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        for key in [k for k in sys.modules if k == self.name or k.startswith(self.name + ".")]:
            del sys.modules[key]
