"""Serves a proto-style model over PostModelOutputsRequest / MultiOutputResponse messages.

Two generations of the SDK write such models. Models for SDK 10.9-11.0 subclass ``ModelRunner``
and define ``predict(request)``, ``generate(request)`` and ``stream(request_iterator)``. Models for
later SDKs may define the platform's own RPC methods on their class instead:
``PostModelOutputs(request)``, ``GenerateModelOutputs(request)`` and
``StreamModelOutputs(request_iterator)``. Either way each method is one of modelrt's three hooks;
where a class defines both names for a hook, the RPC-named one wins, as on the platform.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

from loader.clarifai.adapter import ClarifaiRunner, adapter_class, relay
from loader.clarifai.protos import ModelIdentity, ProtoCodec, grpc_messages
from loader.clarifai.types import is_platform_class
from loader.errors import BundleError
from registry.runner import ModelContext, Request

#: modelrt hook -> the model's method names that serve it, in the order they are looked for.
HOOKS: Mapping[str, tuple[str, ...]] = {
    "predict": ("PostModelOutputs", "predict"),
    "generate": ("GenerateModelOutputs", "generate"),
    "stream": ("StreamModelOutputs", "stream"),
}
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class ProtoRunner(ClarifaiRunner):
    """Adapter for proto-style model classes; ``targets`` maps each hook to the model's method."""

    concept_names: ClassVar[Mapping[str, str]] = {}
    platform_ids: ClassVar[Mapping[str, str]] = {}
    targets: ClassVar[Mapping[str, str]] = {}

    def __init__(self, context: ModelContext) -> None:
        super().__init__(context)
        identity = ModelIdentity(context.name, context.version, **self.platform_ids)
        self.codec = ProtoCodec(identity, self.concept_names)

    def target(self, hook: str) -> Callable[..., Any]:
        method: Callable[..., Any] = getattr(self.model, self.targets[hook])
        return method


def _predict(self: ProtoRunner, request: Request) -> Any:
    return self.codec.response(self.target("predict")(self.codec.request(request)))


def _generate(self: ProtoRunner, request: Request) -> Iterator[Any]:
    produced = self.target("generate")(self.codec.request(request))
    return relay(produced, self.codec.response)


def _stream(self: ProtoRunner, requests: Iterable[Request]) -> Iterator[Any]:
    messages = (self.codec.request(request) for request in requests)
    return relay(self.target("stream")(messages), self.codec.response)


_ADAPTERS: dict[str, Callable[..., Any]] = {
    "predict": _predict,
    "generate": _generate,
    "stream": _stream,
}


def _check_proto_signature(model_class: type, method: str) -> None:
    """A proto-style method takes one request (or request iterator) argument after ``self``."""
    parameters = list(inspect.signature(getattr(model_class, method)).parameters.values())[1:]
    if len(parameters) == 1 and parameters[0].kind in _POSITIONAL:
        return
    names = ", ".join(p.name for p in parameters)
    raise BundleError(
        f"model class {model_class.__name__}: {method}({names}) is neither marked with"
        f" @ModelClass.method nor proto-style {method}(request)"
    )


def _own_method(model_class: type, name: str) -> bool:
    """Whether the model's code (not the platform's base class) defines ``name``."""
    owner = next((k for k in model_class.__mro__ if name in vars(k)), None)
    return owner is not None and owner is not object and not is_platform_class(owner)


def proto_hooks(model_class: type) -> dict[str, str]:
    """Hook -> the method of ``model_class`` that serves it (only methods its code defines)."""
    found: dict[str, str] = {}
    for hook, names in HOOKS.items():
        method = next((name for name in names if _own_method(model_class, name)), None)
        if method is not None:
            _check_proto_signature(model_class, method)
            found[hook] = method
    return found


def proto_runner(
    model_class: type,
    hooks: Mapping[str, str],
    concept_names: Mapping[str, str],
    platform_ids: Mapping[str, str],
) -> type[ClarifaiRunner]:
    """The adapter class for a proto-style ``model_class`` answering ``hooks``."""
    grpc_messages()  # fail the load now, with advice, when clarifai-grpc is missing
    chosen = {hook: _ADAPTERS[hook] for hook in hooks}
    return adapter_class(
        ProtoRunner,
        model_class,
        chosen,
        concept_names=dict(concept_names),
        platform_ids=dict(platform_ids),
        targets=dict(hooks),
    )
