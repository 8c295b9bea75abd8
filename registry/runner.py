"""The model-author contract: the ModelRunner base class, its context and its requests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.errors import HookNotImplementedError, InvalidInputError

#: Inference hooks a model may implement; every other one answers UNIMPLEMENTED.
INFERENCE_HOOKS = ("predict", "predict_batch", "generate", "stream")

_MISSING = object()


@dataclass(frozen=True)
class ModelContext:
    """What the runtime tells a model instance about itself.

    ``bundle_dir`` is the unpacked bundle (open weights relative to it), ``config`` the bundle's
    config as a plain dict, ``parameters`` its free-form ``parameters`` section, and ``device``
    the device the runtime assigned ("cpu" or "cuda:N"): models never choose their device.
    ``weights_loader`` is the runtime's framework loader behind ``load_weights`` (injected, since
    the model-author API depends on no loader code).
    """

    name: str
    version: str
    bundle_dir: Path
    device: str = "cpu"
    config: Mapping[str, Any] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("modelrt.model"))
    #: ``(bundle_dir, name, device, **options) -> model``; set by the runtime.
    weights_loader: Callable[..., Any] | None = field(default=None, repr=False, compare=False)

    def path(self, relative: str) -> Path:
        """Return a path inside the bundle, e.g. ``self.context.path("weights/model.onnx")``."""
        return self.bundle_dir / relative

    def load_weights(self, name: str | None = None, **options: Any) -> Any:
        """Load the bundle's weights onto this instance's device with the framework's loader.

        ``name`` is relative to the bundle; by default the config's ``weights``, else the one
        weights file the bundle holds (.onnx, .pt/.pth, .h5/.keras, SavedModel folder,
        .joblib/.pkl/.sklearn). ``options``: ``framework``, ``architecture`` (the class a PyTorch
        state dict belongs to) and ``config`` (its constructor's keyword arguments).

        >>> self.session = self.context.load_weights()  # doctest: +SKIP
        >>> self.net = self.context.load_weights("net.pt", architecture=Net)  # doctest: +SKIP
        """
        if self.weights_loader is None:
            raise RuntimeError("load_weights needs the runtime's loader; this context has none")
        if name is None:
            name = self.config.get("weights")
        return self.weights_loader(self.bundle_dir, name, self.device, **options)


@dataclass(frozen=True)
class Request:
    """One inference request as a model sees it.

    ``inputs`` maps names to numpy arrays, bytes, str or JSON values; ``parameters`` holds the
    caller's free-form parameters. ``request["image"]`` raises InvalidInputError naming a missing
    input, which the caller receives as INVALID_ARGUMENT.

    >>> Request(inputs={"text": "hi"}).get("text")
    'hi'
    """

    inputs: Mapping[str, Any] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""

    def __getitem__(self, name: str) -> Any:
        try:
            return self.inputs[name]
        except KeyError:
            known = ", ".join(sorted(self.inputs)) or "none"
            raise InvalidInputError(
                f"missing input {name!r} (inputs sent: {known})", metadata={"input": name}
            ) from None

    def get(self, name: str, default: Any = None) -> Any:
        """Return input ``name``, or ``default`` when the request does not carry it."""
        return self.inputs.get(name, default)

    def param(self, name: str, default: Any = _MISSING) -> Any:
        """Return parameter ``name``; without a default a missing one is an InvalidInputError."""
        if name in self.parameters:
            return self.parameters[name]
        if default is _MISSING:
            raise InvalidInputError(f"missing parameter {name!r}", metadata={"parameter": name})
        return default


class ModelRunner:
    """Base class of every native model. Override the hooks the model supports.

    Each hook may be ``def`` or ``async def``. ``predict`` takes a Request and returns a dict of
    named outputs or a pydantic object; ``predict_batch`` takes a list and returns a list of the
    same length; ``generate`` yields partial outputs; ``stream`` maps an iterator of requests to an
    iterator of outputs.

    >>> class Echo(ModelRunner):
    ...     def predict(self, request):
    ...         return {"text": request["text"]}
    """

    def __init__(self, context: ModelContext) -> None:
        self.context = context

    def load_model(self) -> None:
        """Load weights and warm up; called once per instance before any request."""

    def predict(self, request: Request) -> Any:
        """Answer one request."""
        raise HookNotImplementedError(f"{type(self).__name__} does not implement predict")

    def predict_batch(self, requests: list[Request]) -> list[Any]:
        """Answer a batch of requests with a list of the same length, in order.

        A ModelrtError (``InvalidInputError``...) in a request's place fails only that request.
        """
        raise HookNotImplementedError(f"{type(self).__name__} does not implement predict_batch")

    def generate(self, request: Request) -> Iterator[Any] | AsyncIterator[Any]:
        """Yield partial outputs (tokens) for one request."""
        raise HookNotImplementedError(f"{type(self).__name__} does not implement generate")

    def stream(
        self, requests: Iterable[Request] | AsyncIterator[Request]
    ) -> Iterator[Any] | AsyncIterator[Any]:
        """Consume requests as they arrive and yield outputs as they are produced."""
        raise HookNotImplementedError(f"{type(self).__name__} does not implement stream")


def implemented_hooks(cls: type[ModelRunner]) -> frozenset[str]:
    """Names of the inference hooks ``cls`` overrides."""
    return frozenset(
        hook for hook in INFERENCE_HOOKS if getattr(cls, hook) is not getattr(ModelRunner, hook)
    )


def capabilities(cls: type[ModelRunner]) -> tuple[str, ...]:
    """The RPCs a runner class answers: a subset of ("predict", "generate", "stream")."""
    hooks = implemented_hooks(cls)
    caps = []
    if hooks & {"predict", "predict_batch"}:
        caps.append("predict")
    caps.extend(hook for hook in ("generate", "stream") if hook in hooks)
    return tuple(caps)
