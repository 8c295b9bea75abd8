"""Prometheus metrics of one server: its own registry, the metric families and the /metrics page.

Every server owns a ``Metrics`` (never the process-wide default registry), so servers in one
process never share or clash over series.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from runtime.metrics.fleet import FleetMetrics
from runtime.metrics.tallies import CounterTally, HistogramTally

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
MODEL_STATES = ("LOADING", "READY", "FAILED", "UNLOADED")
# 0.5 ms .. 60 s: a fast unary Predict up to a long token stream.
REQUEST_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
QUEUE_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SHUTDOWN_POLL_S = 0.1  # how soon stop_http() is noticed by the serving thread
INDEX_PAGE = b"modelrt metrics exporter\n\nGET /metrics for the Prometheus text format.\n"

GpuSource = Callable[[], Sequence[Any]]


class GpuMemoryCollector(Collector):
    """GPU memory per device, read from ``source()`` on every scrape.

    ``source`` returns objects with ``index``, ``name``, ``total_mb`` and ``used_mb`` (MiB);
    when it returns nothing or fails, no GPU series are exposed.

    >>> list(GpuMemoryCollector(lambda: []).collect())
    []
    """

    def __init__(self, source: GpuSource) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        # Declaring the names without calling source(): registering does no I/O.
        return [self._family("used"), self._family("total")]

    def collect(self) -> Iterable[Metric]:
        try:
            gpus = list(self._source())
        except Exception:
            logger.warning("reading GPU memory for /metrics failed", exc_info=True)
            return []
        if not gpus:
            return []
        used, total = self._family("used"), self._family("total")
        for gpu in gpus:
            labels = [str(gpu.index), str(gpu.name)]
            used.add_metric(labels, float(gpu.used_mb) * MiB)
            total.add_metric(labels, float(gpu.total_mb) * MiB)
        return [used, total]

    @staticmethod
    def _family(kind: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"modelrt_gpu_memory_{kind}_bytes",
            f"GPU memory {kind} in bytes, per device.",
            labels=["gpu", "name"],
        )


class _MetricsHTTPServer(ThreadingMixIn, WSGIServer):
    # Request threads are joined on close, so stop_http() leaves no thread behind.
    daemon_threads = False
    block_on_close = True


class _QuietHandler(WSGIRequestHandler):
    timeout = 10.0  # a stalled scraper cannot hold stop_http() for longer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("metrics http: " + format, *args)


class Metrics:
    """The server's metrics, in a registry of its own.

    >>> metrics = Metrics()
    >>> metrics.observe_request("iris", "Predict", "OK", 0.002)
    >>> b'modelrt_requests_total{code="OK",model="iris",rpc="Predict"} 1.0' in metrics.exposition()
    True
    """

    def __init__(self, gpus: GpuSource | None = None) -> None:
        self.registry = CollectorRegistry()
        # Registered in this order, which is the exposition's order.
        self._add_request_families()
        self._add_instance_families()
        self._add_memory_families(gpus)
        self.fleet = FleetMetrics(self.registry)  # the front-end processes (--frontends)
        self._add_process_families()
        self._states: dict[tuple[str, str], list[str]] = {}
        # Seconds spent in calls that failed, by (model, rpc): not exported (the duration
        # histogram is by model and RPC only), read by the OIP statistics to split its times.
        self._failed_seconds: dict[tuple[str, str], float] = {}
        self._http: _MetricsHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    def _add_request_families(self) -> None:
        """Requests, their durations, queueing, batch sizes and expiries, per model."""
        # Updated on every request: tallies, not prometheus_client's locked metrics.
        self.requests = CounterTally(
            "modelrt_requests",
            "RPCs finished, by model, RPC and final gRPC status code.",
            ["model", "rpc", "code"],
        )
        self.request_duration = HistogramTally(
            "modelrt_request_duration_seconds",
            "Time from the start of an RPC to its last response, in seconds.",
            ["model", "rpc"],
            REQUEST_BUCKETS,
        )
        self.queue_duration = HistogramTally(
            "modelrt_queue_duration_seconds",
            "Time a request waited in the model's queue before its batch ran, in seconds.",
            ["model"],
            QUEUE_BUCKETS,
        )
        self.batch_size = HistogramTally(
            "modelrt_batch_size",
            "Requests per batch handed to the model.",
            ["model"],
            BATCH_BUCKETS,
        )
        self.expired_in_queue = CounterTally(
            "modelrt_requests_expired_in_queue",
            "Predict requests dropped unrun because their deadline passed in the model's queue.",
            ["model"],
        )
        self.batches = CounterTally(
            "modelrt_batches",
            "Batches handed to a batching model, by why they left the queue: full, preferred "
            "(a preferred size), delay (max_queue_delay_ms ran out) or idle (an instance was free "
            "and waiting would not pay).",
            ["model", "reason"],
        )
        for tally in self._tallies():
            self.registry.register(tally)
        # HTTP calls, beside the RPCs: by route template (never the raw path) and status.
        self.http_requests = CounterTally(
            "modelrt_http_requests",
            "HTTP requests finished, by route template, method and HTTP status.",
            ["route", "method", "status"],
        )
        self.http_duration = HistogramTally(
            "modelrt_http_request_duration_seconds",
            "Time from an HTTP request's arrival to its last response byte, in seconds.",
            ["route", "method"],
            REQUEST_BUCKETS,
        )
        self.registry.register(self.http_requests)
        self.registry.register(self.http_duration)

    def _add_instance_families(self) -> None:
        """Instances up and restarted, and each model version's state."""
        self.instances_up = Gauge(
            "modelrt_instances_up",
            "Model instances running and able to take requests.",
            ["model"],
            registry=self.registry,
        )
        self.instance_restarts = Counter(
            "modelrt_instance_restarts_total",
            "Model instances restarted after a crash, hang or out-of-memory.",
            ["model"],
            registry=self.registry,
        )
        self.model_state = Gauge(
            "modelrt_model_state",
            "1 for the current state of a model version, 0 for the other states.",
            ["model", "version", "state"],
            registry=self.registry,
        )

    def _add_memory_families(self, gpus: GpuSource | None) -> None:
        """Instances' resident memory, memory-limit stops, and GPU memory when ``gpus`` is given."""
        self.instance_memory = Gauge(
            "modelrt_instance_memory_bytes",
            "Resident memory of a model instance: its worker process and every process it "
            "started, summed; sampled about once a second.",
            ["model", "instance"],
            registry=self.registry,
        )
        self.memory_limit_exceeded = Counter(
            "modelrt_instance_memory_limit_exceeded",
            "Model instances stopped for using more memory than their limit.",
            ["model"],
            registry=self.registry,
        )
        if gpus is not None:
            self.registry.register(GpuMemoryCollector(gpus))

    def _add_process_families(self) -> None:
        """The standard process_* (memory, CPU, fds, start time), python_* and gc series of the
        server process, as every Prometheus client exports them by default."""
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def observe_request(self, model: str, rpc: str, code: str, seconds: float) -> None:
        """Count one finished RPC and its duration.

        >>> Metrics().observe_request("iris", "Predict", "NOT_FOUND", 0.001)
        """
        self.requests.inc((model, rpc, code))
        self.request_duration.observe((model, rpc), seconds)
        if code != "OK":
            failed = self._failed_seconds
            failed[model, rpc] = failed.get((model, rpc), 0.0) + seconds

    def failed_seconds(self, model: str, rpc: str) -> float:
        """The seconds spent in ``model``'s ``rpc`` calls that did not end OK.

        >>> metrics = Metrics()
        >>> metrics.observe_request("iris", "Predict", "INTERNAL", 0.5)
        >>> metrics.failed_seconds("iris", "Predict")
        0.5
        """
        return self._failed_seconds.get((model, rpc), 0.0)

    def observe_http(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished HTTP request and its duration.

        >>> Metrics().observe_http("/v2/models/{name}/infer", "POST", 200, 0.002)
        """
        self.http_requests.inc((route, method, str(status)))
        self.http_duration.observe((route, method), seconds)

    def observe_queue(self, model: str, seconds: float) -> None:
        """One request waited ``seconds`` in the queue before its batch ran.

        >>> Metrics().observe_queue("iris", 0.004)
        """
        self.queue_duration.observe((model,), seconds)

    def observe_batch(self, model: str, size: int) -> None:
        """One batch of ``size`` requests went to the model.

        >>> Metrics().observe_batch("iris", 8)
        """
        self.batch_size.observe((model,), size)

    def count_expired(self, model: str) -> None:
        """A request's deadline passed while it waited in the queue of ``model``.

        >>> Metrics().count_expired("iris")
        """
        self.expired_in_queue.inc((model,))

    def count_batch_reason(self, model: str, reason: str) -> None:
        """A batch of ``model`` left its queue for ``reason``.

        >>> Metrics().count_batch_reason("iris", "full")
        """
        self.batches.inc((model, reason))

    def set_instances_up(self, model: str, count: int) -> None:
        """``count`` instances of ``model`` are running now.

        >>> Metrics().set_instances_up("iris", 2)
        """
        self.instances_up.labels(model).set(count)

    def count_restart(self, model: str) -> None:
        """An instance of ``model`` was restarted.

        >>> Metrics().count_restart("iris")
        """
        self.instance_restarts.labels(model).inc()

    def observe_instance_memory(self, model: str, instance: int, used: int | None) -> None:
        """Instance ``instance`` of ``model`` holds ``used`` bytes; None: it stopped.

        >>> Metrics().observe_instance_memory("iris", 0, 200 * MiB)
        """
        if used is None:
            with contextlib.suppress(KeyError):
                self.instance_memory.remove(model, str(instance))
        else:
            self.instance_memory.labels(model, str(instance)).set(used)

    def count_memory_limit_exceeded(self, model: str) -> None:
        """An instance of ``model`` was stopped for exceeding its memory limit.

        >>> Metrics().count_memory_limit_exceeded("iris")
        """
        self.memory_limit_exceeded.labels(model).inc()

    def set_model_state(self, model: str, version: str, state: str) -> None:
        """``model`` ``version`` is now in ``state``; its other states drop to 0.

        >>> Metrics().set_model_state("iris", "1", "READY")
        """
        seen = self._states.setdefault((model, version), list(MODEL_STATES))
        if state not in seen:
            seen.append(state)
        for known in seen:
            self.model_state.labels(model, version, known).set(1 if known == state else 0)

    def forget_model(self, model: str) -> None:
        """Drop every series labelled with ``model`` (it was deleted).

        >>> Metrics().forget_model("iris")
        """
        for tally in self._tallies():
            tally.forget(model)
        per_model = ("model",)
        for metric, names in (
            (self.instances_up, per_model),
            (self.instance_restarts, per_model),
            (self.memory_limit_exceeded, per_model),
            (self.instance_memory, ("model", "instance")),
            (self.model_state, ("model", "version", "state")),
        ):
            _remove_series(metric, names, model)
        for key in [key for key in self._states if key[0] == model]:
            del self._states[key]
        for pair in [pair for pair in self._failed_seconds if pair[0] == model]:
            del self._failed_seconds[pair]

    def _tallies(self) -> tuple[CounterTally | HistogramTally, ...]:
        return (
            self.requests,
            self.request_duration,
            self.queue_duration,
            self.batch_size,
            self.expired_in_queue,
            self.batches,
        )

    def exposition(self) -> bytes:
        """Every series in the Prometheus text format (what GET /metrics answers).

        >>> Metrics().exposition().startswith(b"# HELP")
        True
        """
        return generate_latest(self.registry)

    def start_http(self, host: str, port: int) -> int:
        """Serve GET /metrics on ``host``:``port`` from a background thread; return the port.

        Port 0 picks a free one. Stop it with ``stop_http()``.

        >>> port = Metrics().start_http("127.0.0.1", 0)  # doctest: +SKIP
        """
        if self._http is not None:
            raise RuntimeError("the metrics endpoint is already serving")
        try:
            server = make_server(host, port, self._app(), _server_class(host), _QuietHandler)
        except OSError as exc:
            raise RuntimeError(f"cannot serve metrics on {host}:{port}: {exc}") from None
        bound = int(server.server_address[1])
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_S},
            name=f"modelrt-metrics-{bound}",
            daemon=True,
        )
        thread.start()
        self._http, self._http_thread = server, thread
        logger.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def stop_http(self) -> None:
        """Stop the endpoint and free its port; a no-op when it is not running."""
        server, thread = self._http, self._http_thread
        self._http = self._http_thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=30)

    def _app(self) -> WSGIApplication:
        scrape = make_wsgi_app(self.registry)

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/metrics":
                body: Iterable[bytes] = scrape(environ, start_response)
                return body
            if path == "/":
                start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
                return [INDEX_PAGE]
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: try /metrics\n"]

        return app


def _server_class(host: str) -> type[_MetricsHTTPServer]:
    """The server class with the address family (IPv4 or IPv6) that ``host`` needs."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family = infos[0][0]
    return type("MetricsHTTPServer", (_MetricsHTTPServer,), {"address_family": family})


def _remove_series(metric: Counter | Gauge, names: tuple[str, ...], model: str) -> None:
    """Remove the label sets of ``metric`` (labelled ``names``) whose ``model`` is ``model``."""
    labelsets: set[tuple[str, ...]] = set()
    for family in metric.collect():
        for sample in family.samples:
            if sample.labels.get("model") == model:
                labelsets.add(tuple(sample.labels[name] for name in names))
    for labels in labelsets:
        metric.remove(*labels)
