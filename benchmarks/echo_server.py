"""The ceiling: a bare grpc.aio server whose one unary method returns the request bytes.

No protobuf parsing, no interceptor, no model: what Python gRPC alone costs per call on this
machine. Run as ``python benchmarks/echo_server.py --port-file FILE``; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import reference

SERVICE = "bench.Echo"
METHOD = "Echo"
FULL_METHOD = f"/{SERVICE}/{METHOD}"


async def echo(request: bytes, context: Any) -> bytes:
    """Return the request unchanged (a same-sized reply)."""
    return request


async def serve(host: str, port_file: Path) -> None:
    """Serve the echo method on ``host`` (a free port, written to ``port_file``) until a signal."""
    server = grpc.aio.server(options=reference.OPTIONS)
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    await reference.serve_until_signal(server, host, port_file)


if __name__ == "__main__":
    reference.main(__doc__, serve)
