"""The ``torch`` a Gesund-style bundle imports: the real one, except that ``torch.load`` reads a
whole pickled module (as published bundles saved them) and finds classes in the bundle's modules.

torch >= 2.6 loads with ``weights_only=True`` by default, which refuses a pickled ``nn.Module``.
The bundle's own code runs in this worker anyway, so unpickling its weights trusts nothing more.
Only the bundle's modules see this stand-in; torch itself is never patched.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable, Collection
from types import ModuleType
from typing import Any


class _BundleUnpickler(pickle.Unpickler):
    """Resolves ``backbone.Net`` to the bundle's own ``backbone`` module (bundles are not on
    sys.path, so plain pickle cannot import them)."""

    package: Callable[[], str | None] = staticmethod(lambda: None)
    siblings: Collection[str] = ()

    def find_class(self, module: str, name: str) -> Any:
        package = self.package()
        if package is not None and module.partition(".")[0] in self.siblings:
            return getattr(importlib.import_module(f"{package}.{module}"), name)
        return super().find_class(module, name)


def pickle_module(package: Callable[[], str | None], siblings: Collection[str]) -> ModuleType:
    """A stand-in for the ``pickle`` module whose Unpickler knows the bundle's modules."""
    unpickler = type(
        "Unpickler",
        (_BundleUnpickler,),
        {"package": staticmethod(package), "siblings": frozenset(siblings)},
    )
    module = ModuleType("pickle")
    module.__dict__.update(
        {name: getattr(pickle, name) for name in ("dump", "dumps", "loads", "Pickler")}
    )
    module.Unpickler = unpickler  # type: ignore[attr-defined]
    module.load = lambda file, **kwargs: unpickler(file, **kwargs).load()  # type: ignore[attr-defined]
    return module


class TorchStandIn(ModuleType):
    """The real ``torch`` (every attribute is looked up there) with a bundle-friendly ``load``.

    >>> torch = TorchStandIn(lambda: "pkg", {"backbone"})  # doctest: +SKIP
    >>> torch.load("net.pt").eval()  # doctest: +SKIP
    """

    def __init__(self, package: Callable[[], str | None], siblings: Collection[str]) -> None:
        super().__init__("torch", "modelrt's view of torch for Gesund-style bundles")
        self._pickle = pickle_module(package, siblings)

    def __getattr__(self, name: str) -> Any:
        torch = importlib.import_module("torch")
        try:
            return getattr(torch, name)
        except AttributeError:
            if name.startswith("__"):
                raise
        try:  # a submodule torch does not import itself, e.g. ``from torch import hub``
            return importlib.import_module(f"torch.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'torch' has no attribute {name!r}") from None

    def load(self, f: Any, *args: Any, **kwargs: Any) -> Any:
        """``torch.load`` that defaults to ``weights_only=False`` and ``map_location="cpu"``.

        Published bundles are written for CPU and pickle whole modules; an explicit argument
        still wins.
        """
        torch = importlib.import_module("torch")
        if not args:
            kwargs.setdefault("map_location", "cpu")
        kwargs.setdefault("weights_only", False)
        if not kwargs["weights_only"] and len(args) < 2:
            kwargs.setdefault("pickle_module", self._pickle)
        return torch.load(f, *args, **kwargs)
