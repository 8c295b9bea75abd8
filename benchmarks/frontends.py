"""Scaling of `modelrt serve --frontends N`: identity Predict req/s and latency through the shared
port, for each N, on whatever cores this machine has.

Run ``.venv/bin/python benchmarks/frontends.py [--frontends 1,2] [--plotter PYTHON]``. It starts
one server per N side by side (the idle ones cost nothing), then measures them in interleaved
rounds with load.py spreading its calls over many connections (the kernel spreads connections,
not calls, over the front ends), and reports the median round per N. It writes
plots/frontends.json and, with a Python that has matplotlib (``--plotter``, e.g. the plot venv
of ``make bench-peers-setup``), plots/frontends-scaling.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import servers
from bundles import StoreLayout, write_store
from run import run_load

HERE = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frontends", default="1,2", help="front-end counts, comma-separated")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--channels", type=int, default=16, help="connections the load uses")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--plots", type=Path, default=HERE / "plots")
    parser.add_argument("--plotter", type=Path, default=None, help="a Python with matplotlib")
    return parser.parse_args()


def measure(server: servers.Server, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement of identity Predict at ``args.concurrency`` over ``args.channels``."""
    arguments = ["unary", "--target", "predict", "--model", "identity",
                 "--address", server.address, "--concurrency", str(args.concurrency),
                 "--channels", str(args.channels), "--requests", "1000000",
                 "--warmup", "500", "--seconds", str(args.seconds)]  # fmt: skip
    result = run_load(arguments, timeout=2 * args.seconds + 60)
    servers.check_alive(server)
    return result


def benchmark(args: argparse.Namespace, counts: list[int], workdir: Path) -> list[dict[str, Any]]:
    store = workdir / "store"
    write_store(store, StoreLayout(batch_delay_ms=0.0, names=("identity",)))
    rounds: dict[int, list[dict[str, Any]]] = {count: [] for count in counts}
    with ExitStack() as stack:
        started = {}
        for count in counts:
            folder = workdir / f"n{count}"
            folder.mkdir()
            flags = ["--frontends", str(count), "--http-port", "0"]
            started[count] = stack.enter_context(
                servers.running(servers.start_modelrt(store, folder, flags))
            )
        for index in range(args.rounds):
            for count in counts:
                result = measure(started[count], args)
                rounds[count].append(result)
                print(
                    f"  [{index + 1}] frontends={count:<3} {result['rps']:8.0f} req/s  "
                    f"p50 {result['p50_ms']:7.3f} ms  p99 {result['p99_ms']:7.3f} ms  "
                    f"errors {result['errors']}",
                    file=sys.stderr,
                    flush=True,
                )
    rows = []
    for count in counts:
        median = statistics.median_low(r["rps"] for r in rounds[count])
        chosen = next(r for r in rounds[count] if r["rps"] == median)
        rows.append({"frontends": count, **chosen, "all_rps": [r["rps"] for r in rounds[count]]})
    return rows


def main() -> int:
    args = parse_args()
    counts = [int(part) for part in args.frontends.split(",")]
    with tempfile.TemporaryDirectory(prefix="modelrt-frontends-bench-") as folder:
        rows = benchmark(args, counts, Path(folder))
    data = {
        "command": shlex.join(sys.orig_argv),
        "cores": len(os.sched_getaffinity(0)),
        "concurrency": args.concurrency,
        "channels": args.channels,
        "rows": rows,
    }
    args.plots.mkdir(parents=True, exist_ok=True)
    out = args.plots / "frontends.json"
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print("| frontends | req/s | p50 ms | p99 ms | every round's req/s |")
    print("|---|---|---|---|---|")
    for row in rows:
        every = ", ".join(f"{rps:.0f}" for rps in row["all_rps"])
        print(
            f"| {row['frontends']} | {row['rps']:.0f} | {row['p50_ms']:.2f} | "
            f"{row['p99_ms']:.2f} | {every} |"
        )
    if args.plotter is not None:
        command = [str(args.plotter), str(HERE / "frontends_plot.py"), str(out), str(args.plots)]
        subprocess.run(command, check=True, timeout=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
