"""`modelrt serve`: the server's CLI command, plugged into the client CLI through an entry point."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from runtime.loops import new_event_loop
from runtime.server import ModelServer
from runtime.settings import ServerSettings, load_settings

logger = logging.getLogger(__name__)


async def run_server(settings: ServerSettings, port_file: Path | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then drain in-flight calls for the grace period."""
    server = ModelServer(settings)
    port = await server.start()
    if port_file is not None:
        await asyncio.to_thread(port_file.write_text, f"{port}\n", "utf-8")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    logger.info("signal received: draining for up to %.1fs", settings.grace_period_s)
    await server.stop()


@click.command("serve")
@click.option("--host", default=None, help="Address to bind [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="gRPC port; 0 picks one [default: 50051].")
@click.option(
    "--model-store", type=click.Path(path_type=Path), default=None, help="Folder of bundles."
)
@click.option(
    "--store-url",
    default=None,
    help="s3://BUCKET[/PREFIX]: the store lives in this bucket; --model-store caches it.",
)
@click.option(
    "--s3-endpoint-url",
    default=None,
    help="URL of an S3-compatible server for --store-url (default: AWS).",
)
@click.option(
    "--store-sync-interval",
    "store_sync_interval_s",
    type=float,
    default=None,
    help="Seconds between syncs with a store shared by replicas; 0: at start only [10].",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="MODELRT_CONFIG",
    default=None,
    help="YAML settings file (flags > MODELRT_* env > this file > defaults).",
)
@click.option("--strict-requirements/--lenient-requirements", default=None)
@click.option("--grace-period", "grace_period_s", type=float, default=None)
@click.option("--max-message-bytes", type=int, default=None)
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default=None)
@click.option(
    "--execution",
    type=click.Choice(["process", "inprocess"]),
    default=None,
    help="Worker process per model instance (default), or in-process for debugging.",
)
@click.option(
    "--event-loop",
    type=click.Choice(["auto", "uvloop", "asyncio"]),
    default=None,
    help="uvloop when installed (auto, the default), uvloop, or asyncio's own loop.",
)
@click.option(
    "--install-requirements/--no-install-requirements",
    default=None,
    help="Run each bundle in a venv with its requirements.txt installed.",
)
@click.option("--hang-timeout", "hang_timeout_s", type=float, default=None)
@click.option("--metrics-port", type=int, default=None, help="0 picks a free port [8002].")
@click.option("--no-metrics", is_flag=True, default=False, help="Serve no /metrics endpoint.")
@click.option(
    "--tls-cert",
    "tls_cert_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Server certificate chain (PEM); with --tls-key serves TLS.",
)
@click.option(
    "--tls-key",
    "tls_key_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Private key (PEM) of --tls-cert.",
)
@click.option(
    "--tls-client-ca",
    "tls_client_ca_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="CA (PEM) for client certificates: every client must present one (mutual TLS).",
)
@click.option(
    "--port-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the bound port here once listening (handy with --port 0).",
)
def serve(config_file: Path | None, port_file: Path | None, no_metrics: bool, **flags: Any) -> None:
    """Serve the models of a model store over gRPC.

    Tokens are not flags (a command line shows in ps): set MODELRT_ADMIN_TOKEN and
    MODELRT_INFERENCE_TOKEN, or admin_token and inference_token in the --config file.
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
        with asyncio.Runner(loop_factory=lambda: new_event_loop(settings.event_loop)) as runner:
            runner.run(run_server(settings, port_file))
    except RuntimeError as exc:  # grpc raises RuntimeError when the port cannot be bound
        raise click.ClickException(str(exc)) from None
