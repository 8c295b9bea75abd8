"""`modelrt serve` at start: a missing model store and a port in use are one line, exit code 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve_process import stop

MODELRT = Path(sys.executable).parent / "modelrt"
pytestmark = pytest.mark.timeout(90)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("MODELRT_")}


def _serve(*flags: str) -> subprocess.CompletedProcess[str]:
    """Run `modelrt serve` expecting it to refuse to start (a server that starts times out)."""
    # A later --http-port in flags wins (click keeps an option's last value).
    command = [str(MODELRT), "serve", "--port", "0", "--metrics-port", "0", "--http-port", "auto"]
    return subprocess.run(
        [*command, *flags],
        capture_output=True,
        text=True,
        timeout=30,
        env=_env(),
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_missing_model_store_refuses_to_start_naming_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "modle-store"
    line = _one_error_line(_serve("--model-store", str(missing)))
    assert f"model store {missing} does not exist" in line
    assert "--create-model-store" in line
    assert not missing.exists()


def test_create_store_makes_the_folder_and_serves(tmp_path: Path) -> None:
    store, port_file = tmp_path / "new" / "store", tmp_path / "port"
    process = subprocess.Popen(
        [str(MODELRT), "serve", "--model-store", str(store), "--create-store", "--port", "0",
         "--metrics-port", "0", "--http-port", "auto", "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.05)
        assert store.is_dir()
    finally:
        stop(process)


def test_a_grpc_port_in_use_is_one_line(tmp_path: Path, taken_port: int) -> None:
    line = _one_error_line(_serve("--model-store", str(tmp_path), "--port", str(taken_port)))
    assert f"port {taken_port} on 127.0.0.1 is already in use" in line


def test_an_http_port_in_use_is_one_line(tmp_path: Path, taken_port: int) -> None:
    line = _one_error_line(_serve("--model-store", str(tmp_path), "--http-port", str(taken_port)))
    assert f"HTTP port {taken_port} on 127.0.0.1 is already in use" in line
    assert "auto picks one" in line


def _printed_addresses(tmp_path: Path, *flags: str) -> list[str]:
    """What `modelrt serve` prints on stdout once listening (then it is stopped)."""
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [str(MODELRT), "serve", "--model-store", str(tmp_path), "--port", "0",
         "--metrics-port", "0", "--port-file", str(port_file), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert process.poll() is None, "serve exited"
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.05)
    finally:
        stop(process)
    assert process.stdout is not None
    return process.stdout.read().splitlines()


def test_serve_prints_the_grpc_http_and_metrics_addresses(tmp_path: Path) -> None:
    lines = _printed_addresses(tmp_path, "--http-port", "auto")
    assert [line.split()[0] for line in lines] == ["gRPC", "HTTP", "metrics"]
    http = lines[1].split()[1]
    assert http.startswith("http://127.0.0.1:")
    assert http.endswith("/")
    assert lines[2].split()[1].endswith("/metrics")


def test_http_port_0_turns_the_http_front_door_off(tmp_path: Path) -> None:
    lines = _printed_addresses(tmp_path, "--http-port", "0")
    assert [line.split()[0] for line in lines] == ["gRPC", "metrics"]


def test_a_metrics_port_in_use_is_one_line(tmp_path: Path, taken_port: int) -> None:
    flags = ("--model-store", str(tmp_path), "--metrics-port", str(taken_port))
    line = _one_error_line(_serve(*flags))
    assert f"metrics port {taken_port} on 127.0.0.1 is already in use" in line
