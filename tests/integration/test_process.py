"""The real `modelrt serve` process: port 0, graceful drain on SIGTERM, message size limits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelrt import codec
from modelrt.v1 import runtime_pb2, runtime_pb2_grpc
from tests.bundle_factory import write_bundle

SLOW = """
    import time
    from registry import ModelRunner, register

    @register("slow")
    class Slow(ModelRunner):
        def predict(self, request):
            time.sleep(float(request.param("seconds", 0)))
            return {"slept": True}
"""

MODELRT = Path(sys.executable).with_name("modelrt")


def _start(store: Path, tmp_path: Path, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [str(MODELRT), "serve", "--model-store", str(store), "--port", "0",
         "--port-file", str(port_file), "--metrics-port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(process.communicate()[0].decode())
        time.sleep(0.05)
    address = f"127.0.0.1:{port_file.read_text().strip()}"
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while health.Check(health_pb2.HealthCheckRequest(), timeout=5).status != 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    return process, address


@pytest.fixture
def served(tmp_path: Path):
    store = tmp_path / "store"
    write_bundle(store, "slow", SLOW)
    processes: list[subprocess.Popen[bytes]] = []

    def start(*flags: str) -> tuple[subprocess.Popen[bytes], str]:
        process, address = _start(store, tmp_path, *flags)
        processes.append(process)
        return process, address

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_sigterm_lets_in_flight_calls_finish_then_exits(served) -> None:
    process, address = served("--grace-period", "10")
    result: dict[str, object] = {}
    with grpc.insecure_channel(address) as channel:
        stub = runtime_pb2_grpc.ModelRuntimeStub(channel)

        def call() -> None:
            request = runtime_pb2.PredictRequest(
                model="slow", parameters=codec.dict_to_struct({"seconds": 1.5})
            )
            result["reply"] = stub.Predict(request, timeout=20)

        thread = threading.Thread(target=call)
        thread.start()
        time.sleep(0.5)
        os.kill(process.pid, signal.SIGTERM)
        thread.join(20)
    assert codec.json_to_python(result["reply"].structured) == {"slept": True}
    assert process.wait(20) == 0
    output = process.stdout.read().decode() if process.stdout else ""
    assert "draining" in output


def test_sigint_stops_an_idle_server_promptly(served) -> None:
    process, _ = served()
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(15) == 0


def test_messages_over_the_configured_limit_are_refused(served) -> None:
    _, address = served("--max-message-bytes", str(64 * 1024))
    big = np.zeros(32 * 1024, np.float32)  # 128 KiB
    with grpc.insecure_channel(address) as channel:
        stub = runtime_pb2_grpc.ModelRuntimeStub(channel)
        request = runtime_pb2.PredictRequest(model="slow", inputs={"x": codec.python_to_value(big)})
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_taken_port_is_one_clear_error(tmp_path: Path, served) -> None:
    _, address = served()
    port = address.rsplit(":", 1)[1]
    store = tmp_path / "other"
    store.mkdir()
    result = subprocess.run(
        [str(MODELRT), "serve", "--model-store", str(store), "--port", port],
        capture_output=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr.decode()
    assert port in result.stderr.decode()
