"""`modelrt serve --frontends N`: helper front ends on one shared port, feeding the same models.

Which process a connection lands on is the kernel's choice (SO_REUSEPORT). A test finds out with a
Predict and the main process's ``modelrt_frontend_predicts_total`` (the Predicts each helper front
end handed over), then uses connections it knows to be on each side.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from modelrt import codec
from modelrt.oip import grpc_service_pb2 as oip
from modelrt.oip import grpc_service_pb2_grpc as oip_grpc
from modelrt.v1 import runtime_pb2, runtime_pb2_grpc
from tests.bundle_factory import write_bundle
from tests.serve_process import MODELRT, start_serve, stop
from tests.tls_factory import CertificateAuthority

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
FRONTEND_MODULE = "runtime.api.frontend_process"

ECHO = """
    import os
    from registry import ModelRunner, register

    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request):
            return {"x": request["x"], "pid": os.getpid()}

        def generate(self, request):
            for index in range(int(request.param("n", 3))):
                yield {"x": request["x"], "index": index}

        def stream(self, requests):
            for request in requests:
                yield {"x": request["x"]}
"""

BATCHER = """
    from registry import ModelRunner, register

    @register("batcher")
    class Batcher(ModelRunner):
        def predict_batch(self, requests):
            xs = [r["x"] for r in requests]
            return [{"x": x, "batch": xs} for x in xs]
"""

SLEEPER = """
    import time
    from registry import ModelRunner, register

    @register("sleeper")
    class Sleeper(ModelRunner):
        def predict(self, request):
            time.sleep(float(request.param("seconds", 0)))
            return {"slept": True}
"""

UPLOADED = """
    from registry import ModelRunner, register

    @register("uploaded")
    class Uploaded(ModelRunner):
        def predict(self, request):
            return {"ok": True}
"""


@dataclass
class Fleet:
    process: subprocess.Popen[bytes]
    address: str
    metrics_url: str
    credentials: grpc.ChannelCredentials | None = None  # TLS (and a token), when the server has it

    def scrape(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=10) as reply:
            return str(reply.read().decode())

    def value(self, series: str) -> float:
        match = re.search(rf"^{re.escape(series)} (\S+)$", self.scrape(), re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def channel(self) -> grpc.Channel:
        """A channel with a TCP connection of its own (no subchannel shared with other ones)."""
        options = [("grpc.use_local_subchannel_pool", 1)]
        if self.credentials is not None:
            return grpc.secure_channel(self.address, self.credentials, options=options)
        return grpc.insecure_channel(self.address, options=options)

    def helper_pids(self) -> list[int]:
        return [pid for pid, cmd in _children(self.process.pid) if FRONTEND_MODULE in cmd]


def _children(parent: int) -> list[tuple[int, str]]:
    """(pid, command line) of each live child process of ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append((int(entry.name), cmd))
    return found


def _metrics_url(log: Path) -> str:
    match = re.search(r"metrics\s+(http://\S+/metrics)", log.read_text())
    assert match, log.read_text()
    return match.group(1)


def _predict(channel: grpc.Channel, model: str, x: str, timeout: float = 30) -> dict:
    stub = runtime_pb2_grpc.ModelRuntimeStub(channel)
    request = runtime_pb2.PredictRequest(model=model, inputs={"x": codec.python_to_value(x)})
    return dict(codec.json_to_python(stub.Predict(request, timeout=timeout).structured))


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    store = tmp_path / "store"
    write_bundle(store, "echo", ECHO)
    batching = {"max_batch_size": 8, "max_queue_delay_ms": 300, "queue_delay": "fixed"}
    write_bundle(store, "batcher", BATCHER, config={"batching": batching})
    write_bundle(store, "sleeper", SLEEPER)
    started: list[subprocess.Popen[bytes]] = []

    def start(count: int) -> Fleet:
        process, address = start_serve(store, tmp_path, "--frontends", str(count))
        started.append(process)
        return Fleet(process, address, _metrics_url(tmp_path / "server.log"))

    yield start
    for process in started:
        stop(process)


