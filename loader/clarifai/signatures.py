"""The ``@ModelClass.method`` methods of a model: their kinds, typed arguments and selection.

A method taking an ``Iterator[...]`` argument serves Stream; one returning ``Iterator[...]``
serves Generate; any other serves Predict. Signatures are checked when the bundle loads.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from loader.clarifai.types import iterator_item, platform_name, type_name, unsupported
from loader.errors import BundleError
from registry.errors import InvalidInputError

Kind = Literal["predict", "generate", "stream"]
#: The request parameter that names the method to call.
METHOD_PARAMETER = "method"
#: The attribute ``@ModelClass.method`` sets (the real SDK and the stand-in alike).
METHOD_MARK = "_cf_method_info"
_EMPTY = inspect.Parameter.empty
_RPC = {"predict": "Predict", "generate": "Generate", "stream": "Stream"}


@dataclass(frozen=True)
class Argument:
    """One argument of a model method; ``param`` is its ``Param(...)`` default, if any."""

    name: str
    annotation: Any
    default: Any = _EMPTY
    param: Any = None
    streamed: bool = False

    @property
    def required(self) -> bool:
        return self.default is _EMPTY


@dataclass(frozen=True)
class MethodSpec:
    """A callable model method: name, kind, arguments and the type of what it returns."""

    name: str
    kind: Kind
    arguments: tuple[Argument, ...]
    returns: Any

    @property
    def streamed(self) -> Argument | None:
        return next((arg for arg in self.arguments if arg.streamed), None)

    def describe(self) -> str:
        args = ", ".join(arg.name for arg in self.arguments)
        return f"{self.name}({args})"


def marked_methods(cls: type) -> dict[str, Callable[..., Any]]:
    """The methods of ``cls`` (and its bases) marked with ``@ModelClass.method``."""
    found: dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, attr in vars(klass).items():
            if inspect.isfunction(attr) and hasattr(attr, METHOD_MARK):
                found[name] = attr
    return found


def _default(parameter: inspect.Parameter) -> tuple[Any, Any]:
    """(default value, Param object or None); a Param stands for its default."""
    default = parameter.default
    if default is not _EMPTY and platform_name(default) == "Param":
        return object.__getattribute__(default, "default"), default
    return default, None


def _argument(method: str, parameter: inspect.Parameter, hints: Mapping[str, Any]) -> Argument:
    where = f"method {method}: argument {parameter.name!r}"
    if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        raise BundleError(f"{where}: *args and **kwargs are not supported; name each argument")
    if parameter.name not in hints:
        raise BundleError(f"{where} has no type hint; model methods are typed (e.g. text: str)")
    annotation = hints[parameter.name]
    item = iterator_item(annotation)
    bad = unsupported(annotation if item is None else item)
    if bad is not None:
        raise BundleError(f"{where}: modelrt cannot convert values to {type_name(bad)}")
    default, param = _default(parameter)
    if item is not None:
        return Argument(parameter.name, item, default, param, streamed=True)
    return Argument(parameter.name, annotation, default, param)


def method_spec(name: str, func: Callable[..., Any]) -> MethodSpec:
    """Check one marked method's signature and say which RPC it serves."""
    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        raise BundleError(f"method {name}: async model methods are not supported; use def")
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise BundleError(f"method {name}: cannot read its type hints: {exc}") from None
    parameters = list(inspect.signature(func).parameters.values())[1:]  # drop self
    arguments = tuple(_argument(name, parameter, hints) for parameter in parameters)
    returns = hints.get("return", Any)
    item = iterator_item(returns)
    streamed = [arg.name for arg in arguments if arg.streamed]
    if len(streamed) > 1:
        raise BundleError(f"method {name}: only one argument may be an Iterator ({streamed})")
    generates = item is not None or (returns is Any and inspect.isgeneratorfunction(func))
    if streamed and not generates:
        raise BundleError(f"method {name}: takes an Iterator, so it must return an Iterator")
    bad = unsupported(item if item is not None else returns)
    if bad is not None:
        raise BundleError(f"method {name}: modelrt cannot convert a returned {type_name(bad)}")
    kind: Kind = "stream" if streamed else "generate" if generates else "predict"
    return MethodSpec(name, kind, arguments, item if item is not None else returns)


def method_specs(cls: type) -> dict[str, MethodSpec]:
    """Every marked method of ``cls``, checked; BundleError names the first bad one."""
    return {name: method_spec(name, func) for name, func in marked_methods(cls).items()}


def choose(methods: Mapping[str, MethodSpec], kind: Kind, requested: Any) -> MethodSpec:
    """The method a call of ``kind`` runs: the one named by the ``method`` parameter, else the
    one named like the RPC (predict/generate/stream), else the only one of that kind.

    >>> choose({}, "predict", None)  # doctest: +SKIP
    """
    candidates = {name: spec for name, spec in methods.items() if spec.kind == kind}
    listing = ", ".join(spec.describe() for spec in candidates.values()) or "none"
    if requested is not None:
        spec = methods.get(str(requested))
        if spec is None:
            raise InvalidInputError(
                f"the model has no method {requested!r}; {_RPC[kind]} can call: {listing}",
                metadata={"input": METHOD_PARAMETER},
            )
        if spec.kind != kind:
            raise InvalidInputError(
                f"method {spec.name!r} is called with {_RPC[spec.kind]}, not {_RPC[kind]};"
                f" {_RPC[kind]} can call: {listing}",
                metadata={"input": METHOD_PARAMETER},
            )
        return spec
    if kind in candidates:
        return candidates[kind]
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    raise InvalidInputError(
        f"{_RPC[kind]} can call several methods: {listing}; name one with the"
        f" {METHOD_PARAMETER!r} parameter",
        metadata={"input": METHOD_PARAMETER},
    )
