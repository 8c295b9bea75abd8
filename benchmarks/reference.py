"""What the reference servers (echo ceiling, process-boundary floor) share: start, wait, stop.

Each runs as ``python benchmarks/<server>.py --port-file FILE`` on a free port of 127.0.0.1 and
stops on SIGTERM or SIGINT. They run on the event loop modelrt runs on (uvloop when installed).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc

from runtime.loops import new_event_loop

MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # the same limits modelrt sets by default
OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.so_reuseport", 0),
]


async def serve_until_signal(server: grpc.aio.Server, host: str, port_file: Path) -> None:
    """Listen on ``host`` (a free port, written to ``port_file``) until SIGTERM or SIGINT."""
    port = server.add_insecure_port(f"{host}:0")
    await server.start()
    await asyncio.to_thread(port_file.write_text, f"{port}\n", "utf-8")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(1)


def main(description: str, serve: Callable[[str, Path], Coroutine[Any, Any, None]]) -> None:
    """The command line every reference server shares: ``--host`` and ``--port-file``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument(
        "--event-loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="the loop to run on; the default is modelrt's, so the comparison stays fair",
    )
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=lambda: new_event_loop(args.event_loop)) as runner:
        runner.run(serve(args.host, args.port_file))
