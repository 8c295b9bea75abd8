"""modelrt beside MLServer and TorchServe: the same MLP and batching, interleaved in one run.

Run ``.venv/bin/python benchmarks/peers.py [--quick]`` after ``make bench-peers-setup`` (or
``make bench-peers``). Every system serves the ONNX MLP 256->1024->1024->10 with onnxruntime on
one thread and batches of up to 32 rows waiting at most 5 ms; each round measures, at each
concurrency level, every system back to back with load.py. A peer that is not installed or does
not start is reported as skipped; the others are measured all the same.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import peer_report
import peer_servers
import procfs
import report
import servers
from bundles import build_mlp, write_mlp
from peer_report import PeerReport, Target
from run import (
    FULL,
    QUICK,
    SETTLE_S,
    Plan,
    _cpu_split,
    _exit_on_sigterm,
    _options,
    _progress,
    run_load,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BATCHING = peer_servers.Batching(max_batch_size=32, max_delay_ms=5.0)
# Fewer rounds than `make bench`: six targets per level, and a JVM among them.
PEERS_FULL = Plan(FULL.requests, FULL.seconds, FULL.warmup, FULL.items, rounds=3)
MODELRT_BUNDLES = {
    "mlp-unbatched": {"max_batch_size": 0},
    "mlp-batched": {
        "max_batch_size": BATCHING.max_batch_size,
        "max_queue_delay_ms": BATCHING.max_delay_ms,
    },
    "mlp-batched-fixed": {  # always waits out the delay, as the peers do
        "max_batch_size": BATCHING.max_batch_size,
        "max_queue_delay_ms": BATCHING.max_delay_ms,
        "queue_delay": "fixed",
    },
}


def targets(versions: dict[str, str]) -> list[Target]:
    """Every row of the comparison, in table order."""
    return [
        Target("grpc.aio echo (ceiling)", "echo", "echo", "identity"),
        Target("modelrt unbatched", "modelrt", "predict", "mlp-unbatched"),
        Target("modelrt batched (adaptive)", "modelrt", "predict", "mlp-batched"),
        Target("modelrt batched (fixed 5 ms)", "modelrt", "predict", "mlp-batched-fixed"),
        Target(f"MLServer {versions.get('mlserver', '')} batched", "mlserver", "oip", "mlp"),
        Target(
            f"TorchServe {versions.get('torchserve', '')} batched",
            "torchserve",
            "torchserve",
            "mlp",
        ),
    ]


def peer_version(venv: Path, package: str) -> str:
    """The version of ``package`` installed in ``venv`` ("" when it is not)."""
    python = venv / "bin" / "python"
    if not python.exists():
        return ""
    code = f"from importlib.metadata import version; print(version({package!r}))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else ""


def java_version() -> str:
    """The first line of ``java -version`` ("" without java)."""
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stderr or done.stdout).strip().splitlines()[0] if done.returncode == 0 else ""


def measure(
    server: servers.Server, target: Target, plan: Plan, level: int, round: int
) -> report.LoadRow:
    """One level against one target, with the CPU its server tree used (as run.py does)."""
    arguments = ["unary", "--target", target.kind, "--model", target.model, *_options(
        address=server.address, concurrency=level, requests=plan.requests,
        warmup=plan.warmup, seconds=plan.seconds,
    )]  # fmt: skip
    before = procfs.tree_cpu(server.pid)
    result = run_load(arguments, timeout=2 * plan.seconds + 60)
    own, below = _cpu_split(server.pid, before)
    servers.check_alive(server)
    sent = max(1, result["sent_with_warmup"])
    row = report.LoadRow(
        target=target.label, concurrency=level, requests=result["requests"],
        errors=result["errors"], first_error=result["first_error"][:80], rps=result["rps"],
        p50_ms=result["p50_ms"], p99_ms=result["p99_ms"], server_cpu_us=1e6 * own / sent,
        worker_cpu_us=1e6 * below / sent,
        client_cpu_us=1e6 * result["client_cpu_s"] / max(1, result["requests"]), round=round,
    )  # fmt: skip
    _progress(
        f"  [{round + 1}] {target.label:30} c={level:<3} {row.rps:7.0f} req/s  "
        f"p50 {row.p50_ms:7.2f} ms  p99 {row.p99_ms:7.2f} ms  errors {row.errors}"
    )
    return row


def _idle(peer: PeerReport, system: str, server: servers.Server) -> None:
    time.sleep(SETTLE_S)
    peer.memory[system] = procfs.tree_memory(server.pid)
    _progress(f"  {system} idle: {peer.idle_rss_mib(system):.0f} MiB VmRSS")


def _start_peer(
    peer: PeerReport, stack: contextlib.ExitStack, name: str, venvs: Path, onnx: Path
) -> servers.Server | None:
    """Start one peer, or note why it is skipped."""
    venv = venvs / name
    reason = peer_servers.unavailable(name, venv)
    if not reason:
        start = peer_servers.start_mlserver if name == "mlserver" else peer_servers.start_torchserve
        _progress(f"starting {name}")
        try:
            server = stack.enter_context(servers.running(start(venv, onnx.parent, onnx, BATCHING)))
        except (servers.ServerStartError, subprocess.SubprocessError, OSError) as exc:
            reason = f"did not start: {str(exc).strip().splitlines()[0][:300]}"
        else:
            _idle(peer, name, server)
            return server
    peer.skipped[name] = reason
    _progress(f"  skipping {name}: {reason}")
    return None


def benchmark(args: argparse.Namespace, peer: PeerReport, workdir: Path) -> None:
    """Idle memory of modelrt with one MLP, then the rounds against every system that starts."""
    plan = QUICK if args.quick else PEERS_FULL
    onnx = workdir / "mlp.onnx"
    onnx.write_bytes(build_mlp().SerializeToString())
    for name, batching in MODELRT_BUNDLES.items():
        write_mlp(workdir / "store", name, batching, onnx)
    write_mlp(workdir / "store-memory", "mlp-batched", MODELRT_BUNDLES["mlp-batched"], onnx)
    _progress("modelrt idle memory (one batched MLP)")
    with servers.running(servers.start_modelrt(workdir / "store-memory", workdir)) as alone:
        _idle(peer, "modelrt", alone)
    with contextlib.ExitStack() as stack:
        running = {
            "echo": stack.enter_context(servers.running(servers.start_echo(workdir))),
            "modelrt": stack.enter_context(
                servers.running(servers.start_modelrt(workdir / "store", workdir))
            ),
        }
        _idle(peer, "echo", running["echo"])
        for name in ("mlserver", "torchserve"):
            if (server := _start_peer(peer, stack, name, args.venvs, onnx)) is not None:
                running[name] = server
        for round in range(plan.rounds):
            _progress(f"round {round + 1} of {plan.rounds}")
            for level in plan.concurrency:
                for target in peer.targets:
                    if target.system in running and target.system not in peer.skipped:
                        _measure_or_skip(peer, running[target.system], target, plan, level, round)


def _measure_or_skip(
    peer: PeerReport, server: servers.Server, target: Target, plan: Plan, level: int, round: int
) -> None:
    """A peer that dies or fails mid-run is dropped from the rest of the run, with the reason."""
    try:
        peer.load.rows.append(measure(server, target, plan, level, round))
    except (servers.ServerStartError, RuntimeError, subprocess.TimeoutExpired) as exc:
        if target.system in ("echo", "modelrt"):
            raise
        peer.skipped[target.system] = f"failed at c={level}: {str(exc).strip()[:300]}"
        _progress(f"  dropping {target.system}: {peer.skipped[target.system]}")


def settings_lines(args: argparse.Namespace) -> list[str]:
    plan = QUICK if args.quick else PEERS_FULL
    return [
        f"each level: {plan.warmup} warm-up requests, then up to {plan.requests} requests or "
        f"{plan.seconds:g} s; concurrency {', '.join(map(str, plan.concurrency))} on one grpc.aio "
        "channel in a load-generator process of its own (benchmarks/load.py; the same client "
        "code for every system, each peer called through its own gRPC API)",
        f"{plan.rounds} round(s); each measures every system in turn at each level; the table "
        "shows the round with the median req/s",
        "model: ONNX MLP 256->1024->1024->10 (benchmarks/bundles.py), one file for all, "
        "onnxruntime with 1 thread in one worker process per system",
        f"batching: at most {BATCHING.max_batch_size} rows, waiting at most "
        f"{BATCHING.max_delay_ms:g} ms (modelrt max_queue_delay_ms, adaptive by default and "
        "fixed in its own row; MLServer max_batch_size/max_batch_time; TorchServe "
        "batchSize/maxBatchDelay)",
        "modelrt: `modelrt serve` over its Predict; MLServer: a runtime of ours "
        "(benchmarks/peers/mlserver_mlp.py) over the Open Inference Protocol's ModelInfer, "
        "parallel_workers 1; TorchServe: a handler of ours (benchmarks/peers/torchserve_mlp.py) "
        "over its gRPC Predictions, one worker, token auth and system metrics off",
        "CPU columns (Every level): CPU time per request of the process started / of every "
        "process below it / of the client; TorchServe is started through its launcher, so its "
        "Java front end and its Python worker both count in the second column",
        "idle RSS: VmRSS of the system's whole process tree after start, before any load "
        "(modelrt: a server of its own with only the batched MLP)",
        "this machine is shared: other work ran during the measurement; compare within one run",
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests: a smoke run")
    parser.add_argument("--out", type=Path, default=HERE / "results-peers.md")
    parser.add_argument("--venvs", type=Path, default=ROOT / ".venv-bench", help="peer venvs")
    parser.add_argument("--plots", type=Path, default=HERE / "plots", help="PNG folder")
    parser.add_argument("--readme", type=Path, default=None, help="rewrite its peers section")
    return parser.parse_args()


def write_outputs(args: argparse.Namespace, peer: PeerReport) -> None:
    """The Markdown report, the plots (in the plot venv) and the README's section."""
    args.out.write_text(peer_report.markdown(peer), encoding="utf-8")
    plotter = args.venvs / "plot" / "bin" / "python"
    args.plots.mkdir(parents=True, exist_ok=True)
    data = args.plots / "peers.json"  # kept: the plots can be redrawn without a new run
    data.write_text(json.dumps(peer_report.plot_data(peer), indent=1) + "\n", encoding="utf-8")
    if plotter.exists():
        command = [str(plotter), str(HERE / "peer_plot.py"), str(data), str(args.plots)]
        subprocess.run(command, check=True, timeout=120)
    else:
        _progress(f"{plotter} is missing (make bench-peers-setup): no plots drawn")
    if args.readme is not None:
        text = args.readme.read_text(encoding="utf-8")
        new = peer_report.replace_between(
            text, peer_report.README_START, peer_report.README_END, peer_report.readme_section(peer)
        )
        if new is None:
            _progress(f"{args.readme} has no bench-peers markers; left unchanged")
        else:
            args.readme.write_text(new, encoding="utf-8")


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args()
    versions = {name: peer_version(args.venvs / name, name) for name in ("mlserver", "torchserve")}
    peer = PeerReport(
        command=shlex.join(sys.orig_argv),
        settings=settings_lines(args),
        targets=targets(versions),
        load=report.Report(command="", settings=[]),
        versions=[
            *(f"{name}: {version or 'not installed'}" for name, version in versions.items()),
            f"java: {java_version() or 'not installed'}",
        ],
    )
    try:
        with tempfile.TemporaryDirectory(prefix="modelrt-peers-") as tmp:
            benchmark(args, peer, Path(tmp))
    except KeyboardInterrupt:
        print("interrupted: every server was stopped, no report written", file=sys.stderr)
        return 130
    write_outputs(args, peer)
    print("\n".join(peer_report.summary_table(peer)))
    print("\n".join(peer_report.skipped_lines(peer)))
    print(f"written to {args.out} and {args.plots}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
