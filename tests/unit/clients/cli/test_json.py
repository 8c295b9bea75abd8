"""The CLI's global options without a server: --version, and --json for errors and init."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from clients.cli.commands import cli

pytestmark = pytest.mark.timeout(30)
NOBODY = "127.0.0.1:1"  # nothing listens on port 1: connecting fails at once


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"modelrt {version('modelrt')}\n"


def test_an_unreachable_server_under_json_is_one_json_error_on_stderr() -> None:
    result = CliRunner().invoke(cli, ["--json", "--address", NOBODY, "--timeout", "5", "models"])
    assert result.exit_code == 1
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert error["code"] == "UNAVAILABLE"
    assert f"cannot reach the server at {NOBODY}" in error["message"]
    assert set(error) == {"code", "reason", "message", "error_id"}


def test_the_same_error_without_json_is_one_text_line() -> None:
    result = CliRunner().invoke(cli, ["--address", NOBODY, "--timeout", "5", "models"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: UNAVAILABLE: cannot reach the server")


def test_a_usage_error_under_json_is_json_with_exit_code_2() -> None:
    result = CliRunner().invoke(cli, ["--json", "predict"])
    assert result.exit_code == 2
    error = json.loads(result.stderr)
    assert (error["code"], error["reason"]) == ("INVALID_ARGUMENT", "USAGE")
    assert "MODEL" in error["message"]


def test_a_bad_input_under_json_is_json() -> None:
    result = CliRunner().invoke(cli, ["--json", "--address", NOBODY, "predict", "m", "-i", "x"])
    assert result.exit_code == 2
    assert json.loads(result.stderr)["code"] == "INVALID_ARGUMENT"


def test_init_under_json_prints_what_it_wrote(tmp_path: Path) -> None:
    target = tmp_path / "clf"
    args = ["--json", "init", str(target), "--type", "classification", "--framework", "other"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert written["name"] == "clf"
    assert "model.py" in written["files"]
    assert all((target / name).is_file() for name in written["files"])
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1
    assert "not empty" in json.loads(again.stderr)["message"]
