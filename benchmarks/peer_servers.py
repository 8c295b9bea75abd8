"""Starts the peers the comparison runs beside modelrt: MLServer and TorchServe, each from its venv.

Each serves the benchmark MLP (the same ONNX file) through our own runtime or handler in
benchmarks/peers/, with the same batching, on 127.0.0.1 only; each is started, awaited until
the model answers readiness, and stopped by pid like every other server (servers.stop).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import servers

HERE = Path(__file__).resolve().parent
PEER_CODE = HERE / "peers"
MODEL = "mlp"
START_TIMEOUT_S = 240.0  # a JVM and a worker starting on a busy 2-core box
POLL_S = 0.5


@dataclass(frozen=True)
class Batching:
    """What every system gets: a batch leaves when full or when its oldest request waited this."""

    max_batch_size: int = 32
    max_delay_ms: float = 5.0


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (the peers take fixed ports; the window in
    which another process could take one before the peer binds it is short)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:  # all held open together, so no port is handed out twice
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def unavailable(name: str, venv: Path) -> str:
    """Why ``name`` cannot run here ("" when it can): a missing venv, or java for TorchServe."""
    script = venv / "bin" / ("mlserver" if name == "mlserver" else "torchserve")
    if not script.exists():
        return f"{script} is missing: run `make bench-peers-setup`"
    if name == "torchserve" and shutil.which("java") is None:
        return "java is not on PATH: `make bench-peers-setup` installs openjdk-17-jre-headless"
    return ""


def _http_ok(url: str) -> str | None:
    """The body of a 200 answer, or None (not listening yet, or not ready)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            body: bytes = answer.read()
            return body.decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return None


def _wait_ready(server: servers.Server, ready: str, needs: str) -> None:
    """Poll ``ready`` until it answers 200 with ``needs`` in its body."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        body = _http_ok(ready)
        if body is not None and needs in body:
            return
        servers.check_alive(server)
        if time.monotonic() > deadline:
            raise servers.ServerStartError(f"{server.name} not ready after {START_TIMEOUT_S:g} s")
        time.sleep(POLL_S)


def _start(
    name: str, command: list[str], workdir: Path, env: dict[str, str], ready: str, needs: str
) -> servers.Server:
    server = servers.launch(name, command, workdir / f"{name}.log", cwd=workdir, env=env)
    try:
        _wait_ready(server, ready, needs)
        server.remember_family()
    except BaseException:
        servers.stop(server)
        raise
    return server


def start_mlserver(venv: Path, workdir: Path, onnx: Path, batching: Batching) -> servers.Server:
    """MLServer 1.7: gRPC (the Open Inference Protocol) on a free port; REST and metrics too."""
    root = workdir / "mlserver"
    model = root / MODEL
    model.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx, model / "mlp.onnx")
    shutil.copyfile(PEER_CODE / "mlserver_mlp.py", model / "mlserver_mlp.py")
    grpc_port, http_port, metrics_port = free_ports(3)
    settings = {
        "host": "127.0.0.1",
        "grpc_port": grpc_port,
        "http_port": http_port,
        "metrics_port": metrics_port,
        "parallel_workers": 1,  # inference in one worker process, as modelrt's one instance
    }
    (root / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    model_settings = {
        "name": MODEL,
        "implementation": "mlserver_mlp.OnnxMlp",
        "max_batch_size": batching.max_batch_size,
        "max_batch_time": batching.max_delay_ms / 1000.0,
        "parameters": {"uri": "./mlp.onnx"},
    }
    (model / "model-settings.json").write_text(json.dumps(model_settings), encoding="utf-8")
    command = [str(venv / "bin" / "mlserver"), "start", str(root)]
    ready = f"http://127.0.0.1:{http_port}/v2/models/{MODEL}/ready"
    server = _start("mlserver", command, root, dict(os.environ), ready, needs="")
    server.address = f"127.0.0.1:{grpc_port}"
    return server


def _torchserve_archive(venv: Path, root: Path, onnx: Path, batching: Batching) -> Path:
    """mlp.mar in root/store: our handler, the ONNX file and the batching config."""
    build, store = root / "build", root / "store"
    build.mkdir(parents=True, exist_ok=True)
    store.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx, build / "mlp.onnx")
    shutil.copyfile(PEER_CODE / "torchserve_mlp.py", build / "torchserve_mlp.py")
    config = (
        f"minWorkers: 1\nmaxWorkers: 1\nbatchSize: {batching.max_batch_size}\n"
        f"maxBatchDelay: {round(batching.max_delay_ms)}\nresponseTimeout: 120\n"
    )
    (build / "model-config.yaml").write_text(config, encoding="utf-8")
    command = [
        str(venv / "bin" / "torch-model-archiver"), "--model-name", MODEL, "--version", "1.0",
        "--handler", str(build / "torchserve_mlp.py"), "--extra-files", str(build / "mlp.onnx"),
        "--config-file", str(build / "model-config.yaml"), "--export-path", str(store), "-f",
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return store


def start_torchserve(venv: Path, workdir: Path, onnx: Path, batching: Batching) -> servers.Server:
    """TorchServe 0.12 in the foreground: its gRPC inference API on a free port."""
    root = workdir / "torchserve"
    store = _torchserve_archive(venv, root, onnx, batching)
    names = ("inference", "management", "metrics", "grpc", "grpc_m")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    properties = "\n".join([
        f"inference_address=http://127.0.0.1:{ports['inference']}",
        f"management_address=http://127.0.0.1:{ports['management']}",
        f"metrics_address=http://127.0.0.1:{ports['metrics']}",
        "grpc_inference_address=127.0.0.1",
        f"grpc_inference_port={ports['grpc']}",
        "grpc_management_address=127.0.0.1",
        f"grpc_management_port={ports['grpc_m']}",
        "disable_token_authorization=true",
        "disable_system_metrics=true",  # else a Python process is spawned every minute
        "default_workers_per_model=1",
    ])  # fmt: skip
    (root / "config.properties").write_text(properties + "\n", encoding="utf-8")
    tmp = root / "tmp"  # its pid file lives in the temp folder: one of our own, not /tmp's
    tmp.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        str(venv / "bin" / "torchserve"), "--start", "--foreground", "--ncs",
        "--disable-token-auth", "--ts-config", str(root / "config.properties"),
        "--model-store", str(store), "--models", f"{MODEL}={MODEL}.mar",
    ]  # fmt: skip
    ready = f"http://127.0.0.1:{ports['management']}/models/{MODEL}"  # lists its workers
    server = _start("torchserve", command, root, env, ready, needs='"READY"')
    server.address = f"127.0.0.1:{ports['grpc']}"
    return server
