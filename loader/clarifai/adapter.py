"""The ModelRunner that wraps a Clarifai model class: builds it, loads it, relays its outputs.

Each bundle gets a generated subclass holding only the hooks the model supports, so the runtime
serves it like any native model (and answers UNIMPLEMENTED for the rest).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from loader.clarifai.checkpoints import explain_failure
from loader.clarifai.types import is_platform_class
from loader.errors import BundleError
from registry.runner import ModelContext, ModelRunner


def _required_init_args(cls: type) -> list[str]:
    try:
        init = vars(_init_owner(cls))["__init__"]
        parameters = list(inspect.signature(init).parameters.values())[1:]
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in parameters
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def _init_owner(cls: type) -> type:
    return next(klass for klass in cls.__mro__ if "__init__" in vars(klass))


def check_constructible(cls: type) -> None:
    """Refuse, at load, a model class whose own ``__init__`` needs arguments."""
    owner = _init_owner(cls)
    required = _required_init_args(cls)
    if required and not is_platform_class(owner) and owner is not object:
        raise BundleError(
            f"model class {cls.__name__}: __init__ requires {', '.join(required)}; modelrt"
            " builds the model with no arguments (load weights in load_model)"
        )


def new_model(cls: type) -> Any:
    """An instance of the user's class. A platform base whose ``__init__`` wants runner ids (the
    real SDK's ModelRunner) is skipped: those ids mean nothing here."""
    owner = _init_owner(cls)
    if is_platform_class(owner) and _required_init_args(cls):
        return object.__new__(cls)
    return cls()


def relay(produced: Any, convert: Callable[[Any], Any]) -> Iterator[Any]:
    """Convert what a model generator yields; closing this closes the model's generator."""
    try:
        for item in produced:
            yield convert(item)
    finally:
        close = getattr(produced, "close", None)
        if callable(close):
            close()


class ClarifaiRunner(ModelRunner):
    """Base of the generated adapters: ``self.model`` is the user's model object."""

    model_class: ClassVar[type]

    def __init__(self, context: ModelContext) -> None:
        super().__init__(context)
        self.model = new_model(self.model_class)

    def load_model(self) -> None:
        # Looked up on the class: an SDK base built without its __init__ may answer instance
        # lookups of missing names badly (the real BaseRunner recurses in __getattr__).
        load = getattr(type(self.model), "load_model", None)
        if not callable(load):
            return
        with self.checkpoint_errors():
            load(self.model)

    @contextmanager
    def checkpoint_errors(self) -> Iterator[None]:
        """Turn a failure to open missing checkpoint files into the error that says so."""
        try:
            yield
        except Exception as exc:
            missing = explain_failure(self.context.bundle_dir, exc)
            if missing is None:
                raise
            raise missing from exc


def _explained(hook: Callable[..., Any]) -> Callable[..., Any]:
    """``hook`` with checkpoint failures explained, in the call and in the items it yields."""

    def items(runner: ClarifaiRunner, produced: Iterator[Any]) -> Iterator[Any]:
        with runner.checkpoint_errors():
            yield from produced

    @functools.wraps(hook)
    def call(runner: ClarifaiRunner, *args: Any) -> Any:
        with runner.checkpoint_errors():
            result = hook(runner, *args)
        return items(runner, result) if isinstance(result, Iterator) else result

    return call


def adapter_class(
    base: type[ClarifaiRunner],
    model_class: type,
    hooks: Mapping[str, Callable[..., Any]],
    **attributes: Any,
) -> type[ClarifaiRunner]:
    """A subclass of ``base`` for ``model_class`` with exactly ``hooks`` implemented."""
    namespace = {
        **{name: _explained(hook) for name, hook in hooks.items()},
        **attributes,
        "model_class": model_class,
        "__module__": base.__module__,
        "__doc__": f"Serves the Clarifai model class {model_class.__qualname__}.",
    }
    return type(f"Clarifai{model_class.__name__}", (base,), namespace)