def _sides(fleet: Fleet, tries: int = 40) -> tuple[grpc.Channel, grpc.Channel]:
    """A channel whose connection the main process serves, and one a helper front end serves."""
    main: grpc.Channel | None = None
    helper: grpc.Channel | None = None
    series = 'modelrt_frontend_predicts_total{frontend="1"}'
    for _ in range(tries):
        channel = fleet.channel()
        before = fleet.value(series)
        _predict(channel, "echo", "probe")
        if fleet.value(series) > before and helper is None:
            helper = channel
        elif fleet.value(series) == before and main is None:
            main = channel
        else:
            channel.close()
        if main is not None and helper is not None:
            return main, helper
    raise AssertionError(f"connections never landed on both processes in {tries} tries")


def _bundle_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.py", UPLOADED.replace("\n    ", "\n"))
        archive.writestr("modelrt.yaml", "name: uploaded\n")
    return buffer.getvalue()


def test_every_rpc_kind_works_through_a_helper_front_end(serve) -> None:
    fleet = serve(2)
    assert len(fleet.helper_pids()) == 1
    assert fleet.value("modelrt_frontends_up") == 2
    # The main process listens on two Unix sockets: its gRPC server and the predict link.
    assert {Path(p).name for p in _unix_socket_paths(fleet.process.pid)} == {
        "grpc.sock",
        "predict.sock",
    }
    _, helper = _sides(fleet)
    stub = runtime_pb2_grpc.ModelRuntimeStub(helper)
    x = codec.python_to_value("hi")
    assert _predict(helper, "echo", "hi")["x"] == "hi"
    generated = stub.Generate(
        runtime_pb2.GenerateRequest(
            model="echo", inputs={"x": x}, parameters=codec.dict_to_struct({"n": 4})
        ),
        timeout=30,
    )
    assert [codec.json_to_python(r.structured)["index"] for r in generated] == [0, 1, 2, 3]
    requests = (
        runtime_pb2.StreamRequest(model="echo", inputs={"x": codec.python_to_value(s)})
        for s in "abc"
    )
    streamed = stub.Stream(requests, timeout=30)
    assert [codec.json_to_python(r.structured)["x"] for r in streamed] == ["a", "b", "c"]
    data = _bundle_zip()
    digest = hashlib.sha256(data).hexdigest()
    header = runtime_pb2.UploadHeader(namespace="uploaded", total_size=len(data), sha256=digest)
    uploads = iter(
        [runtime_pb2.UploadRequest(header=header), runtime_pb2.UploadRequest(chunk=data)]
    )
    assert stub.Upload(uploads, timeout=60).model.name == "uploaded"
    names = {m.name for m in stub.ListModels(runtime_pb2.ListModelsRequest(), timeout=10).models}
    assert {"echo", "batcher", "uploaded"} <= names
    oip_stub = oip_grpc.GRPCInferenceServiceStub(helper)
    assert oip_stub.ServerReady(oip.ServerReadyRequest(), timeout=5).ready
    metadata = oip_stub.ModelMetadata(oip.ModelMetadataRequest(name="echo"), timeout=5)
    assert metadata.name == "echo"
    for version in ("v1", "v1alpha"):
        reflect = helper.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        listing = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(iter(reflect(iter([listing]), timeout=10)))
        assert "modelrt.v1.ModelRuntime" in {s.name for s in reply.list_services_response.service}
    health = health_pb2_grpc.HealthStub(helper)
    assert (
        health.Check(health_pb2.HealthCheckRequest(service="frontends"), timeout=5).status
        == SERVING
    )
    # A domain error crosses the link with its status and details.
    with pytest.raises(grpc.RpcError) as failure:
        _predict(helper, "no-such-model", "x")
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-model" in (failure.value.details() or "")
    keys = dict(failure.value.trailing_metadata() or ())
    assert "grpc-status-details-bin" in keys
    # Every call, wherever it landed, is counted in the one scrape of the main process.
    scrape = fleet.scrape()
    for rpc in ("Predict", "Generate", "Stream", "Upload", "ListModels", "ModelMetadata"):
        assert re.search(rf'modelrt_requests_total\{{[^}}]*rpc="{rpc}"[^}}]*\}} [1-9]', scrape), rpc


