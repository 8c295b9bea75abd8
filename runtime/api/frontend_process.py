"""A helper gRPC front end (``--frontends N``): one more process serving the server's port.

Started by the main process (runtime/frontends.py) as ``python -m runtime.api.frontend_process``,
it reads one JSON line on stdin (the settings, the address to bind, the main process's Unix
sockets, its slot), binds the port with SO_REUSEPORT (same TLS, auth and message limits as the
main process), writes ``ready`` on stdout, and serves: Predict and OIP ModelInfer over the
predict link (link_client.py), every other method proxied to the main process's gRPC server
(proxy.py).
No model, queue or HTTP port lives here. It ends when stdin closes or the link breaks (the main
process is gone), and drains on SIGTERM (SIGINT is the main process's to answer).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status

from runtime.api import link_frames
from runtime.api.auth import AccessPolicy, AuthInterceptor
from runtime.api.grpc_options import server_options
from runtime.api.link_client import LinkDownError, LinkPool
from runtime.api.proxy import Handler, ProxyHandler
from runtime.api.tls import server_credentials
from runtime.loops import new_event_loop
from runtime.settings import ServerSettings

logger = logging.getLogger(__name__)
PREDICT = "/modelrt.v1.ModelRuntime/Predict"
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
READY = "ready"


@dataclass(frozen=True)
class Launch:
    """What the main process tells a helper front end on its stdin."""

    settings: ServerSettings
    address: str  # host:port to bind, shared with the main process
    grpc_socket: Path  # the main process's gRPC server
    link_socket: Path  # its predict link
    slot: int  # 1..N-1; the main process is 0

    def to_json(self) -> str:
        """One line; the tokens in clear (it goes down a pipe, never a command line)."""
        settings = self.settings.model_dump(mode="json")
        for name in ("admin_token", "inference_token"):
            token = getattr(self.settings, name)
            settings[name] = None if token is None else token.get_secret_value()
        fields = {"address": self.address, "slot": self.slot}
        sockets = {"grpc_socket": str(self.grpc_socket), "link_socket": str(self.link_socket)}
        return json.dumps({"settings": settings, **fields, **sockets})

    @classmethod
    def from_json(cls, line: str) -> Launch:
        data: dict[str, Any] = json.loads(line)
        return cls(
            settings=ServerSettings(**data["settings"]),
            address=data["address"],
            grpc_socket=Path(data["grpc_socket"]),
            link_socket=Path(data["link_socket"]),
            slot=int(data["slot"]),
        )


def _linked_handler(pool: LinkPool, kind: link_frames.Kind) -> Handler:
    """A unary call (``kind``: CALL for Predict, INFER for ModelInfer), bytes in and out,
    answered by the main process over the predict link."""

    async def linked(request: bytes, context: Any) -> bytes:
        try:
            ok, body = await pool.call(request, context.time_remaining(), kind)
        except LinkDownError:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
            raise
        if not ok:
            await context.abort_with_status(
                rpc_status.to_status(status_pb2.Status.FromString(body))
            )
        return body

    return grpc.unary_unary_rpc_method_handler(linked)


def _bind(server: grpc.aio.Server, launch: Launch) -> None:
    credentials = server_credentials(launch.settings)
    if credentials is None:
        server.add_insecure_port(launch.address)
    else:
        server.add_secure_port(launch.address, credentials)


async def serve(launch: Launch) -> None:
    """Serve until SIGTERM (drain) or until the main process goes away."""
    settings = launch.settings
    policy = AccessPolicy.from_settings(settings)
    interceptors = [AuthInterceptor(policy)] if policy.enforces else []
    server = grpc.aio.server(
        options=server_options(settings, share_port=True), interceptors=interceptors
    )
    limits = server_options(settings, share_port=True)[:2]  # the message size limits
    channel = grpc.aio.insecure_channel(f"unix:{launch.grpc_socket}", options=limits)
    pool = await LinkPool.connect(launch.link_socket, launch.slot)
    linked = {
        PREDICT: _linked_handler(pool, link_frames.CALL),
        MODEL_INFER: _linked_handler(pool, link_frames.INFER),
    }
    server.add_generic_rpc_handlers((ProxyHandler(channel, linked),))
    _bind(server, launch)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    sys.stdout.write(f"{READY}\n")  # the fleet waits for this line (runtime/frontends.py)
    sys.stdout.flush()
    logger.info("front end %d (pid %d) serving %s", launch.slot, os.getpid(), launch.address)
    broken = asyncio.create_task(pool.wait_broken())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait((broken, stopping), return_when=asyncio.FIRST_COMPLETED)
    grace = settings.grace_period_s if stop.is_set() else 0
    await server.stop(grace)
    broken.cancel()
    stopping.cancel()
    await channel.close()
    await pool.close()


def _exit_when_stdin_closes() -> None:
    """The main process holds our stdin open for as long as it lives."""

    def watch() -> None:
        sys.stdin.read()
        os._exit(1)

    threading.Thread(target=watch, name="main-watch", daemon=True).start()


def main() -> None:
    launch = Launch.from_json(sys.stdin.readline())
    logging.basicConfig(
        level=launch.settings.log_level,
        format=f"%(asctime)s %(levelname)s %(name)s [front end {launch.slot}]: %(message)s",
    )
    # Ctrl-C reaches the terminal's whole process group: the main process answers it and stops
    # its helpers itself (SIGTERM), after it has stopped restarting them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_when_stdin_closes()
    choice = launch.settings.event_loop
    with asyncio.Runner(loop_factory=lambda: new_event_loop(choice)) as runner:
        runner.run(serve(launch))


if __name__ == "__main__":
    main()
