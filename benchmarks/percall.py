"""CPU time per call: identity Predict against the echo ceiling at one concurrency, and idle RSS.

Wall-clock throughput means little on a loaded machine; the CPU time a server spends per call
depends much less on who else runs. This drives a fixed number of calls at c=64 (by default)
against the echo server and against ``modelrt serve`` holding only ``identity``, in interleaved
rounds, and prints per round and as medians: server CPU µs/call (the server process), worker CPU
µs/call (every process below it) and the echo's server CPU over the server's. Before any load it
reads the idle VmRSS of the server and its worker.

``--floor`` adds the process-boundary floor (pipe_server.py: a bare grpc.aio server that hands
each request to a worker process over two pipes and back), to tell the cost of the hop itself
from modelrt's own. ``--baseline DIR`` also starts a second ``modelrt serve`` that imports the
checkout in DIR (say, ``git archive HEAD | tar -x -C DIR``) and measures it in the same rounds:
a before/after pair taken seconds apart, under the same load from the rest of the machine.

Run ``.venv/bin/python benchmarks/percall.py [--rounds 5] [--requests 4000] [--baseline DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import procfs
import servers
from bundles import StoreLayout, write_store
from run import SETTLE_S, _cpu_split, run_load


def measure(server: servers.Server, target: str, args: argparse.Namespace) -> tuple[float, float]:
    """(server, worker) CPU µs per call for ``args.requests`` calls at ``args.concurrency``."""
    kind = ["--target", "echo"] if target == "echo" else ["--target", "predict"]
    arguments = ["unary", *kind, "--model", "identity", "--address", server.address,
                 "--concurrency", str(args.concurrency), "--requests", str(args.requests),
                 "--warmup", str(args.warmup), "--seconds", "600"]  # fmt: skip
    before = procfs.tree_cpu(server.pid)
    result = run_load(arguments, timeout=900)
    own, below = _cpu_split(server.pid, before)
    servers.check_alive(server)
    if result["errors"]:
        raise SystemExit(f"{target}: {result['errors']} errors, first {result['first_error']}")
    sent = max(1, result["sent_with_warmup"])
    return 1e6 * own / sent, 1e6 * below / sent


def idle_memory(name: str, server: servers.Server) -> None:
    memory = procfs.tree_memory(server.pid)
    for process in memory:
        print(f"{name:8} idle {process.label:36} VmRSS {process.rss_kib / 1024:6.1f} MiB "
              f"Pss {process.pss_kib / 1024:6.1f} MiB")  # fmt: skip
    print(f"{name:8} idle total VmRSS {sum(p.rss_kib for p in memory) / 1024:.1f} MiB")


def start(workdir: Path, name: str, args: argparse.Namespace, code: Path | None) -> servers.Server:
    """``modelrt serve`` holding ``identity``, importing ``code`` first when given."""
    store = workdir / f"store-{name}"
    write_store(store, StoreLayout(0.0, ("identity",)))
    env = None
    if code is not None:
        env = {**os.environ, "PYTHONPATH": str(code.resolve())}
    return servers.start_modelrt(
        store, workdir, ["--execution", args.execution, "--http-port", "0"], env=env
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--execution", choices=("process", "inprocess"), default="process")
    parser.add_argument("--baseline", type=Path, default=None, help="a checkout to compare")
    parser.add_argument("--floor", action="store_true", help="measure pipe_server.py too")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    names = ["echo", *(["floor"] if args.floor else []), "modelrt"]
    names += ["baseline"] if args.baseline else []
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelrt-percall-")))
        started = {"echo": stack.enter_context(servers.running(servers.start_echo(workdir)))}
        if args.floor:
            started["floor"] = stack.enter_context(servers.running(servers.start_floor(workdir)))
        for name in ("modelrt", "baseline"):
            if name in names:
                code = args.baseline if name == "baseline" else None
                server = start(workdir, name, args, code)
                started[name] = stack.enter_context(servers.running(server))
        time.sleep(SETTLE_S)
        for name in ("modelrt", "baseline"):
            if name in names:
                idle_memory(name, started[name])
        for round in range(args.rounds):
            # The echo first, the others in turn reversed every other round: no server always
            # runs right after a given one.
            order = names if round % 2 == 0 else [names[0], *reversed(names[1:])]
            for name in order:
                own, below = measure(started[name], "echo" if name == "echo" else "predict", args)
                rows[name].append((own, below))
                print(f"[{round + 1}] {name:8} server {own:6.0f} µs/call  "
                      f"worker {below:6.0f} µs/call", flush=True)  # fmt: skip
    echo_us = statistics.median(own for own, _ in rows["echo"])
    print(f"median c={args.concurrency}: echo server {echo_us:.0f} µs/call")
    for name in names[1:]:
        server_us = statistics.median(own for own, _ in rows[name])
        worker_us = statistics.median(below for _, below in rows[name])
        ratios = [e / own for (e, _), (own, _) in zip(rows["echo"], rows[name], strict=True)]
        print(f"median c={args.concurrency}: {name} server {server_us:.0f} + worker "
              f"{worker_us:.0f} µs/call; echo/server per round, median "
              f"{statistics.median(ratios):.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
