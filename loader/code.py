"""Imports a module of bundle code, turning every failure into a BundleError naming its cause."""

from __future__ import annotations

import logging
from types import ModuleType

from loader.errors import BundleError
from loader.importer import BundlePackage
from loader.requirements import RequirementProblem, describe_import_error
from registry.errors import ModelrtError

logger = logging.getLogger(__name__)


def import_code(
    package: BundlePackage, module: str, problems: list[RequirementProblem]
) -> ModuleType:
    """``package.import_module(module)``; an ImportError is explained with the requirements'
    ``problems`` (a missing or mismatched package), anything else names the file and error.

    >>> import_code(package, "model", [])  # doctest: +SKIP
    <module '_modelrt_bundle_....model'>
    """
    try:
        return package.import_module(module)
    except ModelrtError:
        raise
    except ImportError as exc:
        raise BundleError(describe_import_error(exc, problems)) from exc
    except Exception as exc:
        logger.exception("importing %s from %s failed", module, package.root)
        path = module.replace(".", "/") + ".py"
        raise BundleError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
