"""Serves a proto-style model: ``predict(request)``, ``generate(request)``,
``stream(request_iterator)`` over PostModelOutputsRequest / MultiOutputResponse messages."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

from loader.clarifai.adapter import ClarifaiRunner, adapter_class, relay
from loader.clarifai.protos import ProtoCodec, grpc_messages
from loader.clarifai.types import is_platform_class
from loader.errors import BundleError
from registry.runner import ModelContext, Request

HOOKS = ("predict", "generate", "stream")
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class ProtoRunner(ClarifaiRunner):
    """Adapter for proto-style model classes."""

    concept_names: ClassVar[Mapping[str, str]] = {}

    def __init__(self, context: ModelContext) -> None:
        super().__init__(context)
        self.codec = ProtoCodec(context.name, self.concept_names)


def _predict(self: ProtoRunner, request: Request) -> Any:
    return self.codec.response(self.model.predict(self.codec.request(request)))


def _generate(self: ProtoRunner, request: Request) -> Iterator[Any]:
    return relay(self.model.generate(self.codec.request(request)), self.codec.response)


def _stream(self: ProtoRunner, requests: Iterable[Request]) -> Iterator[Any]:
    messages = (self.codec.request(request) for request in requests)
    return relay(self.model.stream(messages), self.codec.response)


_HOOKS: dict[str, Callable[..., Any]] = {
    "predict": _predict,
    "generate": _generate,
    "stream": _stream,
}


def _check_proto_signature(model_class: type, hook: str) -> None:
    """A proto-style hook takes one request (or request iterator) argument after ``self``."""
    parameters = list(inspect.signature(getattr(model_class, hook)).parameters.values())[1:]
    if len(parameters) == 1 and parameters[0].kind in _POSITIONAL:
        return
    names = ", ".join(p.name for p in parameters)
    raise BundleError(
        f"model class {model_class.__name__}: {hook}({names}) is neither marked with"
        f" @ModelClass.method nor proto-style {hook}(request)"
    )


def proto_hooks(model_class: type) -> list[str]:
    """The hooks ``model_class`` itself defines (not inherited from the platform's base)."""
    found = []
    for hook in HOOKS:
        owner = next((k for k in model_class.__mro__ if hook in vars(k)), None)
        if owner is not None and owner is not object and not is_platform_class(owner):
            _check_proto_signature(model_class, hook)
            found.append(hook)
    return found


def proto_runner(
    model_class: type, hooks: list[str], concept_names: Mapping[str, str]
) -> type[ClarifaiRunner]:
    """The adapter class for a proto-style ``model_class`` answering ``hooks``."""
    grpc_messages()  # fail the load now, with advice, when clarifai-grpc is missing
    chosen = {hook: _HOOKS[hook] for hook in hooks}
    return adapter_class(ProtoRunner, model_class, chosen, concept_names=dict(concept_names))
