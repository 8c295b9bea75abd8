"""Containment of model code: the processes it starts end with its worker, and a memory limit
per instance (the worker and what it started) stops and restarts an instance that exceeds it."""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from modelrt import codec
from modelrt.v1 import model_pb2, runtime_pb2, runtime_pb2_grpc
from tests.bundle_factory import write_bundle
from tests.serve_process import start_serve

SPAWNER = """
    import multiprocessing
    import os
    import subprocess
    import time
    from pathlib import Path
    from registry import ModelRunner, register

    @register("{name}")
    class Spawner(ModelRunner):
        def predict(self, request):
            if request.param("crash", False):
                os._exit(3)
            pid_file = Path(request.param("pid_file"))
            sleeper = subprocess.Popen(["sleep", "300"])
            child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(300,))
            child.start()
            # sh starts sleep in the background and exits: sleep is reparented, in the group.
            subprocess.run(["sh", "-c", f"sleep 300 & echo $! > {{pid_file}}.bg"], check=True)
            pids = [sleeper.pid, child.pid, int(Path(f"{{pid_file}}.bg").read_text())]
            pid_file.write_text(" ".join(map(str, pids)))
            return {{"worker": os.getpid(), "children": pids}}
"""

HOG = """
    import time
    from registry import ModelRunner, register

    MiB = 1024 * 1024

    @register("{name}")
    class Hog(ModelRunner):
        def load_model(self):
            self.held = b""
            mb = int(self.context.parameters.get("load_mb", 0))
            if mb:
                self.held = b"x" * (mb * MiB)  # written, so resident
                time.sleep(30)

        def predict(self, request):
            mb = int(request.param("mb", 0))
            if mb:
                held = b"x" * (mb * MiB)
                time.sleep(30)
                return {{"held": len(held)}}
            return {{"held": 0}}
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie still answers kill(0); /proc says it has exited
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def _wait_until(check, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _kill_leftovers(pids: list[int]) -> None:
    for pid in pids:  # only if the test failed: never leave sleepers behind
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def _spawn_children(stub, model: str, pid_file: Path) -> tuple[int, list[int]]:
    params = codec.dict_to_struct({"pid_file": str(pid_file)})
    reply = stub.Predict(runtime_pb2.PredictRequest(model=model, parameters=params), timeout=30)
    result = codec.json_to_python(reply.structured)
    assert len(result["children"]) == 3
    assert all(not _gone(pid) for pid in result["children"])
    return result["worker"], result["children"]


@pytest.fixture
def spawner_store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    write_bundle(store, "spawner", SPAWNER.format(name="spawner"))
    return store


def test_unload_ends_every_process_model_code_started(start_server, spawner_store, tmp_path):
    stub = start_server(spawner_store).stub()
    worker, children = _spawn_children(stub, "spawner", tmp_path / "pids")
    try:
        # The worker leads a group of its own: ending it can never reach the server's group.
        assert os.getpgid(worker) == worker != os.getpgrp()
        assert all(os.getpgid(pid) == worker for pid in children)
        # ...in the server's session: a session apart is scheduled apart (autogroups)
        assert os.getsid(worker) == os.getsid(0)
        stub.UnloadModel(runtime_pb2.UnloadModelRequest(name="spawner"), timeout=30)
        _wait_until(lambda: all(_gone(pid) for pid in [worker, *children]), seconds=15)
    finally:
        _kill_leftovers(children)


def test_a_crashed_workers_children_end_before_it_restarts(start_server, spawner_store, tmp_path):
    stub = start_server(spawner_store).stub()
    _, children = _spawn_children(stub, "spawner", tmp_path / "pids")
    try:
        crash = codec.dict_to_struct({"crash": True})
        with pytest.raises(grpc.RpcError):
            stub.Predict(runtime_pb2.PredictRequest(model="spawner", parameters=crash), timeout=30)
        _wait_until(lambda: all(_gone(pid) for pid in children), seconds=15)
    finally:
        _kill_leftovers(children)


def test_a_clean_shutdown_ends_every_process_model_code_started(
    start_server, spawner_store, tmp_path
):
    server = start_server(spawner_store)
    _, children = _spawn_children(server.stub(), "spawner", tmp_path / "pids")
    try:
        server.stop()
        _wait_until(lambda: all(_gone(pid) for pid in children), seconds=15)
    finally:
        _kill_leftovers(children)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_model_code_processes_die_with_a_killed_server(spawner_store, tmp_path, signum):
    process, address = start_serve(spawner_store, tmp_path)
    children: list[int] = []
    try:
        with grpc.insecure_channel(address) as channel:
            stub = runtime_pb2_grpc.ModelRuntimeStub(channel)
            worker, children = _spawn_children(stub, "spawner", tmp_path / "pids")
        os.kill(process.pid, signum)
        process.wait(30)
        _wait_until(lambda: all(_gone(pid) for pid in [worker, *children]), seconds=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        _kill_leftovers(children)


def _scrape(server) -> str:
    port = server.server.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return reply.read().decode()


def _predict(stub, model: str, **params):
    request = runtime_pb2.PredictRequest(model=model, parameters=codec.dict_to_struct(params))
    return stub.Predict(request, timeout=60)


def _works(stub, model: str) -> bool:
    try:
        _predict(stub, model)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.UNAVAILABLE:  # restarting; anything else is a failure
            raise
        return False
    return True


def test_an_instance_over_its_memory_limit_is_stopped_and_restarted(start_server, tmp_path):
    store = tmp_path / "store"
    write_bundle(store, "hog", HOG.format(name="hog"), config={"memory_limit_mb": 300})
    server = start_server(store)
    stub = server.stub()
    _predict(stub, "hog")
    with pytest.raises(grpc.RpcError) as caught:
        _predict(stub, "hog", mb=600)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "model 'hog'" in caught.value.details()
    assert "exceeded its memory limit of 300 MiB" in caught.value.details()
    _wait_until(lambda: _works(stub, "hog"), seconds=30)
    text = _scrape(server)
    assert re.search(
        r'^modelrt_instance_memory_limit_exceeded_total\{model="hog"\} 1\.0$', text, re.M
    )
    gauge = 'modelrt_instance_memory_bytes{instance="0",model="hog"}'
    _wait_until(lambda: gauge in _scrape(server))


def test_a_memory_limit_crash_loop_ends_failed_with_the_reason(start_server, tmp_path):
    store = tmp_path / "store"
    write_bundle(store, "hog", HOG.format(name="hog"))
    stub = start_server(store, worker_memory_limit_mb=300, max_restarts=0).stub()
    with pytest.raises(grpc.RpcError):
        _predict(stub, "hog", mb=600)

    def failed() -> bool:
        model = stub.GetModel(runtime_pb2.GetModelRequest(name="hog"), timeout=5).model
        return model.state == model_pb2.MODEL_STATE_FAILED

    _wait_until(failed, seconds=30)
    model = stub.GetModel(runtime_pb2.GetModelRequest(name="hog"), timeout=5).model
    assert "exceeded its memory limit of 300 MiB" in model.reason


def test_a_load_over_the_memory_limit_fails_the_model_with_the_reason(start_server, tmp_path):
    store = tmp_path / "store"
    write_bundle(store, "hog", HOG.format(name="hog"), config={"parameters": {"load_mb": 600}})
    write_bundle(store, "lean", HOG.format(name="lean"))
    stub = start_server(store, worker_memory_limit_mb=300).stub()
    model = stub.GetModel(runtime_pb2.GetModelRequest(name="hog"), timeout=5).model
    assert model.state == model_pb2.MODEL_STATE_FAILED
    assert "model 'hog'" in model.reason
    assert "exceeded its memory limit of 300 MiB" in model.reason
    _predict(stub, "lean")  # the limit is per instance: a model within it serves
