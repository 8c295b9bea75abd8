"""Image Predict load from several client processes at once, for the GPU benchmark.

``client`` (a process of its own) keeps its share of the calls in flight on one grpc.aio channel
with load.py's ``drive``: warm-up, then it waits for a shared start time and measures for a fixed
time, and prints its latencies as JSON. ``measure`` starts the processes, samples the GPU over
the measured window and merges what they saw into one row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from gpu_nvml import Sampler
from load import CALL_TIMEOUT_S, CHANNEL_OPTIONS, PREDICT_METHOD, _percentile, drive

from modelrt import codec
from modelrt.v1 import runtime_pb2

HERE = Path(__file__).resolve().parent
IMAGE_SHAPE = (1, 3, 224, 224)
SPAWN_ALLOWANCE_S = 3.0  # starting python and importing grpc, numpy and the stubs
NO_COUNT_LIMIT = 10**9


def image_request(model: str, seed: int) -> runtime_pb2.PredictRequest:
    """One random uint8 image [1, 3, 224, 224] as input ``image``.

    >>> image_request("resnet", 0).inputs["image"].ByteSize() > 150_000
    True
    """
    image = np.random.default_rng(seed).integers(0, 256, IMAGE_SHAPE, dtype=np.uint8)
    return runtime_pb2.PredictRequest(model=model, inputs={"image": codec.python_to_value(image)})


async def client(args: argparse.Namespace) -> dict[str, Any]:
    """Check one answer, warm up, wait for the start time, measure; latencies in ms."""
    request = image_request(args.model, args.seed)
    async with grpc.aio.insecure_channel(args.address, options=CHANNEL_OPTIONS) as channel:
        call = channel.unary_unary(
            PREDICT_METHOD,
            request_serializer=runtime_pb2.PredictRequest.SerializeToString,
            response_deserializer=runtime_pb2.PredictResponse.FromString,
        )
        reply = await call(request, timeout=CALL_TIMEOUT_S)
        classes = codec.value_to_python(reply.outputs["classes"])
        if np.shape(classes) != (1, 5):
            raise SystemExit(f"unexpected answer: {reply!r:.300}")
        await drive(call, request, args.concurrency, NO_COUNT_LIMIT, args.warmup_s)
        await asyncio.sleep(max(0.0, args.start_at - time.time()))
        phase = await drive(call, request, args.concurrency, NO_COUNT_LIMIT, args.seconds)
    return {
        "latencies_ms": [round(1000 * s, 4) for s in phase.latencies],
        "errors": len(phase.errors),
        "first_error": (phase.errors or [""])[0],
        "seconds": phase.seconds,
    }


@dataclass(frozen=True)
class ServedRow:
    """One concurrency level against the server; GPU readings over the measured window."""

    instances: int
    concurrency: int
    processes: int
    requests: int
    errors: int
    first_error: str
    rps: float
    p50_ms: float
    p99_ms: float
    gpu_util_mean: float | None
    gpu_util_max: float | None
    gpu_mem_max_mib: float | None


def split(concurrency: int, max_processes: int) -> list[int]:
    """Calls in flight per client process, as even as possible.

    >>> split(16, 8), split(1, 8), split(10, 4)
    ([2, 2, 2, 2, 2, 2, 2, 2], [1], [3, 3, 2, 2])
    """
    processes = max(1, min(max_processes, concurrency))
    base, extra = divmod(concurrency, processes)
    return [base + (1 if i < extra else 0) for i in range(processes)]


def measure(
    address: str, instances: int, concurrency: int, seconds: float, max_processes: int
) -> ServedRow:
    """Drive ``concurrency`` calls from up to ``max_processes`` client processes."""
    warmup_s = min(2.0, seconds / 3)
    start_at = time.time() + SPAWN_ALLOWANCE_S + warmup_s
    command = [
        sys.executable, str(HERE / "gpu_load.py"), "--address", address, "--seconds", str(seconds),
        "--warmup-s", str(warmup_s), "--start-at", str(start_at),
    ]  # fmt: skip
    clients = [
        subprocess.Popen(
            [*command, "--concurrency", str(share), "--seed", str(i)], stdout=subprocess.PIPE
        )
        for i, share in enumerate(split(concurrency, max_processes))
    ]
    try:
        time.sleep(max(0.0, start_at - time.time()))
        with Sampler() as sampler:
            time.sleep(seconds)
        results = [_result(c, seconds + warmup_s + SPAWN_ALLOWANCE_S + 60) for c in clients]
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait()
    gpu = sampler.result()
    latencies = sorted(x for r in results for x in r["latencies_ms"])
    errors = [r["first_error"] for r in results if r["first_error"]]
    return ServedRow(
        instances=instances,
        concurrency=concurrency,
        processes=len(clients),
        requests=len(latencies),
        errors=sum(r["errors"] for r in results),
        first_error=errors[0] if errors else "",
        rps=sum(len(r["latencies_ms"]) / r["seconds"] for r in results if r["seconds"]),
        p50_ms=_percentile(latencies, 0.50),
        p99_ms=_percentile(latencies, 0.99),
        gpu_util_mean=gpu.util_mean,
        gpu_util_max=gpu.util_max,
        gpu_mem_max_mib=gpu.mem_max_mib,
    )


def _result(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    out, _ = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"client process exited with {process.returncode}")
    result: dict[str, Any] = json.loads(out)
    return result


def row_dict(row: ServedRow) -> dict[str, Any]:
    """The row for the JSON report (NaN as None)."""
    values = asdict(row).items()
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--model", default="resnet")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--warmup-s", type=float, required=True)
    parser.add_argument("--start-at", type=float, required=True, help="epoch seconds")
    parser.add_argument("--seed", type=int, default=0)
    json.dump(asyncio.run(client(parser.parse_args())), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
