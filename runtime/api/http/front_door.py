"""Runs the HTTP app with uvicorn on the server's own event loop, next to the gRPC server.

The socket is bound here (port "auto" = any free one, read back after binding), then handed to
uvicorn; TLS uses the same files as gRPC, client certificates included.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import ssl
from pathlib import Path

import uvicorn
from fastapi import FastAPI

logger = logging.getLogger(__name__)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


class HttpFrontDoor:
    """One uvicorn server for ``app``; ``await start()`` binds and returns the port."""

    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        tls: tuple[Path, Path, Path | None] | None = None,
        grace_s: float = 5.0,
    ) -> None:
        cert, key, client_ca = tls if tls is not None else (None, None, None)
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            loop="none",  # the server's loop, already running
            lifespan="off",
            log_config=None,  # the server's logging, not uvicorn's own setup
            access_log=False,
            server_header=False,
            ws="websockets-sansio",
            ssl_certfile=str(cert) if cert is not None else None,
            ssl_keyfile=str(key) if key is not None else None,
            ssl_ca_certs=str(client_ca) if client_ca is not None else None,
            ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca is not None else ssl.CERT_NONE,
            timeout_graceful_shutdown=max(1, math.ceil(grace_s)),
        )
        self._server = uvicorn.Server(self._config)
        self._socket: socket.socket | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> int:
        config = self._config
        if not config.loaded:
            config.load()
        self._server.lifespan = config.lifespan_class(config)
        self._socket = _bind(config.host, config.port)
        self.port = int(self._socket.getsockname()[1])
        await self._server.startup(sockets=[self._socket])
        self._loop_task = asyncio.create_task(self._server.main_loop())
        return self.port

    async def stop(self) -> None:
        """Stop taking connections; let open requests finish within the grace period."""
        if self._loop_task is None:
            return
        self._server.should_exit = True
        await self._loop_task
        self._loop_task = None
        await self._server.shutdown(sockets=[self._socket] if self._socket else None)
