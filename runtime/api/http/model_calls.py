"""Counts the model calls made over HTTP in the same per-model series as the RPCs
(modelrt_requests_total, modelrt_request_duration_seconds), so /api/v1/stats and dashboards see
every call whatever door it came in by. Their ``rpc`` label says so: HttpPredict, HttpGenerate,
HttpStream. Only calls that reached a known model count (a made-up name never becomes a
series); the route counters (modelrt_http_requests_total) count the rest.
"""

from __future__ import annotations

import asyncio
import time

from registry.errors import ModelrtError
from runtime.metrics.metrics import Metrics


def code_of(error: BaseException | None) -> str:
    """The status name a call that ended with ``error`` counts under.

    >>> code_of(None)
    'OK'
    """
    if error is None:
        return "OK"
    if isinstance(error, ModelrtError):
        return error.code.value
    if isinstance(error, asyncio.CancelledError | GeneratorExit | ConnectionError):
        return "CANCELLED"
    return "INTERNAL"


class ModelCall:
    """One call to ``model`` being timed; ``finish`` records it once (no-op without metrics)."""

    def __init__(self, metrics: Metrics | None, model: str, rpc: str) -> None:
        self._metrics = metrics
        self._model = model
        self._rpc = rpc
        self._start = time.monotonic()
        self._done = metrics is None

    def finish(self, error: BaseException | None = None) -> None:
        if self._done or self._metrics is None:
            return
        self._done = True
        elapsed = time.monotonic() - self._start
        self._metrics.observe_request(self._model, self._rpc, code_of(error), elapsed)
