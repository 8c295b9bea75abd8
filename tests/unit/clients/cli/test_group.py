"""Plugin commands from entry points: loaded on use, a broken one skipped with a warning."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import click
from click.testing import CliRunner

from clients.cli.group import CommandError, ModelrtGroup

GROUP = "modelrt.cli"


def _group(*points: EntryPoint) -> click.Group:
    @click.group(cls=ModelrtGroup, discover=lambda: list(points))
    def cli() -> None:
        """A test CLI."""

    @cli.command()
    def builtin() -> None:
        click.echo("builtin ran")

    @cli.command()
    def fails() -> None:
        raise CommandError("NOT_FOUND: model 'nope' is not known [MODEL_NOT_FOUND]")

    return cli


# A real, importable click command for the working plugin below.
@click.command()
def hello() -> None:
    """Say hello."""
    click.echo("hello from a plugin")


WORKING = EntryPoint("hello", f"{__name__}:hello", GROUP)
MISSING = EntryPoint("serve", "no_such_package_xyz.cli:serve", GROUP)
NOT_A_COMMAND = EntryPoint("odd", f"{__name__}:GROUP", GROUP)
SHADOWING = EntryPoint("builtin", f"{__name__}:hello", GROUP)


def test_working_plugin_command_runs() -> None:
    result = CliRunner().invoke(_group(WORKING, MISSING), ["hello"])
    assert result.exit_code == 0
    assert result.stdout == "hello from a plugin\n"
    assert result.stderr == ""


def test_broken_plugin_does_not_break_other_commands() -> None:
    result = CliRunner().invoke(_group(WORKING, MISSING), ["builtin"])
    assert result.exit_code == 0
    assert result.stdout == "builtin ran\n"
    assert result.stderr == ""


def test_help_lists_plugins_and_warns_about_a_broken_one() -> None:
    result = CliRunner().invoke(_group(WORKING, MISSING, NOT_A_COMMAND), ["--help"])
    assert result.exit_code == 0
    assert "hello" in result.stdout
    assert "serve" not in result.stdout
    assert "warning: skipping command 'serve' from no_such_package_xyz.cli:serve" in result.stderr
    assert "ModuleNotFoundError" in result.stderr
    assert f"{__name__}:GROUP is not a click command" in result.stderr


def test_invoking_a_broken_plugin_warns_then_is_an_unknown_command() -> None:
    result = CliRunner().invoke(_group(MISSING), ["serve"])
    assert result.exit_code == 2
    assert result.stderr.startswith("warning: skipping command 'serve'")
    assert "No such command 'serve'" in result.stderr


def test_builtin_commands_win_over_plugins_of_the_same_name() -> None:
    result = CliRunner().invoke(_group(SHADOWING), ["builtin"])
    assert result.stdout == "builtin ran\n"


def test_command_error_is_one_line_and_exit_1() -> None:
    result = CliRunner().invoke(_group(), ["fails"])
    assert result.exit_code == 1
    assert result.stderr == "error: NOT_FOUND: model 'nope' is not known [MODEL_NOT_FOUND]\n"
