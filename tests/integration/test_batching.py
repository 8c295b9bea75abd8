"""Dynamic batching: N in / N out, one queue, overflow, deadline drops, no added latency."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from modelrt import codec
from modelrt.v1 import runtime_pb2
from tests.bundle_factory import write_bundle
from tests.integration.status_details import error_info

BATCHER = """
    import time
    from pathlib import Path
    from registry import ModelRunner, register

    @register("batcher")
    class Batcher(ModelRunner):
        def predict_batch(self, requests):
            time.sleep(float(requests[0].param("sleep", 0.0)))
            with Path(self.context.parameters["log"]).open("a") as log:
                log.write(",".join(r["x"] for r in requests) + "\\n")
            if any(r.param("short", False) for r in requests):
                return [{"x": "only one"}]
            return [{"x": r["x"], "batch": len(requests)} for r in requests]
"""


def _store(tmp_path: Path, inputs: list | None = None, **batching) -> tuple[Path, Path]:
    log = tmp_path / "batches.log"
    log.touch()
    store = tmp_path / "store"
    config = {"batching": batching, "parameters": {"log": str(log)}}
    if inputs is not None:
        config["inputs"] = inputs
    write_bundle(store, "batcher", BATCHER, config=config)
    return store, log


def _request(x: str, **params) -> runtime_pb2.PredictRequest:
    return runtime_pb2.PredictRequest(
        model="batcher",
        inputs={"x": codec.python_to_value(x)},
        parameters=codec.dict_to_struct(params),
    )


def _batches(log: Path) -> list[list[str]]:
    return [line.split(",") for line in log.read_text().splitlines()]


def test_concurrent_requests_are_batched_and_each_caller_gets_its_own_answer(
    start_server, tmp_path: Path
) -> None:
    store, log = _store(tmp_path, max_batch_size=8)
    stub = start_server(store).stub()
    futures = [stub.Predict.future(_request(str(i), sleep=0.2), timeout=30) for i in range(16)]
    answers = [codec.json_to_python(f.result().structured) for f in futures]
    assert [a["x"] for a in answers] == [str(i) for i in range(16)]
    sizes = [len(batch) for batch in _batches(log)]
    assert sum(sizes) == 16
    assert max(sizes) > 1  # batches grew while the instance was busy
    assert max(sizes) <= 8
    assert sorted(x for batch in _batches(log) for x in batch) == sorted(map(str, range(16)))


def test_a_lone_request_goes_out_at_once_in_a_batch_of_one(start_server, tmp_path: Path) -> None:
    store, log = _store(tmp_path, max_batch_size=8)
    stub = start_server(store).stub()
    for i in range(3):
        reply = stub.Predict(_request(f"solo{i}"), timeout=10)
        assert codec.json_to_python(reply.structured)["batch"] == 1
    assert _batches(log) == [["solo0"], ["solo1"], ["solo2"]]


def test_max_queue_delay_lets_a_batch_wait_for_company(start_server, tmp_path: Path) -> None:
    # A batch of two: the first caller waits for the second (up to a generous 5 s, so a loaded
    # machine cannot split them), and the pair leaves as soon as it is full.
    store, log = _store(tmp_path, max_batch_size=2, max_queue_delay_ms=5000, queue_delay="fixed")
    stub = start_server(store).stub()
    first = stub.Predict.future(_request("a"), timeout=10)
    time.sleep(0.05)
    second = stub.Predict.future(_request("b"), timeout=10)
    assert codec.json_to_python(first.result().structured)["batch"] == 2
    assert codec.json_to_python(second.result().structured)["batch"] == 2
    assert [sorted(batch) for batch in _batches(log)] == [["a", "b"]]


def test_a_request_failing_its_input_check_never_reaches_the_models_batch(
    start_server, tmp_path: Path
) -> None:
    store, log = _store(
        tmp_path,
        inputs=[{"name": "x", "kind": "text"}],
        max_batch_size=4,
        max_queue_delay_ms=5000,  # the four leave together when the batch is full
        queue_delay="fixed",
    )
    stub = start_server(store).stub()
    bad = runtime_pb2.PredictRequest(model="batcher", inputs={"x": codec.python_to_value(b"xx")})
    futures = [
        stub.Predict.future(_request("a"), timeout=10),
        stub.Predict.future(bad, timeout=10),
        stub.Predict.future(_request("b"), timeout=10),
        stub.Predict.future(_request("c"), timeout=10),
    ]
    with pytest.raises(grpc.RpcError) as caught:
        futures[1].result()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "input 'x' must be text, got bytes" in caught.value.details()
    answers = [codec.json_to_python(futures[i].result().structured) for i in (0, 2, 3)]
    assert [answer["x"] for answer in answers] == ["a", "b", "c"]
    assert all(answer["batch"] == 3 for answer in answers)  # the model saw the valid three
    assert [sorted(batch) for batch in _batches(log)] == [["a", "b", "c"]]  # any arrival order


def test_a_wrong_number_of_outputs_fails_every_caller_in_the_batch(
    start_server, tmp_path: Path
) -> None:
    store, _ = _store(tmp_path, max_batch_size=3, max_queue_delay_ms=5000, queue_delay="fixed")
    stub = start_server(store).stub()
    futures = [stub.Predict.future(_request(str(i), short=True), timeout=10) for i in range(3)]
    for future in futures:
        with pytest.raises(grpc.RpcError) as caught:
            future.result()
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert "returned 1 results for 3 requests" in caught.value.details()


def test_a_full_queue_answers_resource_exhausted(start_server, tmp_path: Path) -> None:
    store, _ = _store(tmp_path, max_batch_size=1, max_queue_size=2)
    stub = start_server(store).stub()
    futures = [stub.Predict.future(_request(str(i), sleep=0.3), timeout=30) for i in range(8)]
    codes, reasons = [], set()
    for future in futures:
        error = future.exception()
        codes.append(grpc.StatusCode.OK if error is None else error.code())
        if error is not None:
            reasons.add(error_info(error).reason)
    assert reasons == {"QUEUE_FULL"}
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert grpc.StatusCode.OK in codes


def _series(server, series: str) -> float:
    port = server.server.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, flags=re.M)
    return float(match.group(1)) if match else 0.0


def _expired_in_queue(server, model: str) -> float:
    return _series(server, f'modelrt_requests_expired_in_queue_total{{model="{model}"}}')


def test_adaptive_delay_never_holds_a_lone_caller_back_however_long_the_delay(
    start_server, tmp_path: Path
) -> None:
    # A minute of max_queue_delay_ms: with the default adaptive delay, callers who come one at
    # a time (slower than a trip costs) go out at once, each in a batch of its own.
    store, log = _store(tmp_path, max_batch_size=8, max_queue_delay_ms=60_000)
    server = start_server(store)
    stub = server.stub()
    for i in range(4):
        reply = stub.Predict(_request(f"solo{i}", sleep=0.02), timeout=20)
        assert codec.json_to_python(reply.structured)["batch"] == 1
    assert _batches(log) == [[f"solo{i}"] for i in range(4)]
    assert _series(server, 'modelrt_batches_total{model="batcher",reason="idle"}') == 4


def test_a_request_whose_deadline_passes_in_the_queue_never_runs_and_is_counted(
    start_server, tmp_path: Path
) -> None:
    store, log = _store(tmp_path, max_batch_size=1)
    server = start_server(store)
    stub = server.stub()
    busy = stub.Predict.future(_request("busy", sleep=1.0), timeout=30)
    time.sleep(0.2)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Predict(_request("late"), timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    busy.result()
    stub.Predict(_request("after"), timeout=10)  # the queue moved on past the dropped request
    ran = [x for batch in _batches(log) for x in batch]
    assert ran == ["busy", "after"]
    assert _expired_in_queue(server, "batcher") == 1.0  # "after" had time left: not counted


def test_a_deadline_that_passes_while_a_batch_waits_for_company_drops_the_request(
    start_server, tmp_path: Path
) -> None:
    store, log = _store(tmp_path, max_batch_size=4, max_queue_delay_ms=1500, queue_delay="fixed")
    server = start_server(store)
    stub = server.stub()
    with pytest.raises(grpc.RpcError) as caught:
        stub.Predict(_request("late"), timeout=0.5)  # the batch delay outlasts the deadline
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    stub.Predict(_request("after"), timeout=10)
    assert [x for batch in _batches(log) for x in batch] == ["after"]
    assert _expired_in_queue(server, "batcher") == 1.0
