"""@register and @outschema: validate a class at import time and mark it; never wrap it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

from registry.errors import RegistrationError
from registry.runner import ModelRunner, implemented_hooks

RUNNER_MARK = "__modelrt_runner_namespace__"
SCHEMA_MARK = "__modelrt_schema_namespace__"

_NAMESPACE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$")
# Number of positional parameters each hook takes after self.
_HOOK_ARITY = {"predict": 1, "predict_batch": 1, "generate": 1, "stream": 1}

C = TypeVar("C", bound=type)


def check_namespace(namespace: object, owner: str) -> str:
    """Return ``namespace`` if it is a valid model name, else raise RegistrationError."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise RegistrationError(
            f"{owner}: invalid namespace {namespace!r}: use 1-128 letters, digits, '.', '_' or '-',"
            " starting and ending with a letter or digit",
            metadata={"class": owner},
        )
    return namespace


def _check_hook(cls: type, hook: str) -> None:
    function = inspect.getattr_static(cls, hook)
    if not callable(function):
        raise RegistrationError(f"{cls.__qualname__}.{hook} must be a method")
    params = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in params[1:] if p.default is p.empty]
    keyword_only = [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    ]
    if keyword_only:
        raise RegistrationError(
            f"{cls.__qualname__}.{hook} has required keyword-only argument(s) "
            f"{', '.join(keyword_only)} that the runtime cannot pass",
            metadata={"class": cls.__qualname__, "hook": hook},
        )
    arity = _HOOK_ARITY[hook]
    if len(params) - 1 < arity or len(required) > arity:
        raise RegistrationError(
            f"{cls.__qualname__}.{hook} must take exactly {arity} argument after self"
            f" (got {inspect.signature(function)})",
            metadata={"class": cls.__qualname__, "hook": hook},
        )
    if hook in ("generate", "stream") and inspect.iscoroutinefunction(function):
        raise RegistrationError(
            f"{cls.__qualname__}.{hook} is 'async def' without 'yield': make it an async"
            " generator (use 'yield') or a plain generator",
            metadata={"class": cls.__qualname__, "hook": hook},
        )


def validate_runner(cls: object) -> type[ModelRunner]:
    """Check that ``cls`` is a usable ModelRunner subclass; raise RegistrationError naming it."""
    name = getattr(cls, "__qualname__", repr(cls))
    if not (inspect.isclass(cls) and issubclass(cls, ModelRunner)):
        raise RegistrationError(f"{name} must be a class that subclasses registry.ModelRunner")
    hooks = implemented_hooks(cls)
    if not hooks:
        raise RegistrationError(
            f"{name} implements none of predict, predict_batch, generate, stream",
            metadata={"class": name},
        )
    for hook in sorted(hooks):
        _check_hook(cls, hook)
    load_params = inspect.signature(cls.load_model).parameters
    if len(load_params) != 1:
        raise RegistrationError(f"{name}.load_model must take no argument after self")
    return cls


def register(namespace: str) -> Callable[[C], C]:
    """Mark a ModelRunner subclass as the model served under ``namespace``.

    >>> @register("echo")
    ... class Echo(ModelRunner):
    ...     def predict(self, request):
    ...         return {"text": request["text"]}
    """
    check_namespace(namespace, "@register")

    def mark(cls: C) -> C:
        validate_runner(cls)
        setattr(cls, RUNNER_MARK, namespace)
        return cls

    return mark


def is_pydantic_model(cls: object) -> bool:
    """Whether ``cls`` is a pydantic model class (v2, or v1-style through ``pydantic.v1``)."""
    if not inspect.isclass(cls):
        return False
    from pydantic import BaseModel

    if issubclass(cls, BaseModel):
        return True
    try:
        from pydantic.v1 import BaseModel as BaseModelV1
    except ImportError:  # pragma: no cover - pydantic without the v1 shim
        return False
    return issubclass(cls, BaseModelV1)


def outschema(namespace: str) -> Callable[[C], C]:
    """Mark a pydantic model as the output schema of the model served under ``namespace``.

    >>> import pydantic
    >>> @outschema("echo")
    ... class EchoOutput(pydantic.BaseModel):
    ...     text: str
    """
    check_namespace(namespace, "@outschema")

    def mark(cls: C) -> C:
        if not is_pydantic_model(cls):
            name = getattr(cls, "__qualname__", repr(cls))
            raise RegistrationError(
                f"@outschema({namespace!r}) on {name}: an output schema must be a pydantic model",
                metadata={"class": name},
            )
        setattr(cls, SCHEMA_MARK, namespace)
        return cls

    return mark


def own_mark(cls: type, mark: str) -> Any:
    """The namespace set by a decorator on ``cls`` itself (not inherited from a base class)."""
    return cls.__dict__.get(mark)
