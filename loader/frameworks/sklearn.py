"""scikit-learn weights (``.joblib``, ``.pkl``, ``.sklearn``): a pickled estimator or pipeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loader.errors import BundleError
from loader.frameworks.contract import (
    FrameworkSupport,
    OutputBinding,
    Predictor,
    import_framework,
)

if TYPE_CHECKING:
    from loader.frameworks.contract import Array

#: Output names a no-code bundle gets by default, and the estimator method behind each name.
DEFAULT_METHODS = {
    "label": "predict",
    "probabilities": "predict_proba",
    "scores": "decision_function",
}


def load(
    path: Path,
    device: str = "cpu",
    *,
    architecture: type | None = None,
    config: Mapping[str, Any] | None = None,
) -> Any:
    """The estimator in ``path``. joblib reads both joblib dumps and plain pickles.

    The file belongs to a bundle the user uploaded, whose code runs in this worker anyway, so
    unpickling it trusts nothing more than the bundle already is.
    """
    import_framework("sklearn", "sklearn")
    joblib = import_framework("joblib", "sklearn")
    return joblib.load(str(path))


def predictor(estimator: Any, outputs: Sequence[OutputBinding] | None, device: str) -> Predictor:
    """``label`` from predict and ``probabilities`` from predict_proba (when the estimator has
    it), or the declared outputs, each naming its method by ``source`` or by a default name."""
    import numpy as np

    if outputs:
        methods = {b.name: b.source or DEFAULT_METHODS.get(b.name, b.name) for b in outputs}
    else:
        methods = {"label": "predict"}
        if hasattr(estimator, "predict_proba"):
            methods["probabilities"] = "predict_proba"
    missing = [m for m in methods.values() if not callable(getattr(estimator, m, None))]
    if missing:
        raise BundleError(
            f"the {type(estimator).__name__} estimator has no method {', '.join(missing)}"
            " for the declared outputs"
        )

    def run(inputs: Mapping[str, Array]) -> dict[str, Array]:
        if len(inputs) != 1:
            raise ValueError(f"a scikit-learn model takes one input (X), got {sorted(inputs)}")
        (features,) = inputs.values()
        return {name: np.asarray(getattr(estimator, m)(features)) for name, m in methods.items()}

    return run


SUPPORT = FrameworkSupport("sklearn", "sklearn", load, predictor)
