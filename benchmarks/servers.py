"""Starts the servers under test (``modelrt serve`` and the echo ceiling) and always stops them.

Every process is started here and stopped by its pid: SIGTERM, then SIGKILL after a grace
period; any worker it leaves behind (the same pid and start time as seen while it ran) too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import procfs
from grpc_health.v1 import health_pb2, health_pb2_grpc

HERE = Path(__file__).resolve().parent
MODELRT = Path(sys.executable).with_name("modelrt")
START_TIMEOUT_S = 120.0
STOP_GRACE_S = 15.0


class ServerStartError(RuntimeError):
    """A server exited, or did not become ready in time; the message ends with its log."""


@dataclass
class Server:
    """A started server process, where it listens, and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    address: str = ""
    family: list[tuple[int, int]] = field(default_factory=list)  # (pid, start time) seen

    @property
    def pid(self) -> int:
        return self.process.pid

    def remember_family(self) -> None:
        """Note the server's current descendants, so that stop() can reap any it leaves."""
        for pid in procfs.descendants(self.pid):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                entry = (pid, procfs.start_time(pid))
                if entry not in self.family:
                    self.family.append(entry)


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no output)"


def launch(
    name: str,
    command: Sequence[str],
    log: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    """Start ``command`` with its output in ``log`` (the caller awaits it and stops it)."""
    with log.open("wb") as out:  # a file, not a pipe: a chatty server never blocks on it
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    return Server(name, process, log)


def _wait_port(server: Server, port_file: Path, deadline: float) -> None:
    while not port_file.exists() or not port_file.read_text().strip():
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise ServerStartError(f"{server.name} did not start:\n{_log_tail(server.log)}")
        time.sleep(0.05)
    server.address = f"127.0.0.1:{port_file.read_text().strip()}"


def _wait_serving(server: Server, deadline: float) -> None:
    serving = health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
            except grpc.RpcError:
                status = None
            if status == serving:
                return
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise ServerStartError(f"{server.name} never got SERVING:\n{_log_tail(server.log)}")
            time.sleep(0.1)


def serve_command() -> list[str]:
    """``modelrt serve`` through the console script next to the interpreter; where the project
    is not installed (a checkout on PYTHONPATH, as on the GPU machine), ``python -m runtime``."""
    if MODELRT.exists():
        return [str(MODELRT), "serve"]
    return [sys.executable, "-m", "runtime"]


def modelrt_command(
    store: Path, port_file: Path, flags: Sequence[str], profile: Path | None
) -> list[str]:
    """``modelrt serve`` on port 0 (metrics too), optionally under cProfile."""
    serve = [
        *serve_command(), "--model-store", str(store), "--host", "127.0.0.1",
        "--port", "0", "--port-file", str(port_file), "--metrics-port", "0",
        "--log-level", "WARNING", *flags,
    ]  # fmt: skip
    if profile is None:
        return serve
    return [sys.executable, "-m", "cProfile", "-o", str(profile), *serve]


def start_modelrt(
    store: Path,
    workdir: Path,
    flags: Sequence[str] = (),
    profile: Path | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    """Start ``modelrt serve`` on ``store`` and wait for health SERVING (every model loaded).

    ``env``: the server's whole environment (default: this process's).
    """
    port_file = workdir / f"port-{store.name}"
    port_file.unlink(missing_ok=True)
    command = modelrt_command(store, port_file, flags, profile)
    log = workdir / f"modelrt-{store.name}.log"
    server = launch(f"modelrt ({store.name})", command, log, env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        _wait_port(server, port_file, deadline)
        _wait_serving(server, deadline)
        server.remember_family()
    except BaseException:
        stop(server)
        raise
    return server


def start_echo(workdir: Path) -> Server:
    """Start the echo ceiling server (echo_server.py) in a process of its own."""
    return _start_script("echo", "echo_server.py", workdir)


def start_floor(workdir: Path) -> Server:
    """Start the process-boundary floor (pipe_server.py) in a process of its own."""
    return _start_script("floor", "pipe_server.py", workdir)


def _start_script(name: str, script: str, workdir: Path) -> Server:
    port_file = workdir / f"port-{name}"
    port_file.unlink(missing_ok=True)  # a stale one from an earlier run would name a dead port
    command = [sys.executable, str(HERE / script), "--port-file", str(port_file)]
    server = launch(name, command, workdir / f"{name}.log")
    try:
        _wait_port(server, port_file, time.monotonic() + START_TIMEOUT_S)
    except BaseException:
        stop(server)
        raise
    return server


def check_alive(server: Server) -> None:
    """Raise ServerStartError with the log's tail when ``server`` has exited."""
    if server.process.poll() is not None:
        code = server.process.returncode
        raise ServerStartError(f"{server.name} exited ({code}):\n{_log_tail(server.log)}")


def stop(server: Server) -> None:
    """SIGTERM, wait, SIGKILL; then kill any of its workers still alive. Never raises."""
    with contextlib.suppress(ProcessLookupError):
        if server.process.poll() is None:
            server.remember_family()
            server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(STOP_GRACE_S)
    for pid, started in server.family:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
            if procfs.start_time(pid) == started:
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    """Stop ``server`` when the block ends, however it ends."""
    try:
        yield server
    finally:
        stop(server)
