"""The model-author API: subclass ModelRunner, mark it with @register, its output with @outschema.

>>> from registry import ModelRunner, register
"""

from registry.decorators import outschema, register
from registry.errors import (
    DuplicateNamespaceError,
    ErrorCode,
    HookNotImplementedError,
    InvalidInputError,
    ModelrtError,
    RegistrationError,
)
from registry.registry import Registry
from registry.runner import ModelContext, ModelRunner, Request

__all__ = [
    "DuplicateNamespaceError",
    "ErrorCode",
    "HookNotImplementedError",
    "InvalidInputError",
    "ModelContext",
    "ModelRunner",
    "ModelrtError",
    "RegistrationError",
    "Registry",
    "Request",
    "outschema",
    "register",
]
