"""The ``modelrt`` command line: predict, generate, stream, model lifecycle and health.

Output goes through click.echo here only; parsing lives in cli_inputs, rendering in cli_output.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import click

from clients.cli.group import CommandError, ModelrtGroup
from clients.cli.init import init
from clients.cli.inputs import InputError, parse_inputs, parse_parameters, parse_stream_line
from clients.cli.output import (
    dumps,
    inline_text,
    item_error_line,
    item_json,
    item_line,
    model_json,
    prediction_json,
    render_model,
    render_models,
    render_prediction,
)
from clients.cli.session import Session, pass_session
from clients.cli.upload import upload
from clients.sync_client import ItemStream
from clients.types import ModelInfo
from modelrt.v1 import value_pb2


def _inputs_option(_: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    try:
        return parse_inputs(value)
    except InputError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def _parameters_option(_: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    try:
        return parse_parameters(value)
    except InputError as exc:
        raise click.BadParameter(str(exc), param=param) from None


_input = click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME[:TYPE]=VALUE",
    callback=_inputs_option,
    help="An input: text=hello, img=@photo.png, x:json=[1,2], x:float32=[[1,2]], x:int64=@a.npy.",
)
_parameter = click.option(
    "-p",
    "--param",
    "parameters",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_parameters_option,
    help="A parameter for the model; the value is JSON when it parses as JSON, else a string.",
)
_PEM_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_version = click.option("--version", default="", help="The model version (default: newest).")
_request_id = click.option("--request-id", default="", help="An id to follow the call in logs.")


@click.group(cls=ModelrtGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelrt", prog_name="modelrt", message="%(prog)s %(version)s")
@click.option(
    "--address",
    envvar="MODELRT_ADDRESS",
    default="127.0.0.1:50051",
    show_default=True,
    help="Server host:port (env MODELRT_ADDRESS).",
)
@click.option("--timeout", type=float, default=None, help="Deadline of each call, in seconds.")
@click.option("--json", "json_output", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--token",
    envvar="MODELRT_TOKEN",
    default=None,
    help="Bearer token sent on every call (env MODELRT_TOKEN; prefer it: flags show in ps).",
)
@click.option("--tls", is_flag=True, help="Connect with TLS, trusting the system's CAs.")
@click.option(
    "--tls-ca",
    envvar="MODELRT_TLS_CA",
    type=_PEM_FILE,
    default=None,
    help="Connect with TLS, trusting this CA (PEM) (env MODELRT_TLS_CA).",
)
@click.option(
    "--tls-cert",
    envvar="MODELRT_TLS_CERT",
    type=_PEM_FILE,
    default=None,
    help="Client certificate (PEM) for mutual TLS, with --tls-key (env MODELRT_TLS_CERT).",
)
@click.option(
    "--tls-key",
    envvar="MODELRT_TLS_KEY",
    type=_PEM_FILE,
    default=None,
    help="Private key (PEM) of --tls-cert (env MODELRT_TLS_KEY).",
)
@click.option(
    "--tensor-form",
    type=click.Choice(["raw", "typed"]),
    default="raw",
    show_default=True,
    help="How tensors travel both ways: raw bytes (fast) or typed lists (fp32_contents, ...).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    address: str,
    timeout: float | None,
    json_output: bool,
    token: str | None,
    tls: bool,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tensor_form: str,
) -> None:
    """Call models served by a modelrt server."""
    # An empty MODELRT_TOKEN means no token.
    session = Session(address, timeout, json_output, token or None, tls, tls_ca, tls_cert, tls_key)
    session.typed_tensors = tensor_form == "typed"
    ctx.obj = session
    ctx.call_on_close(session.close)


@cli.command()
@click.argument("model")
@_input
@_parameter
@_version
@_request_id
@pass_session
def predict(
    session: Session,
    model: str,
    inputs: dict[str, value_pb2.Value],
    parameters: dict[str, Any],
    version: str,
    request_id: str,
) -> None:
    """Call MODEL once and print its answer."""
    prediction = session.client().predict(
        model, inputs, version=version, parameters=parameters, request_id=request_id
    )
    if session.json_output:
        click.echo(dumps(prediction_json(prediction)))
    else:
        click.echo(render_prediction(prediction))


def _print_items(session: Session, items: ItemStream, *, inline: bool) -> None:
    """Print each item as it arrives; failed items go to stderr and the stream goes on."""
    failed = 0
    open_line = False
    with items:
        for item in items:
            text = inline_text(item) if inline and not session.json_output else None
            if open_line and text is None:
                click.echo()
                open_line = False
            if item.error is not None:
                failed += 1
                click.echo(f"error: {item_error_line(item)}", err=True)
                if session.json_output:
                    click.echo(dumps(item_json(item)))
            elif session.json_output:
                click.echo(dumps(item_json(item)))
            elif text is not None:
                click.echo(text, nl=False)
                open_line = True
            else:
                click.echo(item_line(item))
    if open_line:
        click.echo()
    if failed:
        raise CommandError(f"{failed} item(s) failed")


@cli.command()
@click.argument("model")
@_input
@_parameter
@_version
@_request_id
@pass_session
def generate(
    session: Session,
    model: str,
    inputs: dict[str, value_pb2.Value],
    parameters: dict[str, Any],
    version: str,
    request_id: str,
) -> None:
    """Call MODEL's Generate and print each item as it arrives (tokens inline)."""
    items = session.client().generate(
        model, inputs, version=version, parameters=parameters, request_id=request_id
    )
    _print_items(session, items, inline=True)


