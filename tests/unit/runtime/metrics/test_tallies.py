"""Tests for runtime.metrics.tallies: the same exposition as prometheus_client's, forgetting."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from runtime.metrics.tallies import CounterTally, HistogramTally

BOUNDS = (0.001, 0.01, 0.1, 1.0, 10.0)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the text exposition but the *_created timestamps, by name and labels."""
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_histogram_exposes_what_prometheus_client_would_for_the_same_observations() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    tally = HistogramTally("t_seconds", "Doc.", ["model", "rpc"], BOUNDS)
    ours.register(tally)
    reference = Histogram("t_seconds", "Doc.", ["model", "rpc"], buckets=BOUNDS, registry=theirs)
    rng = random.Random(7)
    values = [*BOUNDS, 0.0, 50.0, *(rng.uniform(0, 12) for _ in range(200))]  # bounds included
    for index, value in enumerate(values):
        labels = ("a" if index % 3 else "b", "Predict")
        tally.observe(labels, value)
        reference.labels(*labels).observe(value)
    got, want = _samples(ours), _samples(theirs)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert abs(got[key] - value) < 1e-9, key


def test_a_value_on_a_bound_counts_in_that_bucket() -> None:
    registry = CollectorRegistry()
    tally = HistogramTally("b", "Doc.", ["model"], (1, 2, 4))
    registry.register(tally)
    tally.observe(("m",), 2)
    got = _samples(registry)
    assert got[("b_bucket", (("le", "1.0"), ("model", "m")))] == 0
    assert got[("b_bucket", (("le", "2.0"), ("model", "m")))] == 1
    assert got[("b_bucket", (("le", "+Inf"), ("model", "m")))] == 1
    assert got[("b_count", (("model", "m"),))] == 1


def test_counter_exposes_total_and_created_like_prometheus_client() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    tally = CounterTally("calls", "Doc.", ["model", "code"])
    ours.register(tally)
    reference = Counter("calls", "Doc.", ["model", "code"], registry=theirs)
    for labels in [("a", "OK"), ("a", "OK"), ("b", "NOT_FOUND")]:
        tally.inc(labels)
        reference.labels(*labels).inc()
    assert _samples(ours) == _samples(theirs)
    names = {s.name for f in text_string_to_metric_families(generate_latest(ours).decode())
             for s in f.samples}  # fmt: skip
    assert names == {"calls_total", "calls_created"}


def test_forget_drops_the_series_of_one_model_only() -> None:
    registry = CollectorRegistry()
    counter = CounterTally("calls", "Doc.", ["model", "rpc"])
    histogram = HistogramTally("h", "Doc.", ["model"], BOUNDS)
    registry.register(counter)
    registry.register(histogram)
    for model in ("gone", "kept"):
        counter.inc((model, "Predict"))
        histogram.observe((model,), 0.5)
    counter.forget("gone")
    histogram.forget("gone")
    models = {dict(labels).get("model") for _, labels in _samples(registry)}
    assert models == {"kept"}
    counter.inc(("gone", "Predict"))  # a model that comes back starts from zero
    assert _samples(registry)[("calls_total", (("model", "gone"), ("rpc", "Predict")))] == 1
