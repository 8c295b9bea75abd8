"""The Prometheus endpoint of a real server reflects calls, batches, instances and restarts."""

from __future__ import annotations

import os
import re
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from modelrt import codec
from modelrt.v1 import runtime_pb2
from tests.bundle_factory import write_bundle

MODEL = """
    import os
    from registry import ModelRunner, register

    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request):
            if request.param("crash", False):
                os._exit(1)
            return {"ok": True}
"""


def _scrape(server) -> str:
    port = server.server.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return reply.read().decode()


def _scrape_until(server, expected: dict[str, float], seconds: float = 10.0) -> str:
    """Scrape until every ``expected`` series has its value (a call's status reaches the
    client a moment before the server records the call), then return the text."""
    deadline = time.monotonic() + seconds
    while True:
        text = _scrape(server)
        found = {
            series: float(match.group(1))
            for series in expected
            if (match := re.search(rf"^{re.escape(series)} (\S+)$", text, flags=re.M))
        }
        if found == expected or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def _value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, flags=re.M)
    assert match, f"{series} not in metrics:\n{text}"
    return float(match.group(1))


def test_metrics_count_calls_batches_instances_and_restarts(start_server, tmp_path: Path) -> None:
    write_bundle(tmp_path / "store", "echo", MODEL)
    server = start_server(tmp_path / "store")
    stub = server.stub()
    stub.Predict(runtime_pb2.PredictRequest(model="echo"), timeout=10)
    with pytest.raises(grpc.RpcError):
        stub.Predict(runtime_pb2.PredictRequest(model="missing"), timeout=10)
    ok = 'modelrt_requests_total{code="OK",model="echo",rpc="Predict"}'
    missing = 'modelrt_requests_total{code="NOT_FOUND",model="",rpc="Predict"}'
    text = _scrape_until(server, {ok: 1, missing: 1})
    assert _value(text, ok) == 1
    # Unknown model names are not labels: clients cannot grow the series set.
    assert _value(text, missing) == 1
    assert _value(text, 'modelrt_batch_size_count{model="echo"}') == 1
    assert _value(text, 'modelrt_queue_duration_seconds_count{model="echo"}') == 1
    assert _value(text, 'modelrt_instances_up{model="echo"}') == 1

    crash = runtime_pb2.PredictRequest(model="echo", parameters=codec.dict_to_struct({"crash": 1}))
    with pytest.raises(grpc.RpcError):
        stub.Predict(crash, timeout=10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = _scrape(server)
        if _value(text, 'modelrt_instances_up{model="echo"}') == 1 and re.search(
            r'^modelrt_instance_restarts_total\{model="echo"\} 1\.0$', text, flags=re.M
        ):
            break
        time.sleep(0.1)
    assert _value(text, 'modelrt_instance_restarts_total{model="echo"}') == 1
    assert _value(text, 'modelrt_instances_up{model="echo"}') == 1


def test_a_deleted_model_leaves_no_series_behind(start_server, tmp_path: Path) -> None:
    write_bundle(tmp_path / "store", "echo", MODEL)
    server = start_server(tmp_path / "store")
    stub = server.stub()
    stub.Predict(runtime_pb2.PredictRequest(model="echo"), timeout=10)
    assert 'modelrt_instances_up{model="echo"}' in _scrape(server)
    stub.DeleteModel(runtime_pb2.DeleteModelRequest(name="echo"), timeout=10)
    remaining = [
        line
        for line in _scrape(server).splitlines()
        if 'model="echo"' in line and 'rpc="DeleteModel"' not in line
    ]
    assert remaining == []


def test_the_standard_process_series_describe_the_server_process(
    start_server, tmp_path: Path
) -> None:
    server = start_server(tmp_path / "store")
    text = _scrape(server)
    # The test server runs in this process: the series must describe it.
    assert _value(text, "process_resident_memory_bytes") > 10 * 1024 * 1024
    assert _value(text, "process_open_fds") >= 3
    assert _value(text, "process_cpu_seconds_total") > 0
    started = _value(text, "process_start_time_seconds")
    assert started <= time.time()
    ticks = os.sysconf("SC_CLK_TCK")
    boot = next(
        float(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    own_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    own_start = boot + own_ticks / ticks
    assert abs(started - own_start) < 2
    assert re.search(r'^python_info\{.*implementation="CPython"', text, flags=re.M)
