"""WeightsModel: serves a bundle that has weights and a config but no code, through Predict.

Inputs are the config's ``inputs`` (by name, in order; every input sent when none are
declared), outputs its ``outputs`` or the framework's defaults. A batch is run as one call when
its requests stack along the first dimension, else request by request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from loader.frameworks import framework_support
from loader.frameworks.contract import OutputBinding, Predictor
from registry.runner import ModelRunner, Request

if TYPE_CHECKING:
    from loader.frameworks.contract import Array


class WeightsModel(ModelRunner):
    """The built-in model of a weights-only bundle.

    >>> WeightsModel(context).load_model()  # doctest: +SKIP
    """

    #: The class a PyTorch state dict belongs to (the config's ``architecture``), or None.
    architecture: ClassVar[type | None] = None

    def load_model(self) -> None:
        config = self.context.config
        framework = str(config.get("framework") or "other")
        options: dict[str, Any] = {}
        if framework != "other":
            options["framework"] = framework
        if self.architecture is not None:
            options["architecture"] = self.architecture
            options["config"] = dict(config.get("architecture_config") or {})
        self.model = self.context.load_weights(**options)
        declared = config.get("outputs")
        outputs = (
            [OutputBinding(o["name"], o.get("source")) for o in declared] if declared else None
        )
        self.input_names: list[str] = [spec["name"] for spec in config.get("inputs") or ()]
        self.predictor: Predictor = framework_support(framework).predictor(
            self.model, outputs, self.context.device
        )

    def _inputs(self, request: Request) -> dict[str, Array]:
        import numpy as np

        names = self.input_names or sorted(request.inputs)
        return {name: np.asarray(request[name]) for name in names if name in request.inputs}

    def predict(self, request: Request) -> dict[str, Array]:
        return self.predictor(self._inputs(request))

    def predict_batch(self, requests: list[Request]) -> list[dict[str, Array]]:
        import numpy as np

        feeds = [self._inputs(request) for request in requests]
        rows = _rows(feeds)
        if len(feeds) == 1 or rows is None:
            return [self.predictor(feed) for feed in feeds]
        merged = {name: np.concatenate([feed[name] for feed in feeds]) for name in feeds[0]}
        results = self.predictor(merged)
        total = sum(rows)
        if any(np.ndim(value) == 0 or len(value) != total for value in results.values()):
            return [self.predictor(feed) for feed in feeds]  # outputs are not per row
        bounds = np.cumsum(rows)[:-1]
        parts = {name: np.split(value, bounds) for name, value in results.items()}
        return [
            {name: split[index] for name, split in parts.items()} for index in range(len(feeds))
        ]


def _rows(feeds: list[dict[str, Array]]) -> list[int] | None:
    """Rows each feed contributes when every feed stacks along dimension 0, else None."""
    first = feeds[0]
    if not first:
        return None
    rows = []
    for feed in feeds:
        if feed.keys() != first.keys():
            return None
        counts = set()
        for name, value in feed.items():
            head = first[name]
            if value.ndim == 0 or value.shape[1:] != head.shape[1:] or value.dtype != head.dtype:
                return None
            counts.add(value.shape[0])
        if len(counts) != 1:
            return None
        rows.append(counts.pop())
    return rows


def runner_for(architecture: type | None) -> type[WeightsModel]:
    """WeightsModel, or a subclass of it bound to the bundle's architecture class."""
    if architecture is None:
        return WeightsModel
    attributes: Mapping[str, Any] = {"architecture": architecture, "__module__": __name__}
    return type(f"WeightsModel_{architecture.__name__}", (WeightsModel,), dict(attributes))
