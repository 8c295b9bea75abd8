"""The store survives the server: SIGKILL mid-upload, -check, -load or -delete, then a restart.

Also the memory bound of Upload: a 256 MiB bundle must not grow the server's peak RSS by 64 MiB.
Every server here is a real `modelrt serve` process on 127.0.0.1, port 0.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import pytest

from clients import Client, NotFoundError
from modelrt.v1 import runtime_pb2, runtime_pb2_grpc
from tests.bundle_factory import write_bundle, zip_folder
from tests.serve_process import start_serve, stop

pytestmark = pytest.mark.timeout(180)
MiB = 1024 * 1024

DOUBLER = """
    import time
    from pathlib import Path
    from registry import ModelRunner, register

    @register("{name}")
    class Doubler(ModelRunner):
        def load_model(self):
            while Path({hold!r}).exists():  # the test holds the load here
                time.sleep(0.05)

        def predict(self, request):
            return {{"y": request["x"] * 2}}
"""

HEAVY = """
    from registry import ModelRunner, register

    @register("heavy")
    class Heavy(ModelRunner):
        def predict(self, request):
            return {}
"""

WARM = HEAVY.replace("heavy", "warm").replace("Heavy", "Warm")

VICTIM = """
    from registry import ModelRunner, register

    @register("victim")
    class Victim(ModelRunner):
        def predict(self, request):
            return {{"y": request["x"] * {factor}}}
"""

SLOW_IMPORT = """
    import time
    time.sleep(60)
"""


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    address: str
    channels: list[grpc.Channel] = field(default_factory=list)

    def stub(self) -> runtime_pb2_grpc.ModelRuntimeStub:
        self.channels.append(grpc.insecure_channel(self.address))  # kept open until teardown
        return runtime_pb2_grpc.ModelRuntimeStub(self.channels[-1])

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Path], Served]]:
    """Start `modelrt serve` on a store; every process is stopped at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(store: Path) -> Served:
        process, address = start_serve(store, tmp_path, log_name=f"server-{len(started)}")
        started.append(process)
        return Served(process, address)

    yield start
    for process in started:
        stop(process)


def _doubler(root: Path, name: str, hold: Path) -> Path:
    # Random weights: the zip stays big enough to be sent in many chunks.
    source = DOUBLER.format(name=name, hold=str(hold))
    return write_bundle(root, name, source, folder=name, files={"w.bin": os.urandom(64 * 1024)})


def _messages(
    data: bytes, namespace: str, pause_after: int | None = None, gate: threading.Event | None = None
) -> Iterator[runtime_pb2.UploadRequest]:
    header = runtime_pb2.UploadHeader(
        namespace=namespace, total_size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    yield runtime_pb2.UploadRequest(header=header)
    for index, start in enumerate(range(0, len(data), 512)):
        if index == pause_after and gate is not None:
            gate.wait(60)
        yield runtime_pb2.UploadRequest(chunk=data[start : start + 512])


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _staged(store: Path) -> list[Path]:
    staging = store / ".staging"
    return list(staging.iterdir()) if staging.exists() else []


def _upload_in_background(stub: runtime_pb2_grpc.ModelRuntimeStub, messages) -> threading.Thread:
    def call() -> None:
        with contextlib.suppress(grpc.RpcError):  # the server is killed under it
            stub.Upload(messages, timeout=120)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def _assert_only_keeper(served: Served, store: Path) -> None:
    with Client(served.address, timeout=60) as client:
        models = client.list_models()
        assert [(m.name, m.version, m.state) for m in models] == [("keeper", "1", "READY")]
        np.testing.assert_array_equal(
            client.predict("keeper", {"x": np.ones(2)}).outputs["y"], [2.0, 2.0]
        )
    assert _staged(store) == []
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith(".")) == ["keeper"]


@pytest.fixture
def store_with_keeper(tmp_path: Path, serve) -> tuple[Path, Served]:
    store = tmp_path / "store"
    store.mkdir()
    served = serve(store)
    with Client(served.address, timeout=60) as client:
        client.upload(_doubler(tmp_path / "src", "keeper", tmp_path / "no-hold"))
    return store, served


def test_sigkill_mid_upload_leaves_only_committed_models(
    store_with_keeper, serve, tmp_path: Path
) -> None:
    store, served = store_with_keeper
    data = zip_folder(_doubler(tmp_path / "src", "partial", tmp_path / "no"), tmp_path / "p.zip")
    gate = threading.Event()
    thread = _upload_in_background(
        served.stub(), _messages(data.read_bytes(), "partial", pause_after=1, gate=gate)
    )
    _wait_for(lambda: any((s / "upload.zip").exists() for s in _staged(store)), "staging")

    served.kill()
    gate.set()
    thread.join(30)

    _assert_only_keeper(serve(store), store)


def test_sigkill_while_the_bundle_is_checked_leaves_nothing(
    store_with_keeper, serve, tmp_path: Path
) -> None:
    store, served = store_with_keeper
    folder = write_bundle(tmp_path / "src", "sleepy", SLOW_IMPORT)
    data = zip_folder(folder, tmp_path / "s.zip").read_bytes()
    thread = _upload_in_background(served.stub(), _messages(data, "sleepy"))
    _wait_for(lambda: any((s / "bundle").exists() for s in _staged(store)), "unpacking")
    time.sleep(0.5)  # the checking process is importing model.py now

    served.kill()
    thread.join(30)

    _assert_only_keeper(serve(store), store)


