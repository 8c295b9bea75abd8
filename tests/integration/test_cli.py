"""The ``modelrt`` CLI against a real server: in-process through CliRunner, and the real script."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from clients.cli.commands import cli
from tests.integration.test_client import write_store

MODELRT = Path(sys.executable).parent / "modelrt"
ECHO_LIKE = """
from registry import ModelRunner, register

@register("{name}")
class Echo(ModelRunner):
    def predict(self, request):
        return {{"ok": True}}
"""


@pytest.fixture
def server(start_server, tmp_path: Path):
    return start_server(write_store(tmp_path / "store"))


@pytest.fixture
def run(server):
    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--address", server.address, *args], input=input)

    return invoke


@pytest.fixture
def script(server) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def _popen(server, started: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [str(MODELRT), "--address", server.address, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    started.append(process)
    return process


def _last_error_line(result: Result) -> str:
    """The CLI's own error line (the in-process server may log to the same stderr first)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _read_some(process: subprocess.Popen[bytes], timeout: float = 20.0) -> bytes:
    """Whatever the process has written to stdout so far (waits for at least one byte)."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError("the CLI printed nothing in time")
    return os.read(process.stdout.fileno(), 65536)


# --- predict ---------------------------------------------------------------------------------


def test_predict_prints_structured_output_and_a_table_of_named_outputs(run, tmp_path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG fake")
    result = run(
        "predict", "echo", "-i", "text=hello", "-i", "x:float32=[[1,2],[3,4]]",
        "-i", f"img=@{photo}", "-i", "meta:json={\"k\": [1, 2]}", "-p", "threshold=0.5",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert '"text": "hello"' in out
    assert '"threshold": 0.5' in out
    table = {line.split()[0]: line.split() for line in out.splitlines() if line[:1].isalpha()}
    assert table["OUTPUT"][:4] == ["OUTPUT", "KIND", "DTYPE", "SHAPE/SIZE"]
    assert table["x"][1:4] == ["tensor", "float32", "2x2"]
    assert table["img"][1:5] == ["bytes", "-", "9", "bytes"]


def test_predict_json_output_has_tensors_bytes_and_structured(run, tmp_path) -> None:
    array = tmp_path / "a.npy"
    np.save(array, np.array([[1, 2, 3]], dtype=np.int64))
    result = run(
        "--json", "predict", "echo", "-i", f"a:int32=@{array}", "-i", "b=@" + str(array),
        "-i", "t:text=plain", "--request-id", "cli-1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["request_id"] == "cli-1"
    assert data["outputs"]["a"] == {
        "kind": "tensor",
        "dtype": "int32",
        "shape": [1, 3],
        "data": [[1, 2, 3]],
    }
    assert data["outputs"]["b"]["kind"] == "bytes"
    assert data["outputs"]["b"]["size"] == array.stat().st_size
    assert data["structured"]["t"] == "plain"


def test_predict_unknown_model_is_one_error_line_and_exit_1(run) -> None:
    result = run("predict", "nope", "-i", "text=x")
    assert result.exit_code == 1
    assert result.stdout == ""
    line = _last_error_line(result)
    assert line.startswith("error: NOT_FOUND: ")
    assert line.endswith("[MODEL_NOT_FOUND]")


def test_predict_crash_shows_the_error_id(run) -> None:
    result = run("predict", "echo", "-p", "fail=crash")
    assert result.exit_code == 1
    line = _last_error_line(result)
    assert line.startswith("error: INTERNAL: ")
    assert line.endswith("[MODEL_ERROR]")
    assert "error id" in line


def test_bad_input_syntax_is_a_usage_error(run) -> None:
    result = run("predict", "echo", "-i", "x:float99=[1]")
    assert result.exit_code == 2
    assert "unknown type 'float99'" in result.stderr


def test_unreachable_server_is_one_error_line() -> None:
    result = CliRunner().invoke(cli, ["--address", "127.0.0.1:1", "--timeout", "5", "models"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: UNAVAILABLE: cannot reach the server at 127.0.0.1:1")


def test_address_comes_from_the_environment(server) -> None:
    result = CliRunner().invoke(cli, ["health"], env={"MODELRT_ADDRESS": server.address})
    assert result.exit_code == 0
    assert result.stdout == "SERVING\n"


# --- generate --------------------------------------------------------------------------------


def test_generate_prints_tokens_inline(run) -> None:
    result = run("generate", "tokens", "-p", "n=3")
    assert result.exit_code == 0, result.output
    assert result.stdout == "t0 t1 t2 \n"


def test_generate_json_prints_one_line_per_item(run) -> None:
    result = run("--json", "generate", "tokens", "-p", "n=3")
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(i["index"], i["structured"], i["error"]) for i in items] == [
        (0, {"token": "t0 "}, None),
        (1, {"token": "t1 "}, None),
        (2, {"token": "t2 "}, None),
    ]


def test_generate_failed_item_goes_to_stderr_and_the_rest_prints(run) -> None:
    result = run("generate", "tokens", "-p", "n=3", "-p", "bad_at=1")
    assert result.exit_code == 1
    assert result.stdout == "t0 \nt2 \n"
    assert "error: item 1: INTERNAL: " in result.stderr


def test_generate_on_a_predict_only_model_is_unimplemented(run) -> None:
    result = run("generate", "echo")
    assert result.exit_code == 1
    assert _last_error_line(result).startswith("error: UNIMPLEMENTED: ")
    assert "[HOOK_NOT_IMPLEMENTED]" in result.stderr


def test_script_prints_generated_tokens_as_they_arrive(server, script) -> None:
    start = time.monotonic()
    process = _popen(server, script, "generate", "tokens", "-p", "n=4", "-p", "pause=0.4")
    first = _read_some(process)
    first_at = time.monotonic() - start
    rest, errors = process.communicate(timeout=30)
    done_at = time.monotonic() - start
    assert process.returncode == 0, errors.decode()
    assert (first + rest).decode() == "t0 t1 t2 t3 \n"
    # The first token shows up while the model still sleeps 1.2 s before the last one.
    assert first_at < done_at - 0.8


# --- stream ----------------------------------------------------------------------------------


def test_stream_sends_stdin_lines_and_prints_each_response(run) -> None:
    lines = 'hello\n{"audio:float32": [1, 2.5]}\n\n{"text": "bye"}\n'
    result = run("stream", "chat", input=lines)
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"n": 0, "echo": "hello"},
        {"n": 1, "sum": 3.5},
        {"n": 2, "echo": "bye"},
    ]


def test_stream_bad_line_is_an_error_naming_the_line(run) -> None:
    result = run("stream", "chat", input='hi\n{"x:float99": [1]}\n')
    assert result.exit_code == 1
    assert "error: stdin line 2: " in result.stderr
    assert "float99" in result.stderr


def test_script_stream_answers_each_line_before_the_next_is_written(server, script) -> None:
    process = _popen(server, script, "--json", "stream", "chat")
    assert process.stdin is not None
    for k in range(3):
        process.stdin.write(f"line {k}\n".encode())
        process.stdin.flush()
        reply = json.loads(_read_some(process))
        assert (reply["index"], reply["structured"]) == (k, {"n": k, "echo": f"line {k}"})
    process.stdin.close()
    process.wait(20)
    assert process.returncode == 0


def test_script_stream_error_exits_while_stdin_is_still_open(server, script) -> None:
    process = _popen(server, script, "stream", "nope")
    assert process.stdin is not None
    assert process.stderr is not None
    process.stdin.write(b"hello\n")
    process.stdin.flush()
    assert process.wait(20) == 1  # stdin stays open: the CLI must not wait for more lines
    assert process.stderr.read().decode().startswith("error: NOT_FOUND: ")


# --- models, lifecycle, health ---------------------------------------------------------------


def test_models_prints_a_table(run) -> None:
    result = run("models")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["NAME", "VERSION", "STATE", "CAPABILITIES", "REASON"]
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["echo"][:4] == ["echo", "1", "READY", "predict"]
    assert by_name["broken"][2] == "FAILED"


def test_models_json_lists_every_model(run) -> None:
    result = run("--json", "models")
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)
    assert [m["name"] for m in models] == ["broken", "chat", "echo", "scored", "tokens"]
    assert models[2]["capabilities"] == ["predict"]


def test_get_shows_inputs_and_output_schema(run) -> None:
    result = run("get", "scored")
    assert result.exit_code == 0, result.output
    assert "labels          cat, dog" in result.stdout
    assert "output schema:" in result.stdout
    assert '"score"' in result.stdout
    tokens = run("--json", "get", "tokens", "--version", "1")
    assert json.loads(tokens.stdout)["inputs"] == [
        {"name": "prompt", "kind": "text", "dtype": None, "shape": None, "optional": True}
    ]


def test_unload_load_and_delete(run) -> None:
    assert run("unload", "echo").stdout == "echo 1 UNLOADED\n"
    assert run("health", "echo").exit_code == 1
    assert run("load", "echo").stdout == "echo 1 READY\n"
    refused = run("delete", "echo", input="n\n")
    assert refused.exit_code == 1
    assert run("get", "echo").exit_code == 0
    deleted = run("delete", "echo", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout == "deleted echo 1\n"
    assert run("get", "echo").exit_code == 1


def test_health_exit_code_is_0_only_when_serving(run) -> None:
    serving = run("health")
    assert (serving.exit_code, serving.stdout) == (0, "SERVING\n")
    unknown = run("health", "no-such-model")
    assert (unknown.exit_code, unknown.stdout) == (1, "SERVICE_UNKNOWN\n")
    as_json = run("--json", "health", "echo")
    assert json.loads(as_json.stdout) == {"service": "echo", "status": "SERVING"}


def test_script_reports_errors_without_a_traceback(server, script) -> None:
    process = _popen(server, script, "get", "nope")
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert out == b""
    assert err.decode().startswith("error: NOT_FOUND: ")
    assert b"Traceback" not in err


def test_upload_prints_progress_lines_then_the_stored_version(run, tmp_path: Path) -> None:
    from tests.bundle_factory import write_bundle

    bundle = write_bundle(
        tmp_path / "src",
        "tripler",
        """
        from registry import ModelRunner, register

        @register("tripler")
        class Tripler(ModelRunner):
            def predict(self, request):
                return {"y": request["x"] * 3}
        """,
    )

    result = run("upload", str(bundle), "--type", "other", "--description", "x3")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("tripler 1 READY sha256:")
    assert "send: [########################] 100%" in result.stderr
    assert run("predict", "tripler", "-i", "x=[1,2]").exit_code == 0
    assert run("delete", "tripler", "--yes").exit_code == 0
    assert "tripler" not in run("models").stdout


def test_upload_shows_its_phases_in_order_and_json_keeps_stdout_clean(run, tmp_path: Path) -> None:
    from tests.bundle_factory import write_bundle

    bundle = write_bundle(tmp_path / "src", "phased", ECHO_LIKE.format(name="phased"))
    result = run("--json", "upload", str(bundle))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "READY"
    started = [line.split(":")[0] for line in result.stderr.splitlines() if ": done in" not in line]
    ended = [line.split(":")[0] for line in result.stderr.splitlines() if ": done in" in line]
    assert ended == ["pack", "send", "check", "load"]
    assert [phase for phase in started if phase in ended] == [
        "pack",
        "send",
        "send",
        "check",
        "load",
    ]


def test_upload_refuses_a_bad_namespace_before_packing(run, tmp_path: Path) -> None:
    result = run("upload", str(tmp_path), "--namespace", "no/slashes")
    assert result.exit_code == 1
    assert _last_error_line(result).startswith("error: namespace 'no/slashes' is not allowed")
    assert "pack" not in result.stderr


def test_upload_under_a_namespace_taken_by_hand_is_refused_with_the_reason(
    run, tmp_path: Path
) -> None:
    from tests.bundle_factory import write_bundle

    bundle = write_bundle(tmp_path / "src", "echo", ECHO_LIKE.format(name="echo"))
    result = run("upload", str(bundle), "--namespace", "echo")
    assert result.exit_code == 1
    assert "[NAMESPACE_OWNED]" in _last_error_line(result)
    assert "check: done" not in result.stderr  # refused from the header, before any check
    assert ": failed after" in result.stderr


def test_upload_of_a_missing_card_word_is_one_error_line(run, tmp_path: Path) -> None:
    result = run("upload", str(tmp_path), "--type", "astrology")
    assert result.exit_code == 1
    assert _last_error_line(result).startswith("error: unknown model type 'astrology'")
