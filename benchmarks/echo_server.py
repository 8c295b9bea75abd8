"""The ceiling: a bare grpc.aio server whose one unary method returns the request bytes.

No protobuf parsing, no interceptor, no model: what Python gRPC alone costs per call on this
machine. Run as ``python benchmarks/echo_server.py --port-file FILE``; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

import grpc

SERVICE = "bench.Echo"
METHOD = "Echo"
FULL_METHOD = f"/{SERVICE}/{METHOD}"
MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # the same limits modelrt sets by default


async def echo(request: bytes, context: Any) -> bytes:
    """Return the request unchanged (a same-sized reply)."""
    return request


async def serve(host: str, port_file: Path) -> None:
    """Serve the echo method on ``host`` (a free port, written to ``port_file``) until a signal."""
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.aio.server(options=options)
    handler = grpc.method_handlers_generic_handler(
        SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"{host}:0")
    await server.start()
    await asyncio.to_thread(port_file.write_text, f"{port}\n", "utf-8")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port_file))


if __name__ == "__main__":
    main()
