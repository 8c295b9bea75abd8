"""The CLI's command group: built-in commands, plugin commands from the ``modelrt.cli`` entry
points (loaded only when used), and one place that turns expected errors into one stderr line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import IO, Any

import click

from clients.cli.inputs import InputError
from clients.errors import ModelrtClientError
from modelrt.codec import CodecError

PLUGIN_GROUP = "modelrt.cli"


class CommandError(click.ClickException):
    """An expected failure: one "error: ..." line on stderr (a JSON object under ``--json``).

    ``code`` and ``reason`` follow the server's vocabulary (gRPC status name, ErrorInfo reason)
    so that scripts read every failure the same way, whether the server or the CLI found it.

    >>> raise CommandError("NOT_FOUND: model 'nope' is not known [MODEL_NOT_FOUND]")
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        code: str = "UNKNOWN",
        reason: str = "",
        detail: str | None = None,
        error_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.detail = message if detail is None else detail
        self.error_id = error_id
        self.as_json = False

    def to_json(self) -> dict[str, Any]:
        """The error as one JSON object: code, reason, message and error_id.

        >>> CommandError("x", code="NOT_FOUND").to_json()["code"]
        'NOT_FOUND'
        """
        return {
            "code": self.code,
            "reason": self.reason,
            "message": self.detail,
            "error_id": self.error_id,
        }

    def show(self, file: IO[Any] | None = None) -> None:
        """Print "error: MESSAGE", or the JSON object under ``--json``, to stderr."""
        if self.as_json:
            click.echo(json.dumps(self.to_json(), ensure_ascii=False), err=True)
        else:
            click.echo(f"error: {self.format_message()}", err=True)


class UsageCommandError(CommandError):
    """A usage error (missing argument, unknown option) shown as a CommandError: exit code 2."""

    exit_code = 2


def command_error(exc: Exception, json_output: bool) -> CommandError | None:
    """The CommandError to show for ``exc``; None when ``exc`` is not an expected failure."""
    error: CommandError
    if isinstance(exc, CommandError):
        error = exc
    elif isinstance(exc, ModelrtClientError):
        error = CommandError(
            str(exc), code=exc.code.name, reason=exc.reason, detail=exc.message,
            error_id=exc.error_id,
        )  # fmt: skip
    elif isinstance(exc, (InputError, CodecError)):
        error = CommandError(str(exc), code="INVALID_ARGUMENT", reason="INVALID_INPUT")
    elif json_output and isinstance(exc, click.UsageError):
        error = UsageCommandError(exc.format_message(), code="INVALID_ARGUMENT", reason="USAGE")
    elif json_output and isinstance(exc, click.ClickException):
        error = CommandError(exc.format_message())
    else:
        return None
    error.as_json = json_output
    return error


def installed_plugins() -> list[EntryPoint]:
    """The entry points of installed packages in the ``modelrt.cli`` group.

    >>> sorted(point.value for point in installed_plugins())
    ['runtime.cli:serve', 'runtime.local.run_local:run_local']
    """
    return list(entry_points(group=PLUGIN_GROUP))


class ModelrtGroup(click.Group):
    """A click group that also offers every command of the ``modelrt.cli`` entry points.

    A plugin is imported only when its command is run or help lists it; one that fails to import
    is skipped with a warning on stderr, so a broken plugin never breaks the other commands.

    >>> @click.group(cls=ModelrtGroup)
    ... def cli() -> None: ...
    """

    def __init__(
        self,
        *args: Any,
        discover: Callable[[], Iterable[EntryPoint]] = installed_plugins,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._discover = discover
        self._plugins: dict[str, EntryPoint] | None = None
        self._loaded: dict[str, click.Command | None] = {}

    def _plugin_points(self) -> dict[str, EntryPoint]:
        if self._plugins is None:
            found = {point.name: point for point in self._discover()}
            # Built-in commands win over a plugin of the same name.
            self._plugins = {name: p for name, p in found.items() if name not in self.commands}
        return self._plugins

    def _load(self, name: str, point: EntryPoint) -> click.Command | None:
        if name not in self._loaded:
            command: click.Command | None = None
            try:
                loaded = point.load()
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if isinstance(loaded, click.Command):
                    command = loaded
                    problem = ""
                else:
                    problem = f"{point.value} is not a click command"
            if command is None:
                click.echo(
                    f"warning: skipping command {name!r} from {point.value}: {problem}", err=True
                )
            self._loaded[name] = command
        return self._loaded[name]

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in and plugin command names, sorted."""
        return sorted({*self.commands, *self._plugin_points()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A built-in command, or the plugin command of that name (None if it cannot load)."""
        command = self.commands.get(cmd_name)
        if command is not None:
            return command
        point = self._plugin_points().get(cmd_name)
        return None if point is None else self._load(cmd_name, point)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; client, input and codec errors become one "error: ..." line, and
        under ``--json`` every error (usage errors included) one JSON object on stderr."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            error = command_error(exc, bool(ctx.params.get("json_output")))
            if error is None:
                raise
            if error is exc:
                raise
            raise error from None
