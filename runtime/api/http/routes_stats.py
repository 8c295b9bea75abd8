"""Per-model counters for the playground's live charts, read from the metrics tallies.

Cumulative since start (or since the model's series began); a client takes rates from two
reads. The gRPC calls (modelrt.v1 and OIP) count, and the HTTP routes' model calls that are
measured with model_calls.ModelCall. Without metrics (no ``metrics_port``) it lists no models.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from runtime.api.http.context import Ctx, inference_access
from runtime.metrics.metrics import Metrics

router = APIRouter(prefix="/api/v1", tags=["server"], dependencies=[inference_access])
_FIELDS = ("requests", "errors", "latency_sum_s", "latency_count", "batches", "batch_size_sum")


def model_stats(metrics: Metrics, names: list[str]) -> dict[str, dict[str, float]]:
    """Counters per model of ``names`` (zeros for one with no calls yet)."""
    stats: dict[str, dict[str, float]] = {name: dict.fromkeys(_FIELDS, 0) for name in names}
    # counters are floats in the tallies; counts go out as integers
    rpcs: set[tuple[str, str]] = set()
    for (model, rpc, code), count in metrics.requests.items():
        if model not in stats:
            continue  # a deleted model's series, or a call that named no known model
        row = stats[model]
        row["requests"] += int(count)
        if code != "OK":
            row["errors"] += int(count)
        rpcs.add((model, rpc))
    for model, rpc in rpcs:
        count, total = metrics.request_duration.totals((model, rpc))
        stats[model]["latency_count"] += count
        stats[model]["latency_sum_s"] += total
    for name, row in stats.items():
        batches, size_sum = metrics.batch_size.totals((name,))
        row["batches"], row["batch_size_sum"] = batches, int(size_sum)
    return stats


@router.get("/stats", summary="Per-model request, error, latency and batch counters (cumulative)")
async def stats(ctx: Ctx) -> dict[str, Any]:
    names = sorted({record.name for record in ctx.engine.records()})
    models = model_stats(ctx.metrics, names) if ctx.metrics is not None else {}
    return {"time": time.time(), "metrics": ctx.metrics is not None, "models": models}
