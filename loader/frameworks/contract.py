"""What each framework module provides (a weights loader and a predictor) and the lazy import of
its library, which names the pip extra to install when the library is missing."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from loader.errors import BundleError

if TYPE_CHECKING:
    import numpy as np

    Array = np.ndarray[Any, Any]


class WeightsLoader(Protocol):
    """Loads one weights file or folder onto ``device`` and returns the framework's model."""

    def __call__(
        self,
        path: Path,
        device: str,
        *,
        architecture: type | None,
        config: Mapping[str, Any] | None,
    ) -> Any: ...


@dataclass(frozen=True)
class OutputBinding:
    """A named output of a no-code model and where it comes from in the framework's result.

    ``source`` is an ONNX output name, a SavedModel signature key, a scikit-learn method
    ("predict", "predict_proba", ...) or a position ("0", "1", ...) in a tuple result; None means
    the name itself (or the single result).
    """

    name: str
    source: str | None = None


#: Runs a loaded model on named input arrays (in declaration order); returns named outputs.
Predictor = Callable[[Mapping[str, "Array"]], dict[str, "Array"]]


@dataclass(frozen=True)
class FrameworkSupport:
    """One framework: its name, the pip extra that installs it, its loader and predictor."""

    name: str
    extra: str
    load: WeightsLoader
    #: (loaded model, declared outputs or None for the framework's defaults, device) -> Predictor
    predictor: Callable[[Any, Sequence[OutputBinding] | None, str], Predictor]


def import_framework(module: str, extra: str) -> ModuleType:
    """Import a framework library on first use; a missing one names the extra that installs it.

    The server process never imports torch or tensorflow just to start: framework modules call
    this inside their functions, so only the worker that loads such weights pays for the import.

    >>> import_framework("numpy", "onnx").__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BundleError(
            f"loading these weights needs {module!r}, which is not installed"
            f" ({type(exc).__name__}: {exc}); install it with: pip install 'modelrt[{extra}]'",
            reason="FRAMEWORK_NOT_INSTALLED",
            metadata={"module": module, "extra": extra},
        ) from exc


def positional(
    outputs: Sequence[OutputBinding] | None, results: Sequence[Array]
) -> dict[str, Array]:
    """Name a sequence of result arrays: by the declared outputs (in order, or by ``source``
    position), else "output" for a single result and "output_<i>" for several."""
    if not outputs:
        if len(results) == 1:
            return {"output": results[0]}
        return {f"output_{index}": result for index, result in enumerate(results)}
    named: dict[str, Array] = {}
    for index, binding in enumerate(outputs):
        position = int(binding.source) if binding.source is not None else index
        if not 0 <= position < len(results):
            raise ValueError(
                f"output {binding.name!r} needs result {position}, but the model returned"
                f" {len(results)} result(s)"
            )
        named[binding.name] = results[position]
    return named


def by_key(
    results: Mapping[str, Array], outputs: Sequence[OutputBinding] | None
) -> dict[str, Array]:
    """Name a dict of result arrays: the declared outputs by ``source`` (or name), else all of
    them, a single one as "output"."""
    if not outputs:
        if len(results) == 1:
            return {"output": next(iter(results.values()))}
        return dict(results)
    missing = [b.source or b.name for b in outputs if (b.source or b.name) not in results]
    if missing:
        raise ValueError(f"the model returned no {missing} (it returned {sorted(results)})")
    return {b.name: results[b.source or b.name] for b in outputs}
