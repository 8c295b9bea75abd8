"""`modelrt serve`: the server's CLI command, plugged into the client CLI through an entry point."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from runtime.loops import new_event_loop
from runtime.preflight import PreflightError, preflight
from runtime.serve_flags import with_settings_options
from runtime.server import ModelServer, bind_address
from runtime.settings import ServerSettings, load_settings

logger = logging.getLogger(__name__)


def addresses(server: ModelServer) -> str:
    """The lines ``serve`` prints once listening: gRPC, HTTP (playground) and metrics."""
    settings = server.settings
    scheme = "https" if settings.tls else "http"
    count = settings.frontend_count
    shared = f"  ({count} front-end processes share the port)" if count > 1 else ""
    lines = [f"gRPC        {bind_address(settings.host, server.port)}{shared}"]
    if server.http_port is not None:
        http = f"{scheme}://{bind_address(settings.http_host, server.http_port)}"
        lines.append(f"HTTP        {http}/  (playground; OpenAPI docs at {http}/docs)")
    if server.metrics_port is not None:
        where = bind_address(settings.metrics_host, server.metrics_port)
        lines.append(f"metrics     http://{where}/metrics")
    return "\n".join(lines) + "\n"


async def freeze_once_loaded(server: ModelServer) -> None:
    """Once start-up loading has finished, take what start-up built out of the collector's way.

    Modules, settings, the engine and the loaded models stay for the life of the process, yet
    every full collection walks them all again: with one model loaded, two of them per 20,000
    Predict calls held the event loop for about 70 ms each (7 us per call). Collected first, so
    only live objects are frozen; refcounting still frees them if they ever go.
    """
    with contextlib.suppress(Exception):  # a failed start-up load is reported where it happens
        await server.wait_loaded()
    gc.collect()
    gc.freeze()


async def run_server(
    settings: ServerSettings, port_file: Path | None = None, http_port_file: Path | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then drain in-flight calls for the grace period."""
    server = ModelServer(settings)
    port = await server.start()
    click.echo(addresses(server), nl=False)
    # The HTTP port first: whoever waits for the gRPC port file finds both.
    if http_port_file is not None and server.http_port is not None:
        await asyncio.to_thread(http_port_file.write_text, f"{server.http_port}\n", "utf-8")
    if port_file is not None:
        await asyncio.to_thread(port_file.write_text, f"{port}\n", "utf-8")
    freezing = asyncio.create_task(freeze_once_loaded(server))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    logger.info("signal received: draining for up to %.1fs", settings.grace_period_s)
    freezing.cancel()
    await server.stop()


@click.command("serve")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="MODELRT_CONFIG",
    default=None,
    help="YAML settings file (flags > MODELRT_* env > this file > defaults).",
)
@click.option("--no-metrics", is_flag=True, default=False, help="Serve no /metrics endpoint.")
@click.option(
    "--port-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the bound port here once listening (handy with --port 0).",
)
@click.option(
    "--http-port-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the bound HTTP port here once listening (handy with --http-port auto).",
)
@with_settings_options
def serve(
    config_file: Path | None,
    port_file: Path | None,
    http_port_file: Path | None,
    no_metrics: bool,
    **flags: Any,
) -> None:
    """Serve the models of a model store over gRPC.

    Every setting is a flag of its name (derived from the server's settings); each one can also
    come from MODELRT_<NAME> or the --config file, flags first. Tokens are not flags (a command
    line shows in ps): set MODELRT_ADMIN_TOKEN and MODELRT_INFERENCE_TOKEN, or admin_token and
    inference_token in the --config file.
    """
    try:
        settings = load_settings(flags, config_file)
        if no_metrics:
            settings = settings.model_copy(update={"metrics_port": None})
    except (ValidationError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(f"invalid settings: {exc}") from None
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        preflight(settings)
    except PreflightError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        with asyncio.Runner(loop_factory=lambda: new_event_loop(settings.event_loop)) as runner:
            runner.run(run_server(settings, port_file, http_port_file))
    except RuntimeError as exc:  # grpc raises RuntimeError when the port cannot be bound
        raise click.ClickException(str(exc)) from None
