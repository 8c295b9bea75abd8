"""Workers that freeze: while idle (stopped, or stuck holding the GIL) health sees it within the
hang timeout and the worker is restarted; a load that hangs ends at the load timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from modelrt import codec
from modelrt.v1 import model_pb2, runtime_pb2
from tests.bundle_factory import write_bundle

pytestmark = pytest.mark.timeout(120)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
HANG_TIMEOUT_S = 2.0
LOAD_TIMEOUT_S = 8.0  # a healthy worker starts well within it, even on a busy 2-core host

FREEZABLE = """
    import os
    import re
    import threading
    import time
    from registry import ModelRunner, register

    def hold_the_gil():
        time.sleep(0.5)  # the answer that started it goes out first
        re.match(r"(a+)+$", "a" * 64 + "b")  # exponential backtracking, never lets go

    @register("freezable")
    class Freezable(ModelRunner):
        def predict(self, request):
            if request.param("how", "") == "hold-gil":
                threading.Thread(target=hold_the_gil, daemon=True).start()
            return {"pid": os.getpid()}
"""

HANGS_ON_IMPORT = """
    import os
    import time
    from pathlib import Path

    Path({pid_file!r}).write_text(str(os.getpid()))
    time.sleep(600)

    from registry import ModelRunner, register

    @register("stuck")
    class Stuck(ModelRunner):
        def predict(self, request):
            return {{}}
"""

QUICK = """
    from registry import ModelRunner, register

    @register("quick")
    class Quick(ModelRunner):
        def predict(self, request):
            return {"ok": True}
"""


def _pid(stub, **params: str) -> int:
    request = runtime_pb2.PredictRequest(model="freezable", parameters=codec.dict_to_struct(params))
    return int(codec.json_to_python(stub.Predict(request, timeout=10).structured)["pid"])


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def _wait_until(check, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _sees_down_then_up(server, freeze) -> float:
    """Freeze the idle worker; seconds until health says NOT_SERVING (then SERVING again)."""
    watch = server.health().Watch(
        health_pb2.HealthCheckRequest(service="freezable"), timeout=HANG_TIMEOUT_S + 40
    )
    try:
        assert next(watch).status == SERVING
        frozen_at = time.monotonic()
        freeze()
        assert next(watch).status == NOT_SERVING
        seen_after = time.monotonic() - frozen_at
        assert next(watch).status == SERVING  # restarted
        return seen_after
    finally:
        watch.cancel()


def test_a_stopped_idle_worker_is_not_serving_within_the_hang_timeout_and_restarts(
    start_server, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    write_bundle(store, "freezable", FREEZABLE)
    server = start_server(store, hang_timeout_s=HANG_TIMEOUT_S)
    stub = server.stub()
    pid = _pid(stub)
    try:
        seen_after = _sees_down_then_up(server, lambda: os.kill(pid, signal.SIGSTOP))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    assert seen_after < HANG_TIMEOUT_S + 10
    _wait_until(lambda: _gone(pid), seconds=10)
    assert _pid(stub) != pid


def test_a_worker_stuck_holding_the_gil_while_idle_is_restarted(
    start_server, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    write_bundle(store, "freezable", FREEZABLE)
    server = start_server(store, hang_timeout_s=HANG_TIMEOUT_S)
    stub = server.stub()
    pid = _pid(stub)
    seen_after = _sees_down_then_up(server, lambda: _pid(stub, how="hold-gil"))
    assert seen_after < HANG_TIMEOUT_S + 10
    _wait_until(lambda: _gone(pid), seconds=10)
    assert _pid(stub) != pid


def test_a_bundle_whose_import_hangs_fails_at_the_load_timeout_and_readiness_goes_on(
    start_server, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    pid_file = tmp_path / "stuck.pid"
    write_bundle(store, "stuck", HANGS_ON_IMPORT.format(pid_file=str(pid_file)))
    write_bundle(store, "quick", QUICK)
    started = time.monotonic()
    server = start_server(store, wait=False, load_timeout_s=LOAD_TIMEOUT_S)
    server.wait_ready(timeout=60)
    assert time.monotonic() - started < 60
    stub = server.stub()
    models = {m.name: m for m in stub.ListModels(runtime_pb2.ListModelsRequest()).models}
    assert models["quick"].state == model_pb2.MODEL_STATE_READY
    assert models["stuck"].state == model_pb2.MODEL_STATE_FAILED
    assert f"did not load within {LOAD_TIMEOUT_S:g}s" in models["stuck"].reason
    _wait_until(lambda: _gone(int(pid_file.read_text())), seconds=10)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Predict(runtime_pb2.PredictRequest(model="stuck"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
