"""Tests for runtime.metrics.metrics: series in the exposition, forgetting a model, /metrics."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.metrics.metrics import Metrics

pytestmark = pytest.mark.timeout(20)


@dataclass
class FakeGpu:
    """What runtime.placement.devices reports for one GPU (memory in MiB)."""

    index: int
    name: str
    total_mb: int
    free_mb: int
    used_mb: int


def sample(metrics: Metrics, name: str, /, **labels: str) -> float | None:
    """The value of one series in the text exposition, or None when it is absent."""
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for series in family.samples:
            if series.name == name and series.labels == labels:
                return float(series.value)
    return None


def series_names(metrics: Metrics) -> set[str]:
    text = metrics.exposition().decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_requests_are_counted_per_model_rpc_and_code() -> None:
    metrics = Metrics()
    metrics.observe_request("iris", "Predict", "OK", 0.002)
    metrics.observe_request("iris", "Predict", "OK", 0.004)
    metrics.observe_request("iris", "Predict", "NOT_FOUND", 0.001)
    metrics.observe_request("llm", "Generate", "CANCELLED", 1.5)

    assert sample(metrics, "modelrt_requests_total", model="iris", rpc="Predict", code="OK") == 2
    assert (
        sample(metrics, "modelrt_requests_total", model="iris", rpc="Predict", code="NOT_FOUND")
        == 1
    )
    assert (
        sample(metrics, "modelrt_requests_total", model="llm", rpc="Generate", code="CANCELLED")
        == 1
    )


def test_request_durations_fill_the_histogram_buckets() -> None:
    metrics = Metrics()
    metrics.observe_request("iris", "Predict", "OK", 0.002)
    metrics.observe_request("iris", "Predict", "OK", 0.2)

    bucket = "modelrt_request_duration_seconds_bucket"
    labels = {"model": "iris", "rpc": "Predict"}
    assert sample(metrics, bucket, **labels, le="0.0005") == 0
    assert sample(metrics, bucket, **labels, le="0.0025") == 1
    assert sample(metrics, bucket, **labels, le="0.25") == 2
    assert sample(metrics, bucket, **labels, le="60.0") == 2
    assert sample(metrics, "modelrt_request_duration_seconds_count", **labels) == 2
    assert sample(metrics, "modelrt_request_duration_seconds_sum", **labels) == pytest.approx(0.202)


def test_queue_time_and_batch_size_are_observed_per_model() -> None:
    metrics = Metrics()
    metrics.observe_queue("iris", 0.003)
    metrics.observe_batch("iris", 8)
    metrics.observe_batch("iris", 3)

    assert sample(metrics, "modelrt_queue_duration_seconds_count", model="iris") == 1
    assert sample(metrics, "modelrt_queue_duration_seconds_sum", model="iris") == 0.003
    assert sample(metrics, "modelrt_batch_size_bucket", model="iris", le="2.0") == 0
    assert sample(metrics, "modelrt_batch_size_bucket", model="iris", le="4.0") == 1
    assert sample(metrics, "modelrt_batch_size_bucket", model="iris", le="8.0") == 2
    assert sample(metrics, "modelrt_batch_size_bucket", model="iris", le="256.0") == 2
    assert sample(metrics, "modelrt_batch_size_sum", model="iris") == 11


def test_instances_up_is_a_gauge_and_restarts_a_counter() -> None:
    metrics = Metrics()
    metrics.set_instances_up("iris", 2)
    metrics.set_instances_up("iris", 1)
    metrics.count_restart("iris")
    metrics.count_restart("iris")

    assert sample(metrics, "modelrt_instances_up", model="iris") == 1
    assert sample(metrics, "modelrt_instance_restarts_total", model="iris") == 2


def test_model_state_is_one_for_the_current_state_only() -> None:
    metrics = Metrics()
    metrics.set_model_state("iris", "1", "LOADING")
    metrics.set_model_state("iris", "1", "READY")
    metrics.set_model_state("iris", "2", "FAILED")

    def state(version: str, name: str) -> float | None:
        return sample(metrics, "modelrt_model_state", model="iris", version=version, state=name)

    assert state("1", "READY") == 1
    assert state("1", "LOADING") == 0
    assert state("1", "FAILED") == 0
    assert state("1", "UNLOADED") == 0
    assert state("2", "FAILED") == 1
    assert state("2", "READY") == 0


def test_forget_model_removes_every_series_of_that_model_only() -> None:
    metrics = Metrics()
    for model in ("iris", "llm"):
        metrics.observe_request(model, "Predict", "OK", 0.01)
        metrics.observe_queue(model, 0.001)
        metrics.observe_batch(model, 4)
        metrics.set_instances_up(model, 1)
        metrics.count_restart(model)
        metrics.count_expired(model)
        metrics.set_model_state(model, "1", "READY")

    metrics.forget_model("iris")

    text = metrics.exposition().decode()
    assert 'model="iris"' not in text
    assert sample(metrics, "modelrt_requests_total", model="llm", rpc="Predict", code="OK") == 1
    assert sample(metrics, "modelrt_instances_up", model="llm") == 1
    assert sample(metrics, "modelrt_model_state", model="llm", version="1", state="READY") == 1
    assert sample(metrics, "modelrt_requests_expired_in_queue_total", model="llm") == 1


def test_a_forgotten_model_that_comes_back_starts_from_zero() -> None:
    metrics = Metrics()
    metrics.observe_request("iris", "Predict", "OK", 0.01)
    metrics.set_model_state("iris", "1", "READY")
    metrics.forget_model("iris")
    metrics.observe_request("iris", "Predict", "OK", 0.01)
    metrics.set_model_state("iris", "1", "LOADING")

    assert sample(metrics, "modelrt_requests_total", model="iris", rpc="Predict", code="OK") == 1
    assert sample(metrics, "modelrt_model_state", model="iris", version="1", state="READY") == 0


def test_gpu_memory_is_exposed_in_bytes_per_device() -> None:
    gpus = [
        FakeGpu(index=0, name="NVIDIA H100", total_mb=81559, free_mb=80535, used_mb=1024),
        FakeGpu(index=1, name="NVIDIA H100", total_mb=81559, free_mb=81559, used_mb=0),
    ]
    metrics = Metrics(gpus=lambda: gpus)

    labels = {"gpu": "0", "name": "NVIDIA H100"}
    assert sample(metrics, "modelrt_gpu_memory_used_bytes", **labels) == 1024 * 1024 * 1024
    assert sample(metrics, "modelrt_gpu_memory_total_bytes", **labels) == 81559 * 1024 * 1024
    assert sample(metrics, "modelrt_gpu_memory_used_bytes", gpu="1", name="NVIDIA H100") == 0


def test_gpu_memory_is_read_on_every_scrape() -> None:
    gpus = [FakeGpu(index=0, name="L4", total_mb=23034, free_mb=23034, used_mb=0)]
    metrics = Metrics(gpus=lambda: gpus)
    assert sample(metrics, "modelrt_gpu_memory_used_bytes", gpu="0", name="L4") == 0

    gpus[0].used_mb = 512

    assert sample(metrics, "modelrt_gpu_memory_used_bytes", gpu="0", name="L4") == 512 * 1024**2


def test_no_gpu_exposes_no_gpu_series() -> None:
    metrics = Metrics(gpus=list)

    assert not any(name.startswith("modelrt_gpu_") for name in series_names(metrics))
    assert b"modelrt_gpu_" not in Metrics().exposition()


def test_a_failing_gpu_source_exposes_no_gpu_series_and_the_rest() -> None:
    def broken() -> list[FakeGpu]:
        raise RuntimeError("NVML: driver not loaded")

    metrics = Metrics(gpus=broken)
    metrics.set_instances_up("iris", 1)

    assert b"modelrt_gpu_memory_used_bytes{" not in metrics.exposition()
    assert sample(metrics, "modelrt_instances_up", model="iris") == 1


def test_two_metrics_objects_do_not_share_series() -> None:
    first, second = Metrics(), Metrics()
    first.observe_request("iris", "Predict", "OK", 0.01)

    assert sample(second, "modelrt_requests_total", model="iris", rpc="Predict", code="OK") is None


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_http_endpoint_serves_metrics_on_a_free_port_and_stops() -> None:
    metrics = Metrics()
    metrics.observe_request("iris", "Predict", "OK", 0.01)
    port = metrics.start_http("127.0.0.1", 0)
    try:
        assert port > 0
        status, content_type, body = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        assert content_type.startswith("text/plain")
        assert b'modelrt_requests_total{code="OK",model="iris",rpc="Predict"} 1.0' in body

        status, _, body = get(f"http://127.0.0.1:{port}/")
        assert status == 200
        assert b"/metrics" in body

        status, _, _ = get(f"http://127.0.0.1:{port}/nothing-here")
        assert status == 404
    finally:
        metrics.stop_http()

    assert not [t for t in threading.enumerate() if t.name == f"modelrt-metrics-{port}"]
    with socket.create_server(("127.0.0.1", port)):  # the port is free again
        pass
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_http_endpoint_on_a_taken_port_fails_clearly() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            Metrics().start_http("127.0.0.1", port)


def test_stop_http_without_start_does_nothing() -> None:
    Metrics().stop_http()


def test_http_endpoint_can_start_again_after_stop() -> None:
    metrics = Metrics()
    first = metrics.start_http("127.0.0.1", 0)
    with pytest.raises(RuntimeError, match="already serving"):
        metrics.start_http("127.0.0.1", 0)
    metrics.stop_http()
    second = metrics.start_http("127.0.0.1", 0)
    try:
        assert get(f"http://127.0.0.1:{second}/metrics")[0] == 200
    finally:
        metrics.stop_http()
    assert first > 0
