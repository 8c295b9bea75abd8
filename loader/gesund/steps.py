"""A Gesund-style model's steps: preprocess, predict, postprocess and loss, found as such bundles
write them, and called with the arguments each one accepts.

Preprocess and postprocess are the model's own attributes when it sets them (``self.preprocess =
Preprocess()``), else the ``Preprocess``/``Postprocess`` classes of preprocess.py/postprocess.py.
The loss is the model's ``loss`` (a method, or an object with ``__call__`` or ``calc_loss``), else
what loss.py defines: a ``loss`` function, or a class with ``__call__``/``calc_loss``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from loader.errors import BundleError
from loader.importer import BundlePackage

Step = Callable[..., Any]
#: Function names a loss.py may define its loss under, tried in order.
_LOSS_FUNCTIONS = ("loss", "custom_loss_fxn", "calc_loss")


def _identity(value: Any, *_: Any) -> Any:
    return value


def _positional_limit(step: Step) -> int | None:
    """How many positional arguments ``step`` takes (None: any number)."""
    try:
        parameters = inspect.signature(step).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def flexible(step: Step) -> Step:
    """``step`` called with as many leading arguments as it accepts.

    ``postprocess(output, batch, context)`` reaches a ``__call__(self, input, batch=False)`` as
    ``(output, batch)``.

    >>> flexible(lambda x: x + 1)(1, False, {})
    2
    """
    limit = _positional_limit(step)

    def call(*args: Any) -> Any:
        return step(*(args if limit is None else args[:limit]))

    return call


def _module(package: BundlePackage, name: str) -> ModuleType | None:
    if not (Path(package.root) / f"{name}.py").is_file():
        return None
    return package.import_module(name)


def _own_classes(module: ModuleType) -> list[type]:
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and value.__module__ == module.__name__
    ]


def _stage(model: Any, package: BundlePackage, attribute: str, class_name: str) -> Step:
    own = getattr(model, attribute, None)
    if callable(own):
        return flexible(own)
    module = _module(package, attribute)
    if module is not None:
        cls = getattr(module, class_name, None)
        instance = cls() if inspect.isclass(cls) else None
        if callable(instance):
            return flexible(instance)
    return _identity


def _defines(cls: type, name: str) -> bool:
    return any(name in vars(klass) for klass in cls.__mro__[:-1])


def _as_loss(candidate: Any) -> Step | None:
    if inspect.isclass(candidate):
        try:
            candidate = candidate()
        except TypeError as exc:
            raise BundleError(
                f"loss.py: {candidate.__qualname__}() cannot be built without arguments: {exc}"
            ) from None
    if callable(candidate):
        return flexible(candidate)
    calc = getattr(candidate, "calc_loss", None)
    return flexible(calc) if callable(calc) else None


def _loss(model: Any, package: BundlePackage) -> Step | None:
    own = getattr(model, "loss", None)
    if own is not None and (step := _as_loss(own)) is not None:
        return step
    module = _module(package, "loss")
    if module is None:
        return None
    for name in _LOSS_FUNCTIONS:
        function = getattr(module, name, None)
        if inspect.isfunction(function):
            return flexible(function)
    for cls in _own_classes(module):
        if _defines(cls, "__call__") or _defines(cls, "calc_loss"):
            return _as_loss(cls)
    return None


@dataclass(frozen=True)
class Steps:
    """The callables one request goes through; ``loss`` is None when the bundle has none."""

    preprocess: Step
    predict: Step
    postprocess: Step
    loss: Step | None

    @classmethod
    def of(cls, model: Any, package: BundlePackage) -> Steps:
        """Find the steps of a loaded model instance; BundleError when it cannot predict."""
        predict = getattr(model, "predict", None)
        if not callable(predict):
            raise BundleError(f"{type(model).__qualname__} has no predict(self, input) method")
        return cls(
            preprocess=_stage(model, package, "preprocess", "Preprocess"),
            predict=predict,
            postprocess=_stage(model, package, "postprocess", "Postprocess"),
            loss=_loss(model, package),
        )
