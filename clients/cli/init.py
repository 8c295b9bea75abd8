"""``modelrt init``: writes a bundle template that runs as it is (files only, no server)."""

from __future__ import annotations

from pathlib import Path

import click

from clients.cli.group import CommandError
from clients.cli.output import dumps
from clients.cli.session import json_requested
from clients.templates import (
    FRAMEWORKS,
    LAYOUTS,
    MODEL_TYPES,
    TemplateError,
    check_name,
    name_for,
    offered_combinations,
    render,
    write_template,
)


def _offered_help() -> str:
    """The epilog of ``init --help``: per layout, the frameworks offered with each model type."""
    paragraphs = ["Offered (per layout, type: frameworks; the 'other' framework is plain numpy):"]
    for name, layout in LAYOUTS.items():
        by_type: dict[str, list[str]] = {}
        for model_type, framework in offered_combinations(name):
            by_type.setdefault(model_type, []).append(framework)
        lines = [f"  {t:<20} {', '.join(f)}" for t, f in by_type.items()]
        # \b keeps click from rewrapping the paragraph.
        paragraphs.append("\b\n" + f"--layout {name}: {layout.summary}\n" + "\n".join(lines))
    return "\n\n".join(paragraphs)


@click.command("init", epilog=_offered_help())
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--type", "model_type", type=click.Choice(list(MODEL_TYPES)), required=True,
    help="The model type: sets the hooks, the sample pre/post-processing and the inputs.",
)  # fmt: skip
@click.option(
    "--framework", type=click.Choice(list(FRAMEWORKS)), required=True,
    help="What runs the weights; 'other' is plain numpy.",
)  # fmt: skip
@click.option(
    "--layout", type=click.Choice(list(LAYOUTS)), default="native", show_default=True,
    help="The bundle layout: modelrt's own, or as a Gesund or Clarifai bundle is written.",
)  # fmt: skip
@click.option("--name", default=None, help="The model's name [default: from DIRECTORY's name].")
@click.option("--force", is_flag=True, help="Write into DIRECTORY even when it is not empty.")
def init(
    directory: Path, model_type: str, framework: str, layout: str, name: str | None, force: bool
) -> None:
    """Write a bundle template for a model type and framework into DIRECTORY.

    The template works as it is: build its tiny model with its build script (`python
    DIRECTORY/build_model.py`; `DIRECTORY/1/build_model.py` in the clarifai layout), then check
    it with `modelrt run-local DIRECTORY`.
    """
    try:
        model_name = check_name(name) if name is not None else name_for(directory)
        files = render(model_type, framework, model_name, layout)
        written = write_template(directory, files, force=force)
    except TemplateError as exc:
        raise CommandError(str(exc), code="INVALID_ARGUMENT") from None
    except OSError as exc:
        raise CommandError(f"cannot write {directory}: {exc}") from None
    steps = [f"python {directory / LAYOUTS[layout].build_script}", f"modelrt run-local {directory}"]
    if json_requested():
        click.echo(dumps({
            "directory": str(directory), "name": model_name, "model_type": model_type,
            "framework": framework, "layout": layout,
            "files": [path.relative_to(directory).as_posix() for path in written], "next": steps,
        }))  # fmt: skip
        return
    click.echo(
        f"wrote {model_type} template {model_name!r} ({framework}, {layout}) to {directory}:"
    )
    for path in written:
        click.echo(f"  {path.relative_to(directory)}")
    click.echo("next:")
    for step in steps:
        click.echo(f"  {step}")
