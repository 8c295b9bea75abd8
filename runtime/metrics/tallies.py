"""Counters and histograms that every request updates: plain Python numbers, read at scrape time.

prometheus_client takes a lock for each increment, and a histogram observation costs a scan of
its buckets and two locked increments: per Predict, its metrics were a tenth of the server's
Python work. A tally is updated only on the server's event loop thread (the RPC wrappers and the
scheduler run there) and read by the /metrics thread, which builds the metric families when
scraped. Under the GIL a scrape sees whole increments; at worst a histogram's sum is one
observation ahead of its buckets, as with prometheus_client's own per-value locks.

>>> requests = CounterTally("demo_requests", "Requests.", ("model",))
>>> requests.inc(("iris",))
>>> [s.value for s in requests.collect()[0].samples if s.name == "demo_requests_total"]
[1.0]
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

Labels = tuple[str, ...]


class _Tally(Collector):
    """Series by label values, each with the time it was created; forgettable by model."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._created: dict[Labels, float] = {}

    def forget(self, model: str) -> None:
        """Drop every series whose ``model`` label is ``model`` (the model was deleted)."""
        where = self.labelnames.index("model")
        for labels in [labels for labels in self._created if labels[where] == model]:
            self._drop(labels)

    def _drop(self, labels: Labels) -> None:
        del self._created[labels]

    def describe(self) -> list[Metric]:
        return [self._family()]

    def _family(self) -> Metric:
        raise NotImplementedError


class CounterTally(_Tally):
    """A counter per label set; ``name`` without ``_total`` (the exposition adds it)."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        super().__init__(name, documentation, labelnames)
        self._values: dict[Labels, float] = {}

    def inc(self, labels: Labels, amount: float = 1.0) -> None:
        values = self._values
        if labels not in values:
            self._created[labels] = time.time()
            values[labels] = 0.0
        values[labels] += amount

    def _drop(self, labels: Labels) -> None:
        super()._drop(labels)
        del self._values[labels]

    def items(self) -> list[tuple[Labels, float]]:
        """Every series as (label values, value), for readers other than the exposition."""
        return list(self._values.items())

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> list[Metric]:
        family = self._family()
        for labels, value in list(self._values.items()):
            family.add_metric(labels, value, created=self._created.get(labels))
        return [family]


class HistogramTally(_Tally):
    """A histogram per label set, with ``bounds`` as its bucket upper bounds (+Inf is added)."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], bounds: Sequence[float]
    ) -> None:
        super().__init__(name, documentation, labelnames)
        self._bounds = tuple(float(bound) for bound in bounds)
        self._le = [*(floatToGoString(b) for b in self._bounds), "+Inf"]  # type: ignore[no-untyped-call]
        self._series: dict[Labels, tuple[list[int], list[float]]] = {}  # counts, [sum]

    def observe(self, labels: Labels, value: float) -> None:
        series = self._series.get(labels)
        if series is None:
            self._created[labels] = time.time()
            series = self._series[labels] = ([0] * (len(self._bounds) + 1), [0.0])
        series[0][bisect_left(self._bounds, value)] += 1  # the first bound >= value
        series[1][0] += value

    def _drop(self, labels: Labels) -> None:
        super()._drop(labels)
        del self._series[labels]

    def totals(self, labels: Labels) -> tuple[int, float]:
        """(count, sum) of the observations of one series; (0, 0.0) when it has none."""
        series = self._series.get(labels)
        if series is None:
            return 0, 0.0
        return sum(series[0]), series[1][0]

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> list[Metric]:
        family = self._family()
        for labels, (counts, total) in list(self._series.items()):
            cumulative, buckets = 0, []
            for le, count in zip(self._le, list(counts), strict=True):
                cumulative += count
                buckets.append((le, float(cumulative)))
            family.add_metric(labels, buckets, total[0])
            created = self._created.get(labels)
            if created is not None:
                names = dict(zip(self.labelnames, labels, strict=True))
                family.samples.append(Sample(f"{self.name}_created", names, created))
        return [family]
