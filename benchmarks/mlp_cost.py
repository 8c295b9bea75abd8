"""What the benchmark MLP itself costs on this machine: CPU per row alone and in a batch.

Context for the batched / unbatched ratio: batching saves at most this difference per row, plus
the per-call gRPC and scheduling work that answers leaving together share.
"""

from __future__ import annotations

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
