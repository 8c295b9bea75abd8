"""What waiting for a bigger batch is worth: a running model of one model's trips and arrivals.

A trip to an instance costs about ``fixed + per_request * n`` for a batch of ``n``: the fixed part
(the round trip to the worker, the model's per-call overhead, a GPU's kernel launches) is what a
bigger batch shares. Holding a batch back pays only when the next request is expected sooner than
that fixed part would cost it as a trip of its own; otherwise the wait is pure latency. Once
waiting pays, it goes on while requests keep coming (up to the batch's limit): under a load that
keeps the server busy, fuller batches mean fewer trips for the front end to carry, which is where
the CPU goes, and a pause in arrivals sends the batch at once. Both sides are measured as the
model runs, forgetting old trips and arrivals gradually, so the choice follows the load and the
model as they change.

>>> cost = BatchCost()
>>> for n, seconds in [(1, 0.0011), (8, 0.0018), (1, 0.0011), (8, 0.0018)]:
...     cost.observe_trip(n, seconds)
>>> round(cost.fixed * 1e3, 2), round(cost.per_request * 1e3, 2)
(1.0, 0.1)
"""

from __future__ import annotations

import math

#: How much of the past each new trip keeps (about the last 1 / (1 - MEMORY) trips count).
MEMORY = 0.95
#: The weight of each new gap between arrivals in their running average.
GAP_WEIGHT = 0.2
#: A waiting batch leaves once no request came for this many average gaps.
STALL = 2.0


class BatchCost:
    """Running estimates of a trip's fixed and per-request cost, and of the gap between
    arrivals; ``wait_until`` says until when a batch that is not full may wait for company."""

    def __init__(self) -> None:
        # Decayed sums for a least-squares line through (batch size, trip seconds).
        self._w = self._n = self._t = self._nn = self._nt = 0.0
        self.gap = math.inf  # seconds between arrivals, averaged; inf until two have come
        self._last_arrival: float | None = None

    def observe_trip(self, size: int, seconds: float) -> None:
        """A trip of ``size`` requests took ``seconds``."""
        m = MEMORY
        self._w = m * self._w + 1.0
        self._n = m * self._n + size
        self._t = m * self._t + seconds
        self._nn = m * self._nn + size * size
        self._nt = m * self._nt + size * seconds

    def observe_arrival(self, now: float) -> None:
        """A request arrived at ``now`` (seconds on the scheduler's clock)."""
        if self._last_arrival is not None:
            gap = max(0.0, now - self._last_arrival)
            self.gap = gap if math.isinf(self.gap) else self.gap + GAP_WEIGHT * (gap - self.gap)
        self._last_arrival = now

    @property
    def per_request(self) -> float:
        """Seconds each request adds to a trip (0 until trips of two sizes were seen)."""
        spread = self._w * self._nn - self._n * self._n
        if self._w == 0 or spread <= 1e-12 * max(1.0, self._w * self._nn):
            return 0.0
        return max(0.0, (self._w * self._nt - self._n * self._t) / spread)

    @property
    def fixed(self) -> float:
        """Seconds a trip costs whatever its size (with one size seen: its whole cost)."""
        if self._w == 0:
            return 0.0
        return max(0.0, (self._t - self.per_request * self._n) / self._w)

    def wait_until(self, first: float, limit: float) -> float | None:
        """When a batch that is not full, whose first request came at ``first``, stops waiting
        (never past ``first + limit``); None: it leaves now. While requests come faster than a
        trip's fixed cost it waits at least that cost, and on while they keep coming (the last
        one less than STALL gaps ago): a steady stream fills the batch, a pause sends it."""
        fixed = self.fixed
        if self.gap >= fixed or self._last_arrival is None:
            return None
        keeps_coming = self._last_arrival + STALL * self.gap
        return min(first + limit, max(first + fixed, keeps_coming))