def test_sigkill_while_a_committed_version_loads_keeps_it(
    store_with_keeper, serve, tmp_path: Path
) -> None:
    store, served = store_with_keeper
    hold = tmp_path / "hold"
    hold.touch()
    data = zip_folder(_doubler(tmp_path / "src", "loading", hold), tmp_path / "l.zip").read_bytes()
    thread = _upload_in_background(served.stub(), _messages(data, "loading"))
    _wait_for(lambda: (store / "loading" / "1" / "manifest.json").exists(), "the commit")

    served.kill()
    thread.join(30)
    hold.unlink()

    restarted = serve(store)
    with Client(restarted.address, timeout=60) as client:
        states = {(m.name, m.version): m.state for m in client.list_models()}
        assert states == {("keeper", "1"): "READY", ("loading", "1"): "READY"}
        out = client.predict("loading", {"x": np.ones(1)}).outputs["y"]
        np.testing.assert_array_equal(out, [2.0])


def test_unloaded_and_deleted_versions_stay_so_after_a_restart(
    store_with_keeper, serve, tmp_path: Path
) -> None:
    store, served = store_with_keeper
    with Client(served.address, timeout=60) as client:
        client.upload(_doubler(tmp_path / "a", "resting", tmp_path / "no"))
        client.upload(_doubler(tmp_path / "b", "doomed", tmp_path / "no"))
        client.unload_model("resting")
        client.delete_model("doomed")
    served.kill()

    with Client(serve(store).address, timeout=60) as client:
        states = {m.name: m.state for m in client.list_models()}
    assert states == {"keeper": "READY", "resting": "UNLOADED"}


KILL_TRIALS = 6


def _victim(root: Path, factor: int) -> Path:
    """A bundle of model "victim" that multiplies by ``factor``: each upload is told apart."""
    return write_bundle(root / f"victim-{factor}", "victim", VICTIM.format(factor=factor))


def _victim_survived(served: Served, store: Path, version: str, factor: int) -> bool:
    """True when the version is served whole as before, False when it is gone; else it fails."""
    home = store / "victim" / version
    with Client(served.address, timeout=60) as client:
        states = {m.version: m.state for m in client.list_models() if m.name == "victim"}
        if version not in states:
            assert not home.exists(), f"version {version} is on disk but not served"
            return False
        assert states[version] == "READY", f"version {version} came back {states[version]}"
        assert json.loads((home / "state.json").read_text(encoding="utf-8")) == {"loaded": True}
        out = client.predict("victim", {"x": np.ones(1)}, version=version).outputs["y"]
        np.testing.assert_array_equal(out, [float(factor)])
    return True


@pytest.mark.timeout(420)
def test_sigkill_during_delete_leaves_the_version_whole_or_gone_and_its_number_unused(
    serve, tmp_path: Path
) -> None:
    rng = random.Random(14)
    store = tmp_path / "store"
    store.mkdir()
    served = serve(store)
    with Client(served.address, timeout=60) as client:  # how long one delete takes here
        given = [int(client.upload(_victim(tmp_path, 1)).model.version)]
        started = time.monotonic()
        client.delete_model("victim", str(given[0]))
        span = time.monotonic() - started
    outcomes = []
    for trial in range(KILL_TRIALS):
        factor = trial + 2
        with Client(served.address, timeout=60) as client:
            version = client.upload(_victim(tmp_path, factor)).model.version
        assert int(version) > max(given), f"version {version} was given out before: {given}"
        given.append(int(version))
        request = runtime_pb2.DeleteModelRequest(name="victim", version=version)
        thread = _call_in_background(served.stub().DeleteModel, request)
        time.sleep(span * (trial + rng.random()) / KILL_TRIALS)  # spread over the whole delete

        served.kill()
        thread.join(30)
        served = serve(store)

        outcomes.append(_victim_survived(served, store, version, factor))
        if outcomes[-1]:
            with Client(served.address, timeout=60) as client:
                client.delete_model("victim", version)
    with Client(served.address, timeout=60) as client:  # a pinned client never reaches another
        assert int(client.upload(_victim(tmp_path, 99)).model.version) > max(given)
        for old in given:
            with pytest.raises(NotFoundError):
                client.predict("victim", {"x": np.ones(1)}, version=str(old))


def _call_in_background(method: Callable[..., object], request: object) -> threading.Thread:
    def call() -> None:
        with contextlib.suppress(grpc.RpcError):  # the server is killed under it
            method(request, timeout=60)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_256_mib_upload_raises_peak_rss_by_less_than_64_mib(serve, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    folder = write_bundle(tmp_path / "src", "heavy", HEAVY)
    archive = tmp_path / "heavy.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as out:
        out.write(folder / "model.py", "model.py")
        out.write(folder / "modelrt.yaml", "modelrt.yaml")
        with out.open("weights.bin", "w", force_zip64=True) as weights:
            for _ in range(256):
                weights.write(os.urandom(MiB))
    served = serve(store)
    pid = served.process.pid
    with Client(served.address, timeout=60) as client:  # first use: lazy imports, thread pools
        client.upload(write_bundle(tmp_path / "warm", "warm", WARM), skip_load=True)
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak to the current RSS
    before = _rss_mib(pid)

    with Client(served.address, timeout=170) as client:
        result = client.upload(archive, skip_load=True)

    growth = _peak_rss_mib(pid) - before
    assert growth < 64, f"peak RSS grew by {growth:.0f} MiB"
    assert result.model.state == "UNLOADED"
    assert (store / "heavy" / "1" / "bundle" / "weights.bin").stat().st_size == 256 * MiB
    assert _staged(store) == []
