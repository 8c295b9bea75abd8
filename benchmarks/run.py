"""modelrt benchmark: throughput, latency and idle memory of a real `modelrt serve`.

Run ``.venv/bin/python benchmarks/run.py [--quick] [--out benchmarks/results.md]``. It builds
the bundles in a temporary model store, measures idle memory in a short server run, then drives
the echo ceiling and modelrt from a load-generator process, and writes a Markdown report.
"""

from __future__ import annotations

import argparse
import json
import pstats
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlp_cost
import procfs
import report
import servers
from bundles import MLP_MAX_BATCH, StoreLayout, write_store

HERE = Path(__file__).resolve().parent
LOAD = HERE / "load.py"
ALL_MODELS = ("identity", "mlp-batched", "mlp-unbatched", "tokens")
UNARY_TARGETS = ("identity", "mlp-batched", "mlp-unbatched")
# max_queue_delay_ms of mlp-batched (benchmarks/README.md): with the adaptive delay a lone caller
# never waits, so 5 ms costs nothing at c=1 and fills the batches at c=8 and c=64.
DEFAULT_BATCH_DELAY_MS = 5.0
SETTLE_S = 2.0


@dataclass(frozen=True)
class Plan:
    """How much load each level gets; every level stops at whichever bound it reaches first."""

    requests: int
    seconds: float
    warmup: int
    items: int
    rounds: int
    concurrency: tuple[int, ...] = (1, 8, 64)


