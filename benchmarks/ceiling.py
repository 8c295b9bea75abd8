"""What this machine allows at best: the MLP's own compute cost, and the batching ceiling it sets.

With every core busy, req/s is (cores) / (CPU per request, all processes together). No server can
spend less per call than the bare gRPC echo does (its server and client CPU at c=64: F), and the
MLP adds U per row when each request runs alone, B per row in a batch of 64. So the batched /
unbatched ratio at c=64 is at most (F + U) / (F + B) on this machine, whatever the server does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from bundles import FEATURES, MLP_MAX_BATCH

WARMUP_RUNS = 20


@dataclass(frozen=True)
class MlpCompute:
    """CPU microseconds per row of the benchmark MLP, alone and in a batch, onnxruntime 1 thread."""

    single_us: float
    batched_us: float
    batch: int

    def ratio_ceiling(self, floor_us: float) -> float:
        """The most batching can speed up a call that costs ``floor_us`` before the model.

        >>> MlpCompute(single_us=200.0, batched_us=20.0, batch=64).ratio_ceiling(180.0)
        1.9
        """
        if math.isnan(floor_us):
            return math.nan
        return (floor_us + self.single_us) / (floor_us + self.batched_us)


def _cpu_per_run(session: ort.InferenceSession, rows: int, runs: int, seconds: float) -> float:
    x = np.random.default_rng(0).standard_normal((rows, FEATURES)).astype(np.float32)
    for _ in range(WARMUP_RUNS):
        session.run(None, {"x": x})
    done, started, wall = 0, time.process_time(), time.monotonic() + seconds
    while done < runs and time.monotonic() < wall:
        session.run(None, {"x": x})
        done += 1
    return (time.process_time() - started) / max(1, done)


def measure_mlp(weights: Path, seconds: float = 2.0) -> MlpCompute:
    """Time the MLP in this process exactly as the bundle configures it (1 thread each way)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(weights), sess_options=options, providers=["CPUExecutionProvider"]
    )
    single = _cpu_per_run(session, 1, 5000, seconds)
    batched = _cpu_per_run(session, MLP_MAX_BATCH, 500, seconds)
    return MlpCompute(1e6 * single, 1e6 * batched / MLP_MAX_BATCH, MLP_MAX_BATCH)
