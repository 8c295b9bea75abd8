"""Tests for runtime.engine.batch_cost: the trip cost line and the arrival gap behind the wait."""

from __future__ import annotations

import pytest

from runtime.engine.batch_cost import STALL, BatchCost


def _trips(cost: BatchCost, fixed: float, per_request: float, sizes: list[int]) -> None:
    for size in sizes:
        cost.observe_trip(size, fixed + per_request * size)


def _arrivals(cost: BatchCost, gap: float, count: int, start: float = 0.0) -> float:
    now = start
    for _ in range(count):
        now += gap
        cost.observe_arrival(now)
    return now


def test_nothing_measured_means_never_wait() -> None:
    cost = BatchCost()
    assert (cost.fixed, cost.per_request) == (0.0, 0.0)
    assert cost.wait_until(0.0, 1.0) is None


def test_one_batch_size_seen_counts_its_whole_cost_as_fixed() -> None:
    cost = BatchCost()
    _trips(cost, 0.002, 0.0, [4] * 10)
    assert cost.fixed == pytest.approx(0.002)
    assert cost.per_request == 0.0


def test_the_line_follows_a_change_in_the_models_cost() -> None:
    cost = BatchCost()
    _trips(cost, 0.010, 0.001, [1, 8] * 20)
    assert cost.fixed == pytest.approx(0.010)
    _trips(cost, 0.002, 0.001, [1, 8] * 100)  # the model got cheaper: old trips fade out
    assert cost.fixed == pytest.approx(0.002, rel=0.05)
    assert cost.per_request == pytest.approx(0.001, rel=0.05)


def test_fast_arrivals_wait_at_least_the_fixed_cost_and_on_while_they_keep_coming() -> None:
    cost = BatchCost()
    _trips(cost, 0.005, 0.0001, [1, 16] * 10)
    last = _arrivals(cost, 0.001, 10)  # faster than the 5 ms a trip costs anyway
    assert cost.wait_until(last, 1.0) == pytest.approx(last + 0.005)  # the fixed cost at least
    assert cost.wait_until(last, 0.002) == pytest.approx(last + 0.002)  # never past the limit
    later = _arrivals(cost, 0.001, 10, start=last)  # they kept coming: the wait goes on
    assert cost.wait_until(last, 1.0) == pytest.approx(later + STALL * 0.001)
    assert cost.wait_until(last, 0.008) == pytest.approx(last + 0.008)
    _arrivals(cost, 0.050, 40, start=1.0)  # the load fell: one request every 50 ms
    assert cost.gap == pytest.approx(0.050, rel=0.05)
    assert cost.wait_until(1.0, 1.0) is None


def test_a_noisy_line_never_gives_a_negative_cost() -> None:
    cost = BatchCost()
    cost.observe_trip(1, 0.001)
    cost.observe_trip(2, 0.0001)  # a cheaper bigger batch: the intercept would go negative
    cost.observe_trip(3, 0.0001)
    assert cost.fixed >= 0.0
    assert cost.per_request >= 0.0