def _stdin_requests(stream: TextIO) -> Iterator[dict[str, value_pb2.Value]]:
    """One request per stdin line, read only when the previous one has been sent."""
    for number, line in enumerate(iter(stream.readline, ""), start=1):
        try:
            inputs = parse_stream_line(line)
        except InputError as exc:
            raise InputError(f"stdin line {number}: {exc}") from None
        if inputs is not None:
            yield inputs


@cli.command()
@click.argument("model")
@_parameter
@_version
@_request_id
@pass_session
def stream(
    session: Session, model: str, parameters: dict[str, Any], version: str, request_id: str
) -> None:
    """Stream JSON lines from stdin to MODEL and print each response as it arrives.

    Each line is a JSON object of inputs keyed NAME[:TYPE], e.g. {"audio:float32": [0.1, 0.2]};
    any other line is sent as {"text": LINE}.
    """
    requests = _stdin_requests(sys.stdin)
    items = session.client().stream(
        model, requests, version=version, parameters=parameters, request_id=request_id
    )
    _print_items(session, items, inline=False)


@cli.command()
@click.argument("name", default="")
@pass_session
def models(session: Session, name: str) -> None:
    """List every model version (only NAME's versions when given)."""
    found = session.client().list_models(name)
    if session.json_output:
        click.echo(dumps([model_json(info) for info in found]))
    elif found:
        click.echo(render_models(found))
    else:
        click.echo("no models", err=True)


@cli.command()
@click.argument("model")
@_version
@pass_session
def get(session: Session, model: str, version: str) -> None:
    """Describe MODEL: state, card, capabilities, inputs and output schema."""
    info = session.client().get_model(model, version)
    click.echo(dumps(model_json(info)) if session.json_output else render_model(info))


_all_versions = click.option(
    "--all", "all_versions", is_flag=True, help="Every version of MODEL (not with --version)."
)


def _versions(session: Session, model: str, version: str, all_versions: bool) -> list[str]:
    """The versions ``load`` and ``unload`` act on: --version, every one (--all) or the newest.

    An empty list means the server does not list MODEL yet (a bundle placed in the store since
    it started): LoadModel then finds it.
    """
    if version and all_versions:
        raise CommandError("give --version or --all, not both", code="INVALID_ARGUMENT")
    if version:
        return [version]
    known = [info.version for info in session.client().list_models(model)]  # oldest first
    return known if all_versions else known[-1:]


def _print_states(session: Session, infos: list[ModelInfo]) -> None:
    """What ``load`` and ``unload`` both print: a JSON list, or "NAME VERSION STATE" lines."""
    if session.json_output:
        click.echo(dumps([model_json(info) for info in infos]))
    else:
        for info in infos:
            click.echo(f"{info.name} {info.version} {info.state}")


@cli.command()
@click.argument("model")
@click.option("--version", default="", help="The version to load (default: the newest).")
@_all_versions
@pass_session
def load(session: Session, model: str, version: str, all_versions: bool) -> None:
    """Load (or reload) the newest version of MODEL, --version V, or --all of them.

    Prints NAME VERSION STATE per version (a JSON list with --json), as unload does; the exit
    code is 1 when a load fails.
    """
    client = session.client()
    versions = _versions(session, model, version, all_versions) or [""]
    infos = [client.load_model(model, each) for each in versions]
    _print_states(session, infos)
    failed = [info for info in infos if info.state == "FAILED"]
    if failed:
        reasons = "; ".join(f"version {info.version}: {info.reason}" for info in failed)
        raise CommandError(
            f"{model} failed to load: {reasons}", code="FAILED_PRECONDITION", reason="LOAD_FAILED"
        )


@cli.command()
@click.argument("model")
@click.option("--version", default="", help="The version to unload (default: the newest).")
@_all_versions
@pass_session
def unload(session: Session, model: str, version: str, all_versions: bool) -> None:
    """Stop serving the newest version of MODEL, --version V, or --all of them.

    Other versions keep serving (calls without a version then reach the newest READY one): use
    --all to stop serving MODEL entirely. Prints what load prints.
    """
    client = session.client()
    # Not listed: the server answers NOT_FOUND (no version of MODEL can be loaded).
    versions = _versions(session, model, version, all_versions) or [""]
    infos = [info for each in versions for info in client.unload_model(model, each)]
    _print_states(session, infos)


@cli.command()
@click.argument("model")
@_version
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_session
def delete(session: Session, model: str, version: str, yes: bool) -> None:
    """Unload MODEL and remove it from the model store (every version unless --version)."""
    which = f"version {version}" if version else "every version"
    if not yes:
        click.confirm(f"Delete {which} of model {model!r} from the model store?", abort=True)
    versions = session.client().delete_model(model, version)
    if session.json_output:
        click.echo(dumps({"name": model, "versions": versions}))
    else:
        for deleted in versions:
            click.echo(f"deleted {model} {deleted}")


@cli.command()
@click.argument("service", default="")
@pass_session
def health(session: Session, service: str) -> None:
    """Print the health of SERVICE ("" = server ready, "liveness", or a model name).

    The exit code is 0 only when it is SERVING.
    """
    status = session.client().health(service)
    if session.json_output:
        click.echo(dumps({"service": service, "status": status}))
    else:
        click.echo(status)
    if status != "SERVING":
        raise click.exceptions.Exit(1)


cli.add_command(init)  # writes files only: no server, no session
cli.add_command(upload)


def main() -> None:
    """The ``modelrt`` console script.

    >>> main()  # modelrt --address 127.0.0.1:50051 models
    """
    cli.main(prog_name="modelrt")
