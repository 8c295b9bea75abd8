"""`modelrt upload`: a bundle folder or zip to the server as a new version, with progress."""

from __future__ import annotations

from pathlib import Path

import click

from clients.cli.group import CommandError
from clients.cli.output import dumps, model_json
from clients.cli.progress import UploadProgress
from clients.cli.session import Session, pass_session
from clients.uploading import BundleFileError


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--namespace", default="", help="Model name to store it as (default: the bundle's).")
@click.option("--version", default="", help="Version to store it as (default: the next one).")
@click.option("--type", "model_type", default="", help="Model card: classification, ...")
@click.option("--framework", default="", help="Model card: onnx, pytorch, sklearn, ...")
@click.option("--description", default="", help="Model card: free text.")
@click.option("--label", "labels", multiple=True, help="Model card: a class label (repeat).")
@click.option("--no-load", is_flag=True, help="Store it without loading it.")
@pass_session
def upload(
    session: Session,
    path: Path,
    namespace: str,
    version: str,
    model_type: str,
    framework: str,
    description: str,
    labels: tuple[str, ...],
    no_load: bool,
) -> None:
    """Upload the bundle at PATH (a folder, zipped on the fly, or a .zip) as a new version.

    Shows each phase: pack (zip and hash), send, check (the server unpacks, imports and stores
    it) and load; a bar with rate and ETA on a terminal, plain lines on stderr otherwise. The
    server judges --namespace and --version as soon as the upload starts.
    """
    progress = UploadProgress(interactive=False if session.json_output else None)
    client = session.client()
    try:
        result = client.upload(
            path, namespace=namespace, version=version, model_type=model_type,
            framework=framework, description=description, labels=labels,
            skip_load=True, progress=progress, phase=progress.phase,
        )  # fmt: skip
        info = result.model
        if not no_load:  # its own phase: the wait for the load is shown apart from the check
            progress.phase("load")
            info = client.load_model(info.name, info.version)
    except (BundleFileError, ValueError) as exc:
        progress.close(ok=False)
        raise CommandError(str(exc), code="INVALID_ARGUMENT") from None
    except BaseException:
        progress.close(ok=False)
        raise
    progress.close()
    if session.json_output:
        click.echo(dumps({**model_json(info), "sha256": result.sha256}))
    else:
        click.echo(f"{info.name} {info.version} {info.state} sha256:{result.sha256}")
    if info.state == "FAILED":
        raise CommandError(
            f"{info.name} version {info.version} failed to load: {info.reason}",
            code="FAILED_PRECONDITION",
            reason="LOAD_FAILED",
        )
