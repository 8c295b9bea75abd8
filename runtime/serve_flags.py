"""The `serve` flags, derived from ServerSettings' fields so that flags and settings never drift.

Each field ``some_name`` becomes ``--some-name`` with the field's type, its description as the
help and its default shown; a few older spellings stay as aliases. Secrets get no flag (a command
line shows in ``ps``).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from runtime.settings import ServerSettings

#: Older flag names, kept working: field -> extra flags (for a switch, extra "off" flags).
ALIASES: dict[str, tuple[str, ...]] = {
    "store_sync_interval_s": ("--store-sync-interval",),
    "grace_period_s": ("--grace-period",),
    "hang_timeout_s": ("--hang-timeout",),
    "tls_cert_file": ("--tls-cert",),
    "tls_key_file": ("--tls-key",),
    "tls_client_ca_file": ("--tls-client-ca",),
    "create_model_store": ("--create-store",),
}
#: Extra "off" spellings of switches.
OFF_ALIASES: dict[str, tuple[str, ...]] = {"strict_requirements": ("--lenient-requirements",)}


def flag_name(field: str) -> str:
    """``store_sync_interval_s`` -> ``--store-sync-interval-s``.

    >>> flag_name("max_restarts")
    '--max-restarts'
    """
    return "--" + field.replace("_", "-")


def is_secret(info: FieldInfo) -> bool:
    """Whether the field holds a secret (a token): those are set by env or file, never a flag."""
    return SecretStr in _members(info.annotation)


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types of ``X | None`` (or ``Optional[X]``) without None; ``(X,)`` otherwise."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return (annotation,)


def _json_value(_: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc.msg}", param=param) from None


def _click_type(field: str, annotation: Any) -> tuple[Any, Callable[..., Any] | None]:
    """The click type of a field, and a callback for values given as JSON (lists, mappings)."""
    members = _members(annotation)
    kind = members[0] if len(members) == 1 else None
    if typing.get_origin(kind) is Literal:
        return click.Choice([str(choice) for choice in typing.get_args(kind)]), None
    if kind is Path:
        return click.Path(path_type=Path, dir_okay=not field.endswith("_file")), None
    if kind in (int, float, str):
        return kind, None
    if all(m is int or typing.get_origin(m) is Literal for m in members):
        return click.STRING, None  # a number or a word (http_port: 8000, auto): pydantic decides
    return click.STRING, _json_value  # anything else is given as JSON and checked by pydantic


def default_text(info: FieldInfo) -> str:
    """The default as shown in help and the README: ``unset`` for None, lists as JSON.

    >>> default_text(ServerSettings.model_fields["port"])
    '50051'
    """
    default = info.get_default(call_default_factory=True)
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, (list, dict, tuple)):
        return json.dumps(default)
    return str(default)


def _option(field: str, info: FieldInfo) -> Callable[[Any], Any]:
    # The default goes into the help text: the option's own default stays None (unset).
    description = f"{(info.description or '').strip()}  [default: {default_text(info)}]"
    flag = flag_name(field)
    if _members(info.annotation) == (bool,):
        declarations = [f"{flag}/--no-{field.replace('_', '-')}", field]
        declarations += [f"{alias}/" for alias in ALIASES.get(field, ())]
        declarations += [f" /{alias}" for alias in OFF_ALIASES.get(field, ())]
        return click.option(*declarations, default=None, help=description)
    click_type, callback = _click_type(field, info.annotation)
    return click.option(
        flag,
        *ALIASES.get(field, ()),
        field,
        type=click_type,
        callback=callback,
        default=None,  # unset: env, the --config file or the default decide
        help=description,
    )


def with_settings_options(
    command: Callable[..., Any], settings: type[BaseSettings] = ServerSettings
) -> Callable[..., Any]:
    """Decorate a click command function with one option per non-secret field of ``settings``.

    The values arrive as keyword arguments named after the fields; None when not given.
    """
    for field, info in reversed(settings.model_fields.items()):
        if not is_secret(info):
            command = _option(field, info)(command)
    return command
