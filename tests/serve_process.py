"""Starts a real `modelrt serve` process on 127.0.0.1, port 0, and waits until it is ready."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

MODELRT = Path(sys.executable).with_name("modelrt")
START_TIMEOUT_S = 60.0


def start_serve(
    store: Path,
    workdir: Path,
    *flags: str,
    log_name: str = "server",
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """`modelrt serve` on ``store``, output to ``workdir/<log_name>.log``; returns it and host:port.

    ``env``: the process's whole environment (default: this one's).

    Returns once health "" is SERVING (start-up loading finished). The caller stops the process.
    """
    port_file = workdir / f"{log_name}.port"
    port_file.unlink(missing_ok=True)
    http_port_file(workdir, log_name).unlink(missing_ok=True)
    log_path = workdir / f"{log_name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(MODELRT), "serve", "--model-store", str(store), "--port", "0",
             "--port-file", str(port_file), "--metrics-port", "0",
             "--http-port-file", str(http_port_file(workdir, log_name)), *flags],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while not port_file.exists() or not port_file.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"modelrt serve did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        address = f"127.0.0.1:{port_file.read_text().strip()}"
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while health.Check(health_pb2.HealthCheckRequest(), timeout=5).status != 1:
                if time.monotonic() > deadline:
                    raise AssertionError(f"modelrt serve never got ready:\n{log_path.read_text()}")
                time.sleep(0.05)
    except BaseException:
        process.kill()
        process.wait(10)
        raise
    return process, address


def http_port_file(workdir: Path, log_name: str = "server") -> Path:
    """Where start_serve's server writes its HTTP port (with MODELRT_HTTP_PORT=auto, the tests'
    default, a free one)."""
    return workdir / f"{log_name}.http"


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 20 s."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
