"""The front-end fleet's metrics (--frontends N): processes up, restarts, Predicts handed over."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from runtime.metrics.tallies import CounterTally


class FleetMetrics:
    """Series of the gRPC front-end processes, in the server's registry.

    >>> fleet = FleetMetrics(CollectorRegistry())
    >>> fleet.set_up(2)
    >>> fleet.count_predict(1)
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.up = Gauge(
            "modelrt_frontends_up",
            "gRPC front-end processes serving the port, this one included.",
            registry=registry,
        )
        self.up.set(1)
        self.restarts = Counter(
            "modelrt_frontend_restarts_total",
            "Helper front-end processes restarted after they exited.",
            registry=registry,
        )
        # Counted on every Predict a helper hands over: a tally, not a locked metric.
        self.predicts = CounterTally(
            "modelrt_frontend_predicts",
            "Predict and OIP ModelInfer calls helper front ends handed to this process, by "
            "front end (1..N-1).",
            ["frontend"],
        )
        registry.register(self.predicts)

    def set_up(self, count: int) -> None:
        """``count`` front-end processes serve the port now (this one included)."""
        self.up.set(count)

    def count_restart(self) -> None:
        """A helper front end exited and is being restarted."""
        self.restarts.inc()

    def count_predict(self, slot: int) -> None:
        """Front end ``slot`` handed this process one Predict or ModelInfer call."""
        self.predicts.inc((str(slot),))
