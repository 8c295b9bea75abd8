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
        #: Top-level name -> where it lives in the package ("helpers", or "1.helpers").
        self.siblings: dict[str, str] = {name: name for name in siblings}
        #: Top-level names served by a stand-in module (see BundlePackage.provide).
        self.provided: dict[str, str | ModuleType] = {}
        #: Names every bundle module sees as builtins (fallbacks its own globals shadow).
        self.extra_builtins: dict[str, Any] = {}

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
            location = f"{self.package}.{self.siblings[top]}"
            full = location + name[len(top) :]
            module = importlib.import_module(full)
            if fromlist:
                builtins.__import__(full, globals, locals, fromlist, 0)
                return module
            return sys.modules[location]
        if level == 0 and top in self.provided:
            return self._provided_import(name, top, fromlist)
        return builtins.__import__(name, globals, locals, fromlist or (), level)

    def _provided_import(self, name: str, top: str, fromlist: Sequence[str] | None) -> ModuleType:
        stand_in = self.provided[top]
        if isinstance(stand_in, ModuleType):
            return _from_module(stand_in, name, fromlist)
        target = stand_in + name[len(top) :]
        try:
            module = importlib.import_module(target)
            if fromlist:
                builtins.__import__(target, None, None, fromlist, 0)  # submodules it names
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith(stand_in):
                raise
            missing = top + (exc.name or "")[len(stand_in) :]
            raise ModuleNotFoundError(
                f"No module named {missing!r} ({top} is not installed, and modelrt's stand-in"
                " does not provide that module)",
                name=missing,
            ) from None
        return module if fromlist else importlib.import_module(stand_in)


def _from_module(stand_in: ModuleType, name: str, fromlist: Sequence[str] | None) -> ModuleType:
    """``import name`` served by a module object private to one bundle (never in sys.modules):
    its submodules are its attributes (``register.register``); one it lacks is imported as usual
    (a stand-in wrapping a real package, such as ``torch.utils.tensorboard``)."""
    parts = name.split(".")
    module = stand_in
    for depth in range(2, len(parts) + 1):
        inner = getattr(module, parts[depth - 1], None)
        if not isinstance(inner, ModuleType):
            try:
                inner = importlib.import_module(".".join(parts[:depth]))
            except ModuleNotFoundError:
                raise ModuleNotFoundError(
                    f"No module named {name!r} (modelrt's stand-in does not provide it)", name=name
                ) from None
        module = inner
    if fromlist and sys.modules.get(module.__name__) is module:  # a real module: usual rules
        builtins.__import__(module.__name__, None, None, fromlist, 0)
    return module if fromlist else stand_in


class _BundleLoader(importlib.machinery.SourceFileLoader):
    """Executes bundle modules with the bundle's private ``__import__`` in their builtins."""

    def __init__(self, fullname: str, path: str, bundle_import: _BundleImport) -> None:
        super().__init__(fullname, path)
        self.bundle_import = bundle_import

    def exec_module(self, module: ModuleType) -> None:
        scoped = dict(vars(builtins))
        scoped.update(self.bundle_import.extra_builtins)
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

    def __init__(
        self,
        root: Path,
        *,
        provided: Mapping[str, str | ModuleType] | None = None,
        extra_builtins: Mapping[str, Any] | None = None,
    ) -> None:
        self.root = root.resolve()
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
        self.name = f"_modelrt_bundle_{digest}_{next(_counter)}"
        self._import = _BundleImport(self.name, sibling_names(self.root))
        # Before the package's __init__.py runs: it may import model.py, and so the platform.
        self._import.provided.update(provided or {})
        self._import.extra_builtins.update(extra_builtins or {})
        self._finder = _BundleFinder(self.name, self.root, self._import)
        sys.meta_path.insert(0, self._finder)
        importlib.import_module(self.name)

    def provide(self, modules: Mapping[str, str | ModuleType]) -> None:
        """Serve bundle imports of top-level ``name`` (and its submodules) from a stand-in.

        For platform modules a bundle's format supplies when they are not installed; ``modules``
        maps the top-level name to the stand-in package, or to a module object private to this
        bundle (its submodules are its attributes). A sibling of the same name still wins, and
        nothing outside this bundle's code sees the stand-in. ``BundlePackage(root, provided=...)``
        does the same before the package's ``__init__.py`` runs; ``extra_builtins`` there are
        fallback names every bundle module sees (its own globals shadow them).

        >>> pkg.provide({"clarifai": "loader.clarifai.sdk"})  # doctest: +SKIP
        """
        self._import.provided.update(modules)

    def add_module_folder(self, folder: str) -> None:
        """Resolve plain imports of the modules in ``folder`` (a sub-folder of the bundle, e.g.
        "1") to this bundle's copies, as on a platform that puts that folder on ``sys.path``. A
        module at the bundle's top keeps its name.

        >>> pkg.add_module_folder("1")  # doctest: +SKIP
        """
        for name in sibling_names(self.root / folder):
            self._import.siblings.setdefault(name, f"{folder.replace('/', '.')}.{name}")

    def import_module(self, relative: str) -> ModuleType:
        """Import ``relative`` (e.g. "model" or "1.model") from the bundle."""
        return importlib.import_module(f"{self.name}.{relative}")

    def modules(self) -> list[ModuleType]:
        """Every module of this bundle imported so far."""
        prefix = self.name + "."
        # copy() is one C call: another thread importing cannot change the dict under it
        return [m for key, m in sys.modules.copy().items() if key.startswith(prefix)]

    def unmount(self) -> None:
        """Forget the bundle's modules and stop resolving its package name."""
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        for key in [
            k for k in sys.modules.copy() if k == self.name or k.startswith(self.name + ".")
        ]:
            del sys.modules[key]
