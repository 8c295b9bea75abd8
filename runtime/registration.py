"""Registers a generated servicer with some of its method handlers rewritten, once, at start-up.

A generated ``add_*_to_server`` registers fixed handlers; this runs it against a stand-in server
to capture them, rewrites each (to measure it, or to change how it serializes), and registers
the result on the real server both ways gRPC looks handlers up.

>>> add_rewritten(
...     runtime_pb2_grpc.add_ModelRuntimeServicer_to_server, servicer, server, rewrite
... )  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Handler = Any  # grpc.RpcMethodHandler; grpc ships no type information
Rewrite = Callable[[str, Handler], Handler]  # (method name, handler) -> the handler to register


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
