"""GPU benchmark: an image classifier served by a real ``modelrt serve`` against the same network
called in-process.

ResNet-50 (torchvision, random weights; fp16 and channels_last on a GPU) behind ``predict_batch``
with dynamic batching (max_batch_size 64), served with one and with two instances on GPU 0, at
several concurrency levels from several client processes; the baseline calls the network
directly at several batch sizes. NVML samples the GPU during every measured window. Every step
is guarded: a failed one is recorded and the next one runs. Writes gpu-bench.md, gpu-bench.json
and server.log (the servers' log tails) into ``--out``.

``--smoke`` is a dry run for a machine without a GPU: a tiny CNN when torchvision is missing,
2 s per point, concurrency 1 and 8.

Run as ``python benchmarks/gpu.py --out DIR [--smoke]`` with the repo root on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import gpu_load
import servers
from gpu_bundle import MAX_BATCH, MODEL_NAME, QUEUE_DELAY_MS, write_bundle
from gpu_nvml import nvml_facts
from gpu_report import GpuReport, write

from clients import Client
from runtime.placement.devices import discover_gpus

HERE = Path(__file__).resolve().parent
SERVER_START_S = 45.0  # least time left to start a server and measure anything on it


@dataclass(frozen=True)
class Plan:
    """What to measure and for how long."""

    seconds: float
    concurrency: tuple[int, ...]
    batches: tuple[int, ...]
    instances: tuple[int, ...]
    processes: int


FULL = Plan(7.0, (1, 16, 64, 256), (1, 16, 64), (1, 2), 8)
SMOKE = Plan(2.0, (1, 8), (1, 8), (1, 2), 4)


class Budget:
    """A wall-clock deadline for the whole run."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def facts(arch: str, device: str, plan: Plan) -> dict[str, str]:
    """Date, device, driver and the versions that matter for the numbers."""
    found = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), **nvml_facts()}
    versions = []
    for name in ("torch", "torchvision", "grpcio", "protobuf", "numpy", "onnxruntime"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    return {
        **found,
        "python": platform.python_version(),
        "versions": ", ".join(versions),
        "model": f"{arch} (random weights) on {device}; input uint8 [1,3,224,224] per request",
        "batching": f"max_batch_size {MAX_BATCH}, max_queue_delay_ms {QUEUE_DELAY_MS}",
        "points": f"{plan.seconds:g} s each; served c split over up to {plan.processes} "
        "client processes (grpc.aio, one channel each)",
    }


def run_inprocess(report: GpuReport, arch: str, device: str, plan: Plan, budget: Budget) -> None:
    """The baseline, in a process of its own (its CUDA context is gone before serving starts)."""
    command = [
        sys.executable, str(HERE / "gpu_inprocess.py"), "--arch", arch, "--device", device,
        "--batches", ",".join(map(str, plan.batches)), "--seconds", str(plan.seconds / 2),
    ]  # fmt: skip
    timeout = max(10.0, min(budget.left() - SERVER_START_S, 120.0))
    done = subprocess.run(command, stdout=subprocess.PIPE, timeout=timeout, check=True)
    result = json.loads(done.stdout)
    report.inprocess = result.pop("rows")
    report.facts["precision"] = result["precision"]
    report.facts["torch CUDA, cuDNN"] = f"{result['torch_cuda']}, {result['cudnn']}"
    report.facts["in-process load + warm-up"] = f"{result['load_s']:.1f} s"
    report.notes.append(
        "in-process rows: req/s = batch x calls/s; p50/p99 are per call (one whole batch), "
        "each call uploading the uint8 batch and copying the top-5 back"
    )


def run_served(
    report: GpuReport, instances: int, gpu: bool, plan: Plan, budget: Budget, out: Path
) -> None:
    """Serve the bundle with ``instances`` instances and measure each concurrency level."""
    with tempfile.TemporaryDirectory(prefix="modelrt-gpu-") as tmp:
        work = Path(tmp)
        store = work / f"store-{instances}"
        write_bundle(store, report.facts["arch"], instances, gpu)
        started = time.monotonic()
        server = servers.start_modelrt(store, work, flags=["--log-level", "INFO"])
        try:
            load_s = time.monotonic() - started
            report.facts[f"server start, {instances} instance(s)"] = f"{load_s:.1f} s"
            with Client(server.address, timeout=30) as client:
                info = client.get_model(MODEL_NAME)
            if info.state != "READY":
                raise RuntimeError(f"model is {info.state}: {info.reason}")
            for concurrency in plan.concurrency:
                if budget.left() < plan.seconds + gpu_load.SPAWN_ALLOWANCE_S + 15:
                    report.notes.append(f"{instances} instance(s), c={concurrency}: no time left")
                    continue
                servers.check_alive(server)
                step = f"served x{instances} c={concurrency}"
                point = (report, server.address, instances, concurrency, plan)
                _guarded(report, out, step, _point, *point)
        finally:
            servers.stop(server)
            _keep_log(server.log, out / "server.log", f"{instances} instance(s)")


def _point(report: GpuReport, address: str, instances: int, concurrency: int, plan: Plan) -> None:
    row = gpu_load.measure(address, instances, concurrency, plan.seconds, plan.processes)
    report.served.append(gpu_load.row_dict(row))
    print(f"served x{instances} c={concurrency}: {row.rps:.0f} req/s", flush=True)


def _keep_log(log: Path, dest: Path, label: str, lines: int = 150) -> None:
    try:
        tail = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError as exc:
        tail = [f"(no log: {exc})"]
    with dest.open("a", encoding="utf-8") as out:
        out.write(f"===== modelrt serve, {label}: last {lines} lines of {log.name}\n")
        out.write("\n".join(tail) + "\n")


def _guarded(report: GpuReport, out: Path, step: str, action: object, *args: object) -> None:
    try:
        action(*args)  # type: ignore[operator]
    except Exception as exc:  # a failed step is recorded; the next one still runs
        report.errors.append(f"{step}: {type(exc).__name__}: {str(exc)[-1500:]}")
        print(f"{step} failed: {exc}", file=sys.stderr, flush=True)
    write(report, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for the reports")
    parser.add_argument("--smoke", action="store_true", help="short CPU dry run")
    parser.add_argument("--budget-s", type=float, default=210.0, help="wall-clock budget")
    args = parser.parse_args()
    # A timeout's SIGTERM unwinds like an exception, so every server started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = SMOKE if args.smoke else FULL
    budget = Budget(args.budget_s)
    gpu = bool(discover_gpus())
    device = "cuda:0" if gpu else "cpu"
    arch = "resnet50" if importlib.util.find_spec("torchvision") is not None else "tiny"
    report = GpuReport(facts=facts(arch, device, plan))
    report.facts["arch"] = arch
    if not gpu:
        report.notes.append("no GPU found: instances run where the server puts them (CPU)")
    _onnx_note(report)
    try:
        _guarded(report, args.out, "in-process", run_inprocess, report, arch, device, plan, budget)
        for instances in plan.instances:
            if budget.left() < SERVER_START_S:
                report.notes.append(f"served with {instances} instance(s): skipped, out of time")
                continue
            step = f"served, {instances} instance(s)"
            _guarded(
                report, args.out, step, run_served, report, instances, gpu, plan, budget, args.out
            )
    except SystemExit:
        report.errors.append("stopped by SIGTERM (the script's timeout): later steps did not run")
        raise
    finally:
        write(report, args.out)
    print(f"wrote {args.out / 'gpu-bench.md'} and gpu-bench.json", flush=True)


def _onnx_note(report: GpuReport) -> None:
    try:
        import onnxruntime

        providers = onnxruntime.get_available_providers()
    except Exception as exc:
        providers = [f"onnxruntime unavailable: {exc}"]
    report.facts["onnxruntime providers"] = ", ".join(providers)
    if "CUDAExecutionProvider" not in providers:
        report.notes.append("no ONNX row: onnxruntime has no CUDAExecutionProvider here")
    else:
        report.notes.append("ONNX row not measured (CUDA provider present; not in this plan)")


if __name__ == "__main__":
    main()
