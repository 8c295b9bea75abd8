"""Stand-in for ``clarifai.runners.utils.data_utils``: ``Param``, a method argument's default.

Bundles write ``temperature: float = Param(default=0.7, min_value=0.0)``. modelrt reads the
default and the bounds from the signature; code that calls such a method directly, without the
runtime, gets the Param itself, which therefore behaves as its default value does (numbers,
comparisons, text, containers, attribute access).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any


class Param:
    """The default of a method argument, with its optional description, bounds and choices.

    >>> limit = Param(default=3, max_value=10)
    >>> limit + 1, int(limit), limit == 3
    (4, 3, True)
    """

    def __init__(
        self,
        default: Any,
        description: str | None = None,
        min_value: float | None = None,
        max_value: float | None = None,
        choices: Sequence[Any] | None = None,
        is_param: bool = True,
    ) -> None:
        self.default = default
        self.description = description
        self.min_value = min_value
        self.max_value = max_value
        self.choices = choices
        self.is_param = is_param

    def bounds(self) -> dict[str, Any]:
        """The limits that are set: ``{"min_value": 0.0, "choices": [...]}``."""
        limits: dict[str, Any] = {"min_value": self.min_value, "max_value": self.max_value}
        limits["choices"] = list(self.choices) if self.choices is not None else None
        return {name: limit for name, limit in limits.items() if limit is not None}

    def __repr__(self) -> str:
        limits = "".join(f", {name}={limit!r}" for name, limit in self.bounds().items())
        return f"Param({self.default!r}{limits})"

    def __getattr__(self, name: str) -> Any:
        # Only names Param lacks get here: the default's methods (``.upper()``, ``.items()``).
        if name == "default":  # not set yet (copy, pickle): no recursion through the default
            raise AttributeError(name)
        return getattr(self.default, name)

    def __hash__(self) -> int:
        return hash(self.default)

    def __format__(self, spec: str) -> str:
        return format(self.default, spec)

    def __round__(self, ndigits: int | None = None) -> Any:
        return round(self.default, ndigits)


def _unary(function: Callable[[Any], Any]) -> Callable[[Param], Any]:
    def method(self: Param) -> Any:
        return function(self.default)

    return method


def _binary(function: Callable[[Any, Any], Any], *, reflected: bool) -> Callable[..., Any]:
    def method(self: Param, other: Any) -> Any:
        other = other.default if isinstance(other, Param) else other
        return function(other, self.default) if reflected else function(self.default, other)

    return method


_UNARY: dict[str, Callable[[Any], Any]] = {
    "__int__": int, "__float__": float, "__index__": operator.index, "__str__": str,
    "__bool__": bool, "__len__": len, "__iter__": iter, "__neg__": operator.neg,
    "__pos__": operator.pos, "__abs__": abs, "__bytes__": bytes, "__complex__": complex,
}  # fmt: skip
_COMPARISONS = {"eq", "ne", "lt", "le", "gt", "ge", "contains", "getitem"}
_ARITHMETIC = {
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor", "lshift",
    "rshift", "matmul",
}  # fmt: skip

for _name, _function in _UNARY.items():
    setattr(Param, _name, _unary(_function))
for _name in _COMPARISONS:
    setattr(Param, f"__{_name}__", _binary(getattr(operator, _name), reflected=False))
for _name in _ARITHMETIC:
    _function = getattr(operator, f"{_name}_" if _name in ("and", "or") else _name)
    setattr(Param, f"__{_name}__", _binary(_function, reflected=False))
    setattr(Param, f"__r{_name}__", _binary(_function, reflected=True))