def _infer_request(model: str, text: bytes) -> oip.ModelInferRequest:
    request = oip.ModelInferRequest(model_name=model, id="r-7")
    tensor = request.inputs.add(name="x", datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(text)
    return request


def test_oip_model_infer_on_a_helper_goes_over_the_predict_link(serve) -> None:
    fleet = serve(2)
    main, helper = _sides(fleet)
    series = 'modelrt_frontend_predicts_total{frontend="1"}'
    before = fleet.value(series)
    on_helper = oip_grpc.GRPCInferenceServiceStub(helper)
    on_main = oip_grpc.GRPCInferenceServiceStub(main)
    request = _infer_request("echo", b"hi")
    assert on_helper.ModelInfer(request, timeout=30) == on_main.ModelInfer(request, timeout=30)
    assert fleet.value(series) == before + 1  # handed over on the link, not proxied
    with pytest.raises(grpc.RpcError) as missing:
        on_helper.ModelInfer(_infer_request("no-such-model", b"x"), timeout=30)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such-model" in (missing.value.details() or "")
    with pytest.raises(grpc.RpcError) as unreadable:
        helper.unary_unary("/inference.GRPCInferenceService/ModelInfer")(b"\xff\xff", timeout=30)
    assert unreadable.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    slow = _infer_request("sleeper", b"x")
    slow.parameters["seconds"].double_param = 5
    with pytest.raises(grpc.RpcError) as late:
        on_helper.ModelInfer(slow, timeout=0.5)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert fleet.value(series) == before + 3  # a call cancelled at its deadline is not
    counted = 'modelrt_requests_total{{code="{}",model="{}",rpc="ModelInfer"}}'
    assert fleet.value(counted.format("OK", "echo")) == 2  # one on each side
    assert fleet.value(counted.format("NOT_FOUND", "")) == 1
    assert fleet.value(counted.format("INVALID_ARGUMENT", "")) == 1
    _wait_for(lambda: fleet.value(counted.format("DEADLINE_EXCEEDED", "sleeper")) == 1, 10)


def test_batches_form_across_front_ends(serve) -> None:
    fleet = serve(2)
    main, helper = _sides(fleet)
    with ThreadPoolExecutor(8) as pool:
        futures = [
            pool.submit(_predict, channel, "batcher", f"{side}{i}")
            for i in range(4)
            for side, channel in (("main", main), ("helper", helper))
        ]
        batches = [tuple(f.result()["batch"]) for f in futures]
    mixed = [
        b
        for b in batches
        if any(x.startswith("main") for x in b) and any(x.startswith("helper") for x in b)
    ]
    assert mixed, batches


def _status(channel: grpc.Channel, service: str) -> int:
    health = health_pb2_grpc.HealthStub(channel)
    return int(health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)


def _wait_for(check, timeout: float) -> float:
    """Seconds until ``check()`` held; AssertionError after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_a_killed_front_end_is_reported_and_restarted(serve) -> None:
    fleet = serve(2)
    main, _ = _sides(fleet)
    [victim] = fleet.helper_pids()
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: _status(main, "frontends") == NOT_SERVING, 5)
    _wait_for(lambda: _status(main, "frontends") == SERVING, 30)
    [replacement] = fleet.helper_pids()
    assert replacement != victim
    assert fleet.value("modelrt_frontend_restarts_total") == 1
    assert fleet.value("modelrt_frontends_up") == 2
    # New connections land on both processes again and every call succeeds.
    _sides(fleet)


def test_calls_keep_succeeding_while_a_front_end_dies(serve) -> None:
    fleet = serve(2)
    [victim] = fleet.helper_pids()
    failures: list[grpc.StatusCode] = []
    answered = 0
    stop_at = time.monotonic() + 4
    killed = threading.Timer(0.5, os.kill, (victim, signal.SIGKILL))
    killed.start()
    while time.monotonic() < stop_at:
        channel = fleet.channel()
        for _attempt in range(5):  # the dying connection answers UNAVAILABLE: retry on a new one
            try:
                _predict(channel, "echo", "x", timeout=10)
                answered += 1
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    failures.append(error.code())
                    break
                channel.close()
                channel = fleet.channel()
        else:
            failures.append(grpc.StatusCode.UNAVAILABLE)
        channel.close()
    killed.join()
    assert failures == []
    assert answered > 0


def test_a_dead_instance_shows_on_every_front_ends_health(serve) -> None:
    fleet = serve(2)
    main, helper = _sides(fleet)
    worker = _predict(main, "echo", "x")["pid"]
    watches = [
        health_pb2_grpc.HealthStub(c).Watch(
            health_pb2.HealthCheckRequest(service="echo"), timeout=30
        )
        for c in (main, helper)
    ]
    assert [next(w).status for w in watches] == [SERVING, SERVING]
    seen: dict[int, float] = {}

    def wait_not_serving(index: int) -> None:
        for reply in watches[index]:
            if reply.status == NOT_SERVING:
                seen[index] = time.monotonic()
                return

    threads = [threading.Thread(target=wait_not_serving, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    os.kill(worker, signal.SIGKILL)
    for thread in threads:
        thread.join(15)
    for watch in watches:
        watch.cancel()
    assert sorted(seen) == [0, 1]
    assert abs(seen[0] - seen[1]) < 1.0  # the helper's health is the main process's own


def _unix_socket_paths(pid: int) -> list[str]:
    """The paths of the Unix sockets process ``pid`` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    paths = []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes:
            paths.append(fields[7])
    return paths


def test_one_front_end_starts_no_process_and_no_socket(serve) -> None:
    fleet = serve(1)
    _predict(fleet.channel(), "echo", "x")
    assert fleet.helper_pids() == []
    assert _unix_socket_paths(fleet.process.pid) == []
    assert fleet.value("modelrt_frontends_up") == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_helper_front_ends_end_with_the_main_process(serve, signum: int) -> None:
    fleet = serve(2)
    [helper] = fleet.helper_pids()
    os.kill(fleet.process.pid, signum)
    fleet.process.wait(30)
    _wait_for(lambda: not Path(f"/proc/{helper}").exists() or _zombie(helper), 10)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 :].split()[0] == "Z"


