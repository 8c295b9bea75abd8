"""Checks `modelrt serve` makes before it starts: the model store folder and free ports.

Each problem is a PreflightError with a one-line message, so a typo in ``--model-store`` or a
port taken by another server stops the start with a clear line instead of a traceback.
"""

from __future__ import annotations

import errno
import logging
import socket

from runtime.settings import ServerSettings

logger = logging.getLogger(__name__)


class PreflightError(Exception):
    """The server cannot start as configured; the message says why in one line."""


def prepare_model_store(settings: ServerSettings) -> None:
    """Refuse a ``model_store`` folder that does not exist, unless asked to create it.

    With ``store_url`` the folder is only this replica's cache, so it is always created.

    >>> prepare_model_store(ServerSettings(model_store=Path("no-such-store")))  # doctest: +SKIP
    PreflightError: model store no-such-store does not exist ...
    """
    store = settings.model_store
    if store.is_dir():
        return
    if store.exists():
        raise PreflightError(f"model store {store} is not a folder")
    if settings.store_url is None and not settings.create_model_store:
        raise PreflightError(
            f"model store {store} does not exist (a mistyped path?); create it, or start with "
            "--create-model-store (MODELRT_CREATE_MODEL_STORE=true) to have it created"
        )
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PreflightError(f"cannot create model store {store}: {exc.strerror or exc}") from None
    logger.info("created the model store folder %s", store)


def check_port_free(
    host: str, port: int | None, what: str, free_pick: str = "0 picks a free one"
) -> None:
    """Refuse a fixed ``port`` on ``host`` that another process is listening on.

    Port 0 (any free port), None (off) and names that do not resolve are left to the server.

    >>> check_port_free("127.0.0.1", 0, "gRPC")
    """
    if not port:
        return
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError):
        return
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As a listening server binds: a port left in TIME_WAIT is free, a listened one is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return  # not ours to judge (e.g. an address this host lacks): the bind says
            raise PreflightError(
                f"{what} port {port} on {host} is already in use (another modelrt serve?); "
                f"stop that process, or choose another port ({free_pick})"
            ) from None


def preflight(settings: ServerSettings) -> None:
    """Every start-up check, in order: the store folder, then the gRPC, HTTP and metrics
    ports."""
    prepare_model_store(settings)
    check_port_free(settings.host, settings.port, "the gRPC")
    if isinstance(settings.http_port, int):  # 0 (off) is left alone; auto picks a free one
        check_port_free(settings.http_host, settings.http_port, "the HTTP", "auto picks one")
    if settings.metrics_port is not None:
        check_port_free(settings.metrics_host, settings.metrics_port, "the metrics")
