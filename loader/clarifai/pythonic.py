"""Serves a ``ModelClass`` whose ``@ModelClass.method`` methods take and return typed values.

Predict, Generate and Stream each call the method the request's ``method`` parameter names (or
the default one for that RPC); inputs and parameters become its arguments by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

from loader.clarifai.adapter import ClarifaiRunner, adapter_class, relay
from loader.clarifai.arguments import call_arguments, streamed_items
from loader.clarifai.results import to_output
from loader.clarifai.signatures import METHOD_PARAMETER, Kind, MethodSpec, choose
from registry.runner import Request


class MethodRunner(ClarifaiRunner):
    """Adapter for Python-typed model classes; ``methods`` are the checked marked methods."""

    methods: ClassVar[Mapping[str, MethodSpec]]

    def _method(self, kind: Kind, request: Request) -> tuple[MethodSpec, Any]:
        spec = choose(self.methods, kind, request.parameters.get(METHOD_PARAMETER))
        return spec, getattr(self.model, spec.name)


def _predict(self: MethodRunner, request: Request) -> Any:
    spec, method = self._method("predict", request)
    return to_output(method(**call_arguments(spec, request)))


def _generate(self: MethodRunner, request: Request) -> Iterator[Any]:
    spec, method = self._method("generate", request)
    return relay(method(**call_arguments(spec, request)), to_output)


def _stream(self: MethodRunner, requests: Iterable[Request]) -> Iterator[Any]:
    incoming = iter(requests)
    first = next(incoming, None)
    if first is None:
        return iter(())
    spec, method = self._method("stream", first)
    kwargs = call_arguments(spec, first)
    assert spec.streamed is not None
    kwargs[spec.streamed.name] = streamed_items(spec, first, incoming)
    return relay(method(**kwargs), to_output)


_HOOKS: dict[str, Callable[..., Any]] = {
    "predict": _predict,
    "generate": _generate,
    "stream": _stream,
}


def method_runner(model_class: type, methods: Mapping[str, MethodSpec]) -> type[ClarifaiRunner]:
    """The adapter class for ``model_class``, answering the RPCs its methods serve."""
    kinds: set[str] = {spec.kind for spec in methods.values()}
    hooks = {name: hook for name, hook in _HOOKS.items() if name in kinds}
    return adapter_class(MethodRunner, model_class, hooks, methods=dict(methods))