def _sleep(channel: grpc.Channel, seconds: float, timeout: float) -> runtime_pb2.PredictResponse:
    stub = runtime_pb2_grpc.ModelRuntimeStub(channel)
    parameters = codec.dict_to_struct({"seconds": seconds})
    request = runtime_pb2.PredictRequest(model="sleeper", parameters=parameters)
    return stub.Predict(request, timeout=timeout)


def test_a_callers_deadline_on_a_helper_front_end_reaches_the_main_process(serve) -> None:
    fleet = serve(2)
    _, helper = _sides(fleet)
    with pytest.raises(grpc.RpcError) as failure:
        _sleep(helper, 3, timeout=0.5)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    series = 'modelrt_requests_total{code="DEADLINE_EXCEEDED",model="sleeper",rpc="Predict"}'
    _wait_for(lambda: fleet.value(series) == 1, 10)
    time.sleep(3)  # the model has finished by now: the call was never counted OK
    assert 'code="OK",model="sleeper"' not in fleet.scrape()


def test_sigterm_lets_a_call_in_flight_on_a_helper_front_end_finish(serve) -> None:
    fleet = serve(2)
    _, helper = _sides(fleet)
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(_sleep, helper, 1.5, 30)
        time.sleep(0.5)  # the call has reached the model
        fleet.process.terminate()
        assert codec.json_to_python(call.result(timeout=30).structured) == {"slept": True}
    assert fleet.process.wait(30) == 0


