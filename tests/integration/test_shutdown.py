"""Shutdown stops the instances of every model at once: busy models do not add up one by one."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from modelrt.v1 import runtime_pb2
from tests.bundle_factory import write_bundle

pytestmark = pytest.mark.timeout(120)

BUSY = """
    import time
    from pathlib import Path
    from registry import ModelRunner, register

    @register("{name}")
    class Busy(ModelRunner):
        def predict(self, request):
            Path({started!r}).touch()
            time.sleep(60)  # still in model code when the server stops
            return {{}}
"""
MODELS = 4
# A worker busy in model code does not read its stop message: it is killed after this wait
# (runtime/instances/worker_supervisor.py). One model after another, shutdown took at least
# MODELS times that.
WORKER_STOP_WAIT_S = 5.0
GRACE_S = 0.5


def test_shutdown_stops_busy_models_in_parallel(start_server, tmp_path: Path) -> None:
    store = tmp_path / "store"
    names = [f"busy{index}" for index in range(MODELS)]
    for name in names:
        write_bundle(store, name, BUSY.format(name=name, started=str(tmp_path / name)))
    server = start_server(store)
    stub = server.stub()
    calls = [
        stub.Predict.future(runtime_pb2.PredictRequest(model=name), timeout=90) for name in names
    ]
    deadline = time.monotonic() + 30
    while not all((tmp_path / name).exists() for name in names):
        assert time.monotonic() < deadline, "the predicts did not start"
        time.sleep(0.05)

    started = time.monotonic()
    server.stop(grace=GRACE_S)
    took = time.monotonic() - started

    serial_sum = GRACE_S + MODELS * WORKER_STOP_WAIT_S
    assert took < serial_sum / 2, f"shutdown took {took:.1f}s; one by one it takes {serial_sum}s"
    for call in calls:
        assert call.exception(timeout=10) is not None  # cut off, not answered
        assert call.code() != grpc.StatusCode.OK
