"""Worker processes: isolation, crashes, hangs, restarts, FAILED after a crash loop, no orphans."""

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
from modelrt.v1 import model_pb2, runtime_pb2, runtime_pb2_grpc
from tests.bundle_factory import write_bundle
from tests.integration.status_details import error_info

CRASHY = """
    import ctypes
    import os
    import signal
    import time
    from registry import ModelRunner, register

    @register("{name}")
    class Crashy(ModelRunner):
        def load_model(self):
            if self.context.parameters.get("exit_on_load"):
                os._exit(9)

        def predict(self, request):
            how = request.param("how", "")
            if how == "exit":
                os._exit(3)
            if how == "segfault":
                ctypes.string_at(0)
            if how == "oom-kill":  # what the kernel's OOM killer does
                os.kill(os.getpid(), signal.SIGKILL)
            if how == "hang":
                time.sleep(60)
            started = time.time()
            time.sleep(float(request.param("sleep", 0)))
            return {{
                "pid": os.getpid(),
                "device": self.context.device,
                "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "started": started,
                "ended": time.time(),
                "x": request.get("x"),
            }}
"""


def _crashy(name: str) -> str:
    return CRASHY.format(name=name)


def _predict(stub, model: str, timeout: float = 30, inputs=None, **params):
    request = runtime_pb2.PredictRequest(
        model=model,
        parameters=codec.dict_to_struct(params),
        inputs={k: codec.python_to_value(v) for k, v in (inputs or {}).items()},
    )
    return stub.Predict(request, timeout=timeout)


def _structured(reply) -> dict:
    return codec.json_to_python(reply.structured)


def _wait_until(check, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); its state in /proc says it has exited.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (FileNotFoundError, IndexError):
        return True


@pytest.fixture
def store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    write_bundle(store, "crashy", _crashy("crashy"))
    write_bundle(store, "steady", _crashy("steady"))
    return store


def test_model_code_runs_in_a_worker_process_on_its_assigned_device(start_server, store) -> None:
    stub = start_server(store).stub()
    result = _structured(_predict(stub, "steady"))
    assert result["pid"] != os.getpid()
    assert result["device"] == "cpu"
    assert result["cuda"] == ""  # a CPU instance sees no GPU


@pytest.mark.parametrize("how", ["exit", "segfault", "oom-kill"])
def test_a_crash_fails_only_that_model_and_the_instance_restarts(
    start_server, store, how: str
) -> None:
    server = start_server(store)
    stub = server.stub()
    before = _structured(_predict(stub, "crashy"))["pid"]
    with pytest.raises(grpc.RpcError) as caught:
        _predict(stub, "crashy", how=how)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "model 'crashy'" in caught.value.details()
    assert "crashed" in caught.value.details()
    assert error_info(caught.value).reason == "INSTANCE_DOWN"
    _predict(stub, "steady")  # the other model never noticed

    def restarted() -> bool:
        try:
            return _structured(_predict(stub, "crashy", timeout=5))["pid"] != before
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            return False

    _wait_until(restarted)


def test_health_is_not_serving_until_the_crashed_instance_is_back(start_server, store) -> None:
    server = start_server(store)
    watch = server.health().Watch(health_pb2.HealthCheckRequest(service="crashy"), timeout=30)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError):
        _predict(server.stub(), "crashy", how="exit")
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


def test_a_hung_call_is_unavailable_and_the_instance_restarts(start_server, store) -> None:
    server = start_server(store, hang_timeout_s=1.0)
    stub = server.stub()
    with pytest.raises(grpc.RpcError) as caught:
        _predict(stub, "crashy", how="hang")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "hung" in caught.value.details()
    _wait_until(lambda: _try(stub, "crashy"))


def _try(stub, model: str) -> bool:
    try:
        _predict(stub, model, timeout=5)
        return True
    except grpc.RpcError:
        return False


def test_a_model_that_keeps_crashing_goes_failed_with_the_reason(start_server, store) -> None:
    server = start_server(store, max_restarts=1)
    stub = server.stub()
    for _ in range(2):
        _wait_until(lambda: _try(stub, "crashy"))
        with pytest.raises(grpc.RpcError):
            _predict(stub, "crashy", how="exit")

    def failed() -> bool:
        model = stub.GetModel(runtime_pb2.GetModelRequest(name="crashy"), timeout=5).model
        return model.state == model_pb2.MODEL_STATE_FAILED

    _wait_until(failed)
    model = stub.GetModel(runtime_pb2.GetModelRequest(name="crashy"), timeout=5).model
    assert "crashed 2 times" in model.reason
    _predict(stub, "steady")


