"""The GPU benchmark's baseline: gpu_net.py's network called directly in this process.

Per batch size: warm-up, then calls for a fixed time (each call uploads the uint8 batch and
copies the top-5 back, which waits for the GPU; torch.cuda.synchronize closes the window).
req/s = batch x calls/s. Prints one JSON object: the network and a row per batch size.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
from gpu_net import IMAGE_SHAPE, Net, describe
from gpu_nvml import Sampler
from load import _percentile


def measure(net: Net, batch: int, seconds: float) -> dict[str, Any]:
    """Call ``net`` on ``batch`` random images for ``seconds``; latencies are per call."""
    rng = np.random.default_rng(batch)
    images = rng.integers(0, 256, (batch, *IMAGE_SHAPE), dtype=np.uint8)
    for _ in range(5):
        net.infer(images)
    net.synchronize()
    latencies: list[float] = []
    with Sampler() as sampler:
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            net.infer(images)
            latencies.append(time.perf_counter() - sent)
        net.synchronize()
        elapsed = time.perf_counter() - started
    gpu = sampler.result()
    latencies.sort()
    return {
        "batch": batch,
        "calls": len(latencies),
        "rps": batch * len(latencies) / elapsed,
        "p50_ms": 1000 * _percentile(latencies, 0.50),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
        "gpu_util_mean": gpu.util_mean,
        "gpu_util_max": gpu.util_max,
        "gpu_mem_max_mib": gpu.mem_max_mib,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--batches", required=True, help="comma-separated batch sizes")
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    batches = tuple(int(b) for b in args.batches.split(","))
    started = time.perf_counter()
    net = Net(args.arch, args.device)
    net.warm_up(batches)
    result: dict[str, Any] = {**describe(net), "load_s": time.perf_counter() - started}
    result["rows"] = []
    for batch in batches:
        result["rows"].append(measure(net, batch, args.seconds))
        print(f"in-process batch {batch}: {result['rows'][-1]['rps']:.0f} req/s", file=sys.stderr)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
