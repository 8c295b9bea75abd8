"""The CLI's shapes against a real server: --json everywhere, errors as JSON, load and unload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clients.cli.commands import cli
from tests.bundle_factory import write_bundle
from tests.integration.test_client import write_store

pytestmark = pytest.mark.timeout(180)

TRIPLER = """
from registry import ModelRunner, register

@register("tripler")
class Tripler(ModelRunner):
    def predict(self, request):
        return {"y": request["x"] * 3}
"""

COUNTER = """
from registry import ModelRunner, register

@register("counter")
class Counter(ModelRunner):
    def predict(self, request):
        return {"ok": True}
"""


@pytest.fixture
def server(start_server, tmp_path: Path):
    return start_server(write_store(tmp_path / "store"))


@pytest.fixture
def run(server):
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--address", server.address, *args])

    return invoke


def _json_error(result: Result) -> dict[str, object]:
    """The one JSON object a failed --json command writes to stderr (after any server log)."""
    assert result.exit_code != 0
    assert result.stdout == ""
    objects = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert len(objects) == 1, result.stderr
    return objects[0]


def test_a_server_error_under_json_is_one_object_with_code_reason_and_message(run) -> None:
    error = _json_error(run("--json", "predict", "nope", "-i", "text=x"))
    assert error["code"] == "NOT_FOUND"
    assert error["reason"] == "MODEL_NOT_FOUND"
    assert "nope" in str(error["message"])
    assert set(error) == {"code", "reason", "message", "error_id"}


def test_an_input_error_under_json_is_an_object_too(run) -> None:
    error = _json_error(run("--json", "predict", "echo", "-i", "x:float32=[1,"))
    assert error["code"] == "INVALID_ARGUMENT"


def test_load_and_unload_act_on_the_newest_version_and_print_the_same_shape(
    run, tmp_path: Path
) -> None:
    bundle = write_bundle(tmp_path / "src", "tripler", TRIPLER)
    for version in ("1", "2"):
        uploaded = run("upload", str(bundle))
        assert uploaded.exit_code == 0, uploaded.output
        assert uploaded.stdout.startswith(f"tripler {version} READY")

    assert run("unload", "tripler").stdout == "tripler 2 UNLOADED\n"
    listed = {m["version"]: m["state"] for m in json.loads(run("--json", "models").stdout)
              if m["name"] == "tripler"}  # fmt: skip
    assert listed == {"1": "READY", "2": "UNLOADED"}
    assert run("load", "tripler").stdout == "tripler 2 READY\n"

    unloaded = json.loads(run("--json", "unload", "tripler", "--all").stdout)
    assert [(m["version"], m["state"]) for m in unloaded] == [("1", "UNLOADED"), ("2", "UNLOADED")]
    loaded = json.loads(run("--json", "load", "tripler", "--all").stdout)
    assert [(m["version"], m["state"]) for m in loaded] == [("1", "READY"), ("2", "READY")]
    assert set(loaded[0]) == set(unloaded[0])
    one = json.loads(run("--json", "load", "tripler", "--version", "1").stdout)
    assert [m["version"] for m in one] == ["1"]


def test_version_and_all_together_are_refused(run) -> None:
    error = _json_error(run("--json", "unload", "echo", "--version", "1", "--all"))
    assert error["code"] == "INVALID_ARGUMENT"


def test_run_local_under_json_prints_one_object_with_every_check(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path, "counter", COUNTER)
    result = CliRunner().invoke(cli, ["--json", "run-local", str(bundle), "--timeout", "60"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] is True
    assert [check["name"] for check in report["checks"]][:2] == ["layout", "inputs"]
    assert all(check["status"] == "PASS" for check in report["checks"])