def test_a_worker_dying_while_loading_fails_the_model_with_its_exit_code(
    start_server, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    write_bundle(store, "dies", _crashy("dies"), config={"parameters": {"exit_on_load": True}})
    stub = start_server(store).stub()
    model = stub.GetModel(runtime_pb2.GetModelRequest(name="dies"), timeout=5).model
    assert model.state == model_pb2.MODEL_STATE_FAILED
    assert "exit code 9" in model.reason


def test_unload_ends_the_worker_process(start_server, store) -> None:
    stub = start_server(store).stub()
    pid = _structured(_predict(stub, "steady"))["pid"]
    stub.UnloadModel(runtime_pb2.UnloadModelRequest(name="steady"), timeout=10)
    _wait_until(lambda: _gone(pid), seconds=10)


def test_two_instances_share_one_queue_and_run_at_once(start_server, tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_bundle(store, "pair", _crashy("pair"), config={"instances": [{"count": 2}]})
    stub = start_server(store).stub()
    results: list[dict] = []

    def call() -> None:
        results.append(_structured(_predict(stub, "pair", sleep=0.8)))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len({r["pid"] for r in results}) == 2
    first, second = sorted(results, key=lambda r: r["started"])
    assert second["started"] < first["ended"]  # the two calls overlapped


def test_a_large_tensor_crosses_the_process_boundary_intact(start_server, store) -> None:
    stub = start_server(store).stub()
    tensor = np.random.default_rng(0).random((1024, 1024, 4), dtype=np.float32)  # 16 MiB
    request = runtime_pb2.PredictRequest(
        model="steady", inputs={"x": codec.python_to_value(tensor)}
    )
    reply = stub.Predict(request, timeout=30)
    np.testing.assert_array_equal(codec.value_to_python(reply.outputs["x"]), tensor)


OWN_ERRORS = """
    import os
    from registry import ErrorCode, ModelRunner, ModelrtError, register

    class Refused(ModelrtError):  # only the worker can import it; its __init__ is its own
        code = ErrorCode.FAILED_PRECONDITION
        reason = "REFUSED"

        def __init__(self, what, why):
            super().__init__(f"{{what}} refused: {{why}}", metadata={{"what": what}})

    @register("{name}")
    class OwnErrors(ModelRunner):
        def {hook}(self, request):
            if {hook!r} == "predict_batch":
                refused = Refused("x", "closed")
                return [refused if r.param("refuse", False) else {{"pid": os.getpid()}}
                        for r in request]
            if request.param("refuse", False):
                raise Refused("x", "closed")
            return {{"pid": os.getpid()}}
"""


@pytest.mark.parametrize("hook", ["predict", "predict_batch"])
def test_a_models_own_error_class_reaches_the_caller_with_its_code(
    start_server, tmp_path: Path, hook: str
) -> None:
    store = tmp_path / "store"
    batching = {"batching": {"max_batch_size": 4, "max_queue_delay_ms": 2}}
    config = batching if hook == "predict_batch" else {}
    write_bundle(store, "own", OWN_ERRORS.format(name="own", hook=hook), config=config)
    stub = start_server(store, hang_timeout_s=20).stub()
    pid = _structured(_predict(stub, "own"))["pid"]
    for _ in range(2):  # twice: the worker is still there after the first
        with pytest.raises(grpc.RpcError) as caught:
            _predict(stub, "own", timeout=10, refuse=True)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION, caught.value.details()
        assert caught.value.details() == "x refused: closed"
        info = error_info(caught.value)
        assert info.reason == "REFUSED"
        assert info.metadata["what"] == "x"
    assert _structured(_predict(stub, "own"))["pid"] == pid


MODELRT = Path(sys.executable).with_name("modelrt")


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_the_server(store, tmp_path: Path, signum: int) -> None:
    port_file = tmp_path / "port"
    server = subprocess.Popen(
        [str(MODELRT), "serve", "--model-store", str(store), "--port", "0",
         "--metrics-port", "0", "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_until(lambda: port_file.exists() and port_file.read_text().strip() != "")
        address = f"127.0.0.1:{port_file.read_text().strip()}"
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            _wait_until(
                lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
            )
            stub = runtime_pb2_grpc.ModelRuntimeStub(channel)
            pids = [_structured(_predict(stub, m))["pid"] for m in ("crashy", "steady")]
        os.kill(server.pid, signum)
        server.wait(20)
        _wait_until(lambda: all(_gone(pid) for pid in pids), seconds=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