def _start_secured(
    store: Path, tmp_path: Path, pki: CertificateAuthority, credentials: grpc.ChannelCredentials
) -> Fleet:
    """`modelrt serve --frontends 2` with TLS and an inference token, ready."""
    cert = pki.issue_server()
    port_file, log_path = tmp_path / "tls.port", tmp_path / "tls.log"
    env = {**os.environ, "MODELRT_INFERENCE_TOKEN": "fleet-secret"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(MODELRT), "serve", "--model-store", str(store), "--port", "0", "--frontends", "2",
             "--port-file", str(port_file), "--metrics-port", "0", "--tls-cert",
             str(cert.cert_file), "--tls-key", str(cert.key_file)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        _wait_for(lambda: port_file.exists() and port_file.read_text().strip() != "", 60)
        address = f"localhost:{port_file.read_text().strip()}"
        fleet = Fleet(process, address, _metrics_url(log_path), credentials)
        _wait_for(lambda: _status(fleet.channel(), "") == SERVING, 60)
    except BaseException:
        stop(process)
        raise
    return fleet


def test_helper_front_ends_serve_the_same_tls_and_tokens(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_bundle(store, "echo", ECHO)
    pki = CertificateAuthority(tmp_path / "pki")
    tls = grpc.ssl_channel_credentials(pki.issued.cert)
    token = grpc.access_token_call_credentials("fleet-secret")
    fleet = _start_secured(store, tmp_path, pki, grpc.composite_channel_credentials(tls, token))
    try:
        _, helper = _sides(fleet)
        assert _predict(helper, "echo", "over tls")["x"] == "over tls"
        # Without the token: refused, on the main process and on the helper (its Predict and
        # ModelInfer take the link, its ListModels the proxy); 20 connections land on both.
        bare = Fleet(fleet.process, fleet.address, fleet.metrics_url, tls)
        refused = 0
        for _ in range(20):
            channel = bare.channel()
            for call in (
                lambda c=channel: _predict(c, "echo", "x"),
                lambda c=channel: runtime_pb2_grpc.ModelRuntimeStub(c).ListModels(
                    runtime_pb2.ListModelsRequest(), timeout=10
                ),
                lambda c=channel: oip_grpc.GRPCInferenceServiceStub(c).ModelInfer(
                    _infer_request("echo", b"x"), timeout=10
                ),
            ):
                with pytest.raises(grpc.RpcError) as failure:
                    call()
                assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
                refused += 1
            channel.close()
        assert refused == 60
    finally:
        stop(fleet.process)


def test_ctrl_c_to_the_process_group_stops_the_fleet_without_a_restart(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_bundle(store, "echo", ECHO)
    port_file, log_path = tmp_path / "group.port", tmp_path / "group.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(MODELRT), "serve", "--model-store", str(store), "--port", "0", "--frontends", "2",
             "--port-file", str(port_file), "--metrics-port", "0"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for(lambda: port_file.exists() and port_file.read_text().strip() != "", 60)
        fleet = Fleet(process, f"127.0.0.1:{port_file.read_text().strip()}", "")
        [helper] = fleet.helper_pids()
        os.killpg(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        assert process.wait(30) == 0
        _wait_for(lambda: _zombie(helper), 10)
        assert "restarting" not in log_path.read_text()
    finally:
        stop(process)


def test_a_shared_port_is_never_shared_with_another_server(serve, tmp_path: Path) -> None:
    fleet = serve(2)
    port = fleet.address.rsplit(":", 1)[1]
    second = subprocess.run(
        [str(MODELRT), "serve", "--model-store", str(tmp_path / "store"), "--port", port,
         "--frontends", "2", "--metrics-port", "0"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert second.returncode != 0
    # SO_REUSEPORT would let it bind; the start-up check (a plain bind) refuses it first.
    assert f"gRPC port {port} on 127.0.0.1 is already in use" in second.stderr.decode()
    assert fleet.helper_pids()  # the first server is untouched
    _predict(fleet.channel(), "echo", "still mine")
