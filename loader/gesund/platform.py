"""The platform modules a Gesund-style bundle imports, built afresh for each mounted bundle.

``register`` (with ``register.register``), ``logger``, ``core.engine.base_models`` and a
``torch`` whose ``load`` reads published bundles' weights are module objects private to one
bundle: only its code resolves them (through its scoped ``__import__``), never ``sys.modules``.
``AppLogger`` and ``np`` are fallback names of its modules, since published bundles use them
without importing them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from loader.errors import BundleError
from loader.gesund.base_models import bound_to
from loader.gesund.registries import ModuleRegistry, model_registry, schema_registry
from loader.gesund.torch_compat import TorchStandIn
from loader.importer import BundlePackage, sibling_names
from loader.requirements import RequirementProblem, describe_import_error
from registry.errors import ModelrtError

logger = logging.getLogger(__name__)

#: Names of requirements that are this platform's own modules, not the PyPI packages.
PLATFORM_REQUIREMENTS = frozenset({"register", "logger"})

_BUNDLE_PREFIX = re.compile(r"^_modelrt_bundle_[0-9a-f]+_\d+\.?")


class AppLogger:
    """The platform's logger factory: ``AppLogger(__name__).get_logger()``.

    >>> AppLogger("_modelrt_bundle_ab12_0.model").get_logger().name
    'modelrt.gesund.model'
    """

    def __init__(self, name: str = "") -> None:
        tail = _BUNDLE_PREFIX.sub("", str(name))
        self.logger = logging.getLogger(f"modelrt.gesund.{tail}" if tail else "modelrt.gesund")

    def get_logger(self) -> logging.Logger:
        """The logger to log with."""
        return self.logger


def _module(name: str, doc: str, **attributes: Any) -> ModuleType:
    module = ModuleType(name, doc)
    module.__dict__.update(attributes)
    return module


class GesundPlatform:
    """One bundle's platform: its registries, its device and the modules its code imports.

    >>> platform = GesundPlatform(Path("bundle"))  # doctest: +SKIP
    >>> sorted(platform.modules())  # doctest: +SKIP
    ['core', 'logger', 'register', 'torch']
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modelservice: ModuleRegistry = model_registry()
        self.outschema: ModuleRegistry = schema_registry()
        #: The device the runtime assigned; the adapter sets it before building the model.
        self.device = "cpu"
        #: The bundle's package name, once mounted (for unpickling classes of its modules).
        self.package: str | None = None

    def modules(self) -> dict[str, ModuleType]:
        """Top-level module name -> the module object this bundle's code gets for it."""
        inner = _module(
            "register.register",
            "Registries of the platform.",
            modelservice=self.modelservice,
            outschema=self.outschema,
        )
        register = _module(
            "register",
            "Registries of the platform.",
            register=inner,
            modelservice=self.modelservice,
            outschema=self.outschema,
        )
        base_models = _module(
            "core.engine.base_models",
            "Framework base classes.",
            **bound_to(lambda: self.device),
        )
        engine = _module("core.engine", "", base_models=base_models)
        modules = {
            "register": register,
            "logger": _module("logger", "The platform's logging.", AppLogger=AppLogger),
            "core": _module("core", "", engine=engine),
        }
        if importlib.util.find_spec("torch") is not None:
            modules["torch"] = TorchStandIn(lambda: self.package, sibling_names(self.root))
        return modules

    def fallback_names(self) -> dict[str, Any]:
        """Names bundle modules may use without importing them."""
        import numpy as np

        return {"AppLogger": AppLogger, "np": np}


class GesundPackage(BundlePackage):
    """A Gesund-style bundle mounted with its own platform modules (``self.platform``).

    The package's ``__init__.py`` runs here (it usually imports model.py), so a failure in it is
    reported as a BundleError and the half-mounted package is removed again.

    >>> GesundPackage(Path("bundle")).platform.modelservice.modules  # doctest: +SKIP
    {'ISIC_TF': <class '_modelrt_bundle_..._0.model.ISIC_TF'>}
    """

    def __init__(self, root: Path) -> None:
        self.platform = GesundPlatform(root)
        try:
            super().__init__(
                root,
                provided=self.platform.modules(),
                extra_builtins=self.platform.fallback_names(),
            )
        except BaseException as exc:
            with contextlib.suppress(AttributeError):  # mounted far enough to be found
                self.unmount()
            failure = _import_failure(exc, "__init__.py")
            if failure is exc:
                raise
            raise failure from exc
        self.platform.package = self.name

    def import_code(self, name: str, problems: Sequence[RequirementProblem] = ()) -> ModuleType:
        """Import the bundle's module ``name``; a failure is a BundleError naming the cause."""
        try:
            return self.import_module(name)
        except BaseException as exc:
            failure = _import_failure(exc, f"{name}.py", problems)
            if failure is exc:
                raise
            raise failure from exc


def _import_failure(
    exc: BaseException, what: str, problems: Sequence[RequirementProblem] = ()
) -> BaseException:
    if isinstance(exc, ModelrtError) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, ImportError):
        return BundleError(describe_import_error(exc, problems))
    logger.exception("importing %s of a Gesund-style bundle failed", what)
    return BundleError(f"importing {what} failed: {type(exc).__name__}: {exc}")
