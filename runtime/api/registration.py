"""How services are registered on the gRPC server: as generic handlers, rewritten at start-up.

A generated ``add_*_to_server`` registers fixed handlers; ``add_rewritten`` runs it against a
stand-in server to capture them, rewrites each (to measure it, or to change how it serializes),
and registers the result. ``GenericOnly`` keeps generated registrations to generic handlers.

>>> add_rewritten(
...     runtime_pb2_grpc.add_ModelRuntimeServicer_to_server, servicer, GenericOnly(server), rewrite
... )  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Handler = Any  # grpc.RpcMethodHandler; grpc ships no type information
Rewrite = Callable[[str, Handler], Handler]  # (method name, handler) -> the handler to register


class GenericOnly:
    """A server through which generated ``add_*_to_server`` functions add generic handlers only.

    grpc.aio serves every *registered* method (``add_registered_method_handlers``) with a task of
    its own and, on each call that arrives, waits on all of those tasks again (``asyncio.wait``,
    FIRST_COMPLETED). With the 13 methods of ModelRuntime and Health that wait was the largest
    piece of Python work per Predict (a third of the function calls). Generic handlers are served
    by one task and found by a dict lookup. Generated code registers each service both ways, so
    dropping the registered half loses no method.
    """

    def __init__(self, server: Any) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        """Dropped: the generic handlers added alongside carry the same methods."""


class _Registrations:
    """Stands in for a server to capture what a generated ``add_*_to_server`` registers."""

    def __init__(self) -> None:
        self.handlers: dict[str, dict[str, Handler]] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        """Ignored: the registered method handlers below carry the same handlers."""

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        self.handlers[service] = dict(handlers)


def add_rewritten(
    add_to_server: Callable[[Any, Any], None], servicer: Any, server: Any, rewrite: Rewrite
) -> None:
    """Register ``servicer`` as ``add_to_server`` would, each handler passed through ``rewrite``.

    ``server`` may itself be a stand-in (rewrites compose).
    """
    captured = _Registrations()
    add_to_server(servicer, captured)
    for service, handlers in captured.handlers.items():
        rewritten = {name: rewrite(name, handler) for name, handler in handlers.items()}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, rewritten),))
        server.add_registered_method_handlers(service, rewritten)