# Full: every level runs for 3 s (the request cap is not reached), in 5 interleaved rounds, so a
# burst of noise on this shared machine moves one round, not the result.
FULL = Plan(requests=30_000, seconds=3.0, warmup=200, items=5000, rounds=5)
QUICK = Plan(requests=300, seconds=5.0, warmup=50, items=1000, rounds=1)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_load(arguments: list[str], timeout: float) -> dict[str, Any]:
    """Run load.py in a process of its own; its last stdout line is the JSON result."""
    completed = subprocess.run(
        [sys.executable, str(LOAD), *arguments],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load.py {' '.join(arguments)} failed:\n{completed.stderr.decode()}")
    result: dict[str, Any] = json.loads(completed.stdout.decode().splitlines()[-1])
    return result


def _options(**values: object) -> list[str]:
    """``--name value`` pairs for load.py."""
    return [part for key, value in values.items() for part in (f"--{key}", str(value))]


def _cpu_split(pid: int, before: dict[int, float]) -> tuple[float, float]:
    """CPU seconds since ``before``: of the server process itself, and of all below it."""
    after = procfs.tree_cpu(pid)
    own = after.get(pid, 0.0) - before.get(pid, 0.0)
    below = sum(after[p] - before.get(p, 0.0) for p in after if p != pid)
    return own, below


def measure_unary(
    server: servers.Server, target: str, plan: Plan, level: int, round: int
) -> report.LoadRow:
    """One concurrency level against ``target`` (echo, or a model's Predict), in one round."""
    model = "identity" if target == "floor" else target  # the floor answers any model name
    kind = ["--target", "echo"] if target == "echo" else ["--target", "predict", "--model", model]
    arguments = ["unary", *kind, *_options(
        address=server.address, concurrency=level, requests=plan.requests,
        warmup=plan.warmup, seconds=plan.seconds,
    )]  # fmt: skip
    before = procfs.tree_cpu(server.pid)
    result = run_load(arguments, timeout=2 * plan.seconds + 60)
    own, below = _cpu_split(server.pid, before)
    servers.check_alive(server)
    sent = max(1, result["sent_with_warmup"])
    row = report.LoadRow(
        target=target,
        concurrency=level,
        requests=result["requests"],
        errors=result["errors"],
        first_error=result["first_error"][:80],
        rps=result["rps"],
        p50_ms=result["p50_ms"],
        p99_ms=result["p99_ms"],
        server_cpu_us=1e6 * own / sent,
        worker_cpu_us=1e6 * below / sent,
        client_cpu_us=1e6 * result["client_cpu_s"] / max(1, result["requests"]),
        round=round,
    )
    _progress(
        f"  [{round + 1}] {target:14} c={level:<3} {row.rps:8.0f} req/s  p50 {row.p50_ms:7.3f} ms  "
        f"p99 {row.p99_ms:7.3f} ms  errors {row.errors}"
    )
    return row


def measure_generate(server: servers.Server, plan: Plan) -> report.GenerateRow:
    """Items per second of one Generate stream of ``tokens``."""
    arguments = ["generate", *_options(
        address=server.address, model="tokens", items=plan.items, seconds=plan.seconds
    )]  # fmt: skip
    before = procfs.tree_cpu(server.pid)
    result = run_load(arguments, timeout=2 * plan.seconds + 60)
    own, below = _cpu_split(server.pid, before)
    servers.check_alive(server)
    items = max(1, result["items"] + result["warmup_items"])
    row = report.GenerateRow(
        model="tokens",
        items=result["items"],
        items_per_s=result["items_per_s"],
        first_item_ms=result["first_item_ms"],
        error=result["error"],
        server_cpu_us=1e6 * own / items,
        worker_cpu_us=1e6 * below / items,
    )
    _progress(f"  tokens generate {row.items} items: {row.items_per_s:.0f} items/s {row.error}")
    return row


def measure_memory(workdir: Path, layout: StoreLayout, flags: list[str]) -> list[Any]:
    """Idle VmRSS of a server serving only ``identity``, and of its workers, before any load."""
    store = workdir / "store-memory"
    write_store(store, StoreLayout(layout.batch_delay_ms, ("identity",)))
    with servers.running(servers.start_modelrt(store, workdir, flags)) as server:
        time.sleep(SETTLE_S)
        memory = procfs.tree_memory(server.pid)
    _progress(f"  idle memory: {sum(p.rss_kib for p in memory) / 1024:.1f} MiB VmRSS")
    return memory


def benchmark(args: argparse.Namespace, result: report.Report, workdir: Path) -> None:
    """Idle memory (a server of its own), then rounds against the echo server and modelrt."""
    plan = QUICK if args.quick else FULL
    flags = ["--execution", args.execution]
    layout = StoreLayout(args.batch_delay_ms, ALL_MODELS)
    _progress("memory (identity only, idle)")
    result.memory = measure_memory(workdir, layout, flags)
    write_store(workdir / "store", layout)
    result.mlp = mlp_cost.measure_mlp(workdir / "mlp.onnx")
    _progress(
        f"  mlp alone: {result.mlp.single_us:.0f} us/row, "
        f"{result.mlp.batched_us:.1f} us/row in batches of {result.mlp.batch}"
    )
    profile = args.profile.resolve() if args.profile else None
    # Every server runs throughout (an idle one costs nothing), so each round measures the echo
    # ceiling, the process-boundary floor and every model back to back.
    with (
        servers.running(servers.start_echo(workdir)) as echo,
        servers.running(servers.start_floor(workdir)) as floor,
        servers.running(servers.start_modelrt(workdir / "store", workdir, flags, profile)) as rt,
    ):
        by_target = {"echo": echo, "floor": floor}
        for round in range(plan.rounds):
            _progress(f"round {round + 1} of {plan.rounds}")
            for c in plan.concurrency:  # targets compared at one level run back to back
                result.rows += [
                    measure_unary(by_target.get(target, rt), target, plan, c, round)
                    for target in ("echo", "floor", *UNARY_TARGETS)
                ]
        result.generate = measure_generate(rt, plan)
    if profile is not None:
        stats = pstats.Stats(str(profile), stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(30)


def settings_lines(args: argparse.Namespace) -> list[str]:
    plan = QUICK if args.quick else FULL
    return [
        f"each level: {plan.warmup} warm-up requests, then up to {plan.requests} requests or "
        f"{plan.seconds:g} s; concurrency {', '.join(map(str, plan.concurrency))} on one "
        "grpc.aio channel in a load-generator process of its own",
        f"{plan.rounds} round(s), each measuring the echo server, the floor and every model in "
        "turn; the table shows the round with the median req/s, the targets the median over "
        "rounds of each round's comparison",
        "request: PredictRequest with one [1, 256] float32 tensor; the echo server gets the same "
        "bytes and returns them",
        "floor: a bare grpc.aio server that parses the PredictRequest, sends the tensor to a "
        "worker process over two pipes and back, and answers (benchmarks/pipe_server.py)",
        f"server: `modelrt serve --execution {args.execution}` (one worker process per model "
        "instance by default), log level WARNING, metrics on",
        f"mlp-batched: max_batch_size {MLP_MAX_BATCH}, max_queue_delay_ms "
        f"{args.batch_delay_ms:g}; mlp-unbatched: max_batch_size 0; onnxruntime 1 thread",
        f"Generate: one stream of {plan.items} items of `tokens` (a sync generator)",
        "CPU columns: CPU time of the server process / of its workers / of the client, divided "
        "by the requests sent (warm-up included)",
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests: a smoke run")
    parser.add_argument("--out", type=Path, default=HERE / "results.md", help="Markdown report")
    parser.add_argument(
        "--batch-delay-ms",
        type=float,
        default=DEFAULT_BATCH_DELAY_MS,
        help="max_queue_delay_ms of mlp-batched",
    )
    parser.add_argument("--execution", choices=("process", "inprocess"), default="process")
    parser.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="also rewrite the tables between this file's bench markers (make bench: README.md)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="run the measured server under cProfile and write its stats here",
    )
    return parser.parse_args()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`, so servers get stopped


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args()
    result = report.Report(command=shlex.join(sys.orig_argv), settings=settings_lines(args))
    try:
        with tempfile.TemporaryDirectory(prefix="modelrt-bench-") as tmp:
            benchmark(args, result, Path(tmp))
    except KeyboardInterrupt:
        print("interrupted: every server was stopped, no report written", file=sys.stderr)
        return 130
    text = report.markdown(result)
    args.out.write_text(text, encoding="utf-8")
    if args.readme is not None and not report.update_readme(args.readme, result):
        print(f"{args.readme} has no bench markers; left unchanged", file=sys.stderr)
    print(text)
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
