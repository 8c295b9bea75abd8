"""Serves a Gesund-style model class as a ModelRunner, and the format's ``load``.

The class is built as ``cls(model_path)`` and loaded with ``load()``; each request then runs
``postprocess(predict(preprocess(x, batch)), batch, context)``. With batching on, a batch reaches
preprocess as a list with ``batch=True``. A request whose ``ground_truth`` parameter is set also
gets ``loss(y_pred, ground_truth)`` back (it runs on its own, so the loss sees its prediction).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from loader.errors import BundleError
from loader.gesund.images import IMAGE_MODEL_TYPES, model_input
from loader.gesund.platform import GesundPackage
from loader.gesund.response import NO_LOSS, answer, field_names, with_loss
from loader.gesund.steps import Steps
from loader.importer import BundlePackage
from loader.prepared import PreparedBundle
from loader.requirements import RequirementProblem
from registry.errors import HookNotImplementedError, InvalidInputError
from registry.runner import ModelContext, ModelRunner, Request

#: The Predict parameter that carries ground truth for the model's loss.
GROUND_TRUTH = "ground_truth"


@dataclass(frozen=True)
class GesundBinding:
    """What a generated runner class serves: the bundle's model class and where it lives."""

    model_cls: type
    fields: frozenset[str] | None  # the registered Response's keys; None: no schema
    package: GesundPackage
    weights: Path
    image_model: bool = False  # its input must be an image (see images.model_input)


@contextlib.contextmanager
def _no_grad() -> Iterator[None]:
    """Inference without autograd when the bundle uses torch (the platform ran it so)."""
    if "torch" not in sys.modules:
        yield
        return
    with importlib.import_module("torch").no_grad():
        yield


def _context(request: Request, model: str) -> dict[str, Any]:
    return {"model": model, "request_id": request.id, "parameters": dict(request.parameters)}


class GesundRunner(ModelRunner):
    """A Gesund-style model behind the ModelRunner hooks; one subclass per bundle (``binding``)."""

    binding: ClassVar[GesundBinding]

    def __init__(self, context: ModelContext) -> None:
        super().__init__(context)
        self.model: Any = None
        self.steps: Steps | None = None

    def load_model(self) -> None:
        binding = self.binding
        binding.package.platform.device = self.context.device
        model = binding.model_cls(str(binding.weights))
        model.load()
        self.steps = Steps.of(model, binding.package)
        self.model = model

    def predict(self, request: Request) -> Any:
        steps = self._steps()
        x = model_input(request, image_model=self.binding.image_model)
        with _no_grad():
            y_pred = steps.predict(steps.preprocess(x, False))
            loss = self._loss(steps, y_pred, request)
            out = steps.postprocess(y_pred, False, _context(request, self.context.name))
        return answer(out, self.binding.fields, loss)

    def _steps(self) -> Steps:
        if self.steps is None:
            raise RuntimeError("the Gesund-style model is not loaded")
        return self.steps

    def _loss(self, steps: Steps, y_pred: Any, request: Request) -> Any:
        if GROUND_TRUTH not in request.parameters:
            return NO_LOSS
        if steps.loss is None:
            raise HookNotImplementedError(
                f"model {self.context.name!r} has no loss: its class defines no loss(self,"
                f" y_pred, gts) and loss.py none; send no {GROUND_TRUTH!r} parameter",
                metadata={"model": self.context.name},
            )
        return steps.loss(y_pred, request.parameters[GROUND_TRUTH])


class GesundBatchRunner(GesundRunner):
    """With batching on: requests reach preprocess together, as a list with ``batch=True``."""

    def predict_batch(self, requests: list[Request]) -> list[Any]:
        """One answer per request; a request whose input is refused gets its InvalidInputError
        in its place (failing only that request) and the others are batched without it."""
        steps = self._steps()
        answers: dict[int, Any] = {}
        inputs: list[Any] = []
        batched: list[int] = []
        for index, request in enumerate(requests):
            if GROUND_TRUTH in request.parameters:
                continue
            try:
                inputs.append(model_input(request, image_model=self.binding.image_model))
            except InvalidInputError as exc:
                answers[index] = exc
                continue
            batched.append(index)
        if batched:
            contexts = [_context(requests[i], self.context.name) for i in batched]
            with _no_grad():
                outs = steps.postprocess(
                    steps.predict(steps.preprocess(inputs, True)), True, contexts
                )
            if not isinstance(outs, list | tuple) or len(outs) != len(batched):
                got = len(outs) if isinstance(outs, list | tuple) else type(outs).__name__
                raise ValueError(
                    f"postprocess(..., batch=True) returned {got} for {len(batched)} inputs;"
                    " it must return a list with one dict per input"
                )
            answers.update(
                {i: answer(out, self.binding.fields) for i, out in zip(batched, outs, strict=True)}
            )
        for index, request in enumerate(requests):
            if index not in answers:  # ground truth: its own prediction feeds the loss
                try:
                    answers[index] = self.predict(request)
                except InvalidInputError as exc:
                    answers[index] = exc
        return [answers[index] for index in range(len(requests))]


def gesund_load(
    prepared: PreparedBundle, package: BundlePackage, problems: list[RequirementProblem]
) -> tuple[type[ModelRunner], type | None]:
    """Import the bundle's code and build the runner class serving its namespace."""
    if not isinstance(package, GesundPackage):
        raise BundleError("a Gesund-style bundle must be mounted by loader.gesund's mount")
    package.import_code("model", problems)
    if (package.root / "schema.py").is_file():
        package.import_code("schema", problems)
    platform = package.platform
    model_cls = platform.modelservice.get(prepared.name)
    if model_cls is None:
        found = ", ".join(sorted(platform.modelservice.modules)) or "none"
        raise BundleError(
            f"model.py registers no model under {prepared.name!r} (registered: {found});"
            f" use @modelservice.register_module(name={prepared.name!r}, default=False)"
        )
    schema = platform.outschema.get(prepared.name)
    weights = prepared.config.weights
    if weights is None:
        raise BundleError("a Gesund-style bundle needs a weights file")
    binding = GesundBinding(
        model_cls,
        field_names(schema) if schema is not None else None,
        package,
        prepared.root / weights,
        image_model=prepared.config.model_type in IMAGE_MODEL_TYPES,
    )
    base = GesundBatchRunner if prepared.config.batching.max_batch_size > 1 else GesundRunner
    runner = type(
        f"Gesund_{model_cls.__name__}", (base,), {"binding": binding, "__module__": __name__}
    )
    return runner, with_loss(schema)
