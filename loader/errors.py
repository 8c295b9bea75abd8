"""Errors raised while turning a bundle into a loadable model."""

from __future__ import annotations

from registry.errors import ErrorCode, ModelrtError


class BundleError(ModelrtError):
    """The bundle is malformed: bad layout, config, code or registration."""

    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_BUNDLE"


class UnsafeBundleError(BundleError):
    """An archive entry would escape the bundle or exceed a limit; names the entry."""

    reason = "UNSAFE_BUNDLE_ENTRY"


class RequirementsError(BundleError):
    """A requirement of the bundle is missing or at another version (strict mode only)."""

    code = ErrorCode.FAILED_PRECONDITION
    reason = "REQUIREMENTS_NOT_MET"
