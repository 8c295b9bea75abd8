"""Writes a rendered template into a folder, and picks the model's name from the folder's."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from clients.templates.spec import TemplateError

# The server's rule for model names (registry.decorators), which clients cannot import.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$")


def check_name(name: str) -> str:
    """Return ``name`` if it can name a model, else raise TemplateError saying the rule."""
    if not _NAME.fullmatch(name):
        raise TemplateError(
            f"invalid model name {name!r}: use 1-128 letters, digits, '.', '_' or '-', starting"
            " and ending with a letter or digit"
        )
    return name


def name_for(directory: Path) -> str:
    """A model name made from a folder's name: ``name_for(Path("My Model")) == "my-model"``."""
    base = directory.resolve().name.lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", base).strip("._-")[:128].rstrip("._-")
    if not name:
        raise TemplateError(f"cannot make a model name from {base!r}: pass --name")
    return check_name(name)


def write_template(directory: Path, files: Mapping[str, str], *, force: bool = False) -> list[Path]:
    """Write ``files`` (relative path -> text) under ``directory``; return the paths written.

    A folder that exists and is not empty is refused unless ``force``; then the template's files
    are overwritten and any other file is left alone.
    """
    if directory.exists() and not directory.is_dir():
        raise TemplateError(f"{directory} exists and is not a folder")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise TemplateError(
            f"{directory} is not empty; use --force to write the template's files into it"
        )
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
