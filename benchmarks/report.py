"""Turns measurements into the results table, the target checks and the Markdown report.

Every unary level is measured in several rounds; the table shows the round with the median
req/s (and every round's req/s), and the targets use the median of per-round comparisons.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from mlp_cost import MlpCompute
from procfs import ProcessMemory

MIB = 1024.0


@dataclass(frozen=True)
class LoadRow:
    """One target at one concurrency level; CPU is per request sent (warm-up included)."""

    target: str
    concurrency: int
    requests: int
    errors: int
    first_error: str
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float
    worker_cpu_us: float
    client_cpu_us: float
    round: int = 0


@dataclass(frozen=True)
class GenerateRow:
    """One Generate stream."""

    model: str
    items: int
    items_per_s: float
    first_item_ms: float
    error: str
    server_cpu_us: float
    worker_cpu_us: float


@dataclass(frozen=True)
class Check:
    """One target: the measured value against its threshold."""

    name: str
    value: float
    unit: str
    target: str
    passed: bool


@dataclass
class Report:
    """Everything the run measured, plus how and where it ran."""

    command: str
    settings: list[str]
    rows: list[LoadRow] = field(default_factory=list)
    generate: GenerateRow | None = None
    memory: list[ProcessMemory] = field(default_factory=list)
    mlp: MlpCompute | None = None

    def runs(self, target: str, concurrency: int) -> list[LoadRow]:
        """Every round's row for ``target`` at ``concurrency``, in round order."""
        return [r for r in self.rows if r.target == target and r.concurrency == concurrency]

    def row(self, target: str, concurrency: int, round: int | None = None) -> LoadRow | None:
        """The row of one round, or (round None) the round with the median req/s."""
        runs = self.runs(target, concurrency)
        if round is not None:
            return next((r for r in runs if r.round == round), None)
        if not runs:
            return None
        return sorted(runs, key=lambda r: r.rps)[(len(runs) - 1) // 2]

    @property
    def rounds(self) -> list[int]:
        return sorted({r.round for r in self.rows})

    def idle_rss_mib(self) -> float:
        return sum(p.rss_kib for p in self.memory) / MIB


def _ratio(a: LoadRow | None, b: LoadRow | None) -> float:
    if a is None or b is None or not b.rps:
        return math.nan
    return a.rps / b.rps


def _added_ms(a: LoadRow | None, b: LoadRow | None) -> float:
    return a.p50_ms - b.p50_ms if a is not None and b is not None else math.nan


def _median_over_rounds(report: Report, value: Callable[[int], float]) -> float:
    """The median over the rounds of a value computed from rows measured in the same round."""
    values = [value(r) for r in report.rounds]
    return statistics.median(values) if values else math.nan


def checks(report: Report) -> list[Check]:
    """The four targets of the brief, each PASS or MISS (a value that is NaN is a MISS).

    Each ratio or difference pairs rows of one round (measured a few seconds apart), and the
    median over the rounds is what is checked.
    """
    share = 100 * _median_over_rounds(
        report, lambda r: _ratio(report.row("identity", 64, r), report.row("echo", 64, r))
    )
    added = _median_over_rounds(
        report, lambda r: _added_ms(report.row("identity", 1, r), report.row("echo", 1, r))
    )
    speedup = _median_over_rounds(
        report,
        lambda r: _ratio(report.row("mlp-batched", 64, r), report.row("mlp-unbatched", 64, r)),
    )
    rss = report.idle_rss_mib() if report.memory else math.nan
    return [
        Check("identity req/s at c=64, % of echo", share, "%", ">= 60", share >= 60),
        Check("identity p50 - echo p50 at c=1", added, "ms", "<= 0.5", added <= 0.5),
        Check("mlp-batched / mlp-unbatched req/s, c=64", speedup, "x", ">= 2", speedup >= 2),
        Check("idle RSS, server + workers, 1 model", rss, "MiB", "< 250", rss < 250),
    ]


def machine() -> list[str]:
    """nproc, CPU model, Python and the versions that matter for the numbers."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("grpcio", "protobuf", "onnxruntime")
    )
    return [
        f"nproc: {os.cpu_count()}",
        f"CPU: {cpu}",
        f"Python: {platform.python_version()} ({platform.platform()})",
        f"Packages: {versions}",
    ]


def _num(value: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def load_table(report: Report) -> list[str]:
    header = [
        "target",
        "c",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "server CPU us/req",
        "worker CPU us/req",
        "client CPU us/req",
        "errors",
        "req/s by round",
    ]
    medians = [
        row
        for key in dict.fromkeys((r.target, r.concurrency) for r in report.rows)
        if (row := report.row(*key)) is not None
    ]
    rows = [
        [
            r.target,
            str(r.concurrency),
            str(r.requests),
            _num(r.rps, 0),
            _num(r.p50_ms, 3),
            _num(r.p99_ms, 3),
            _num(r.server_cpu_us, 0),
            _num(r.worker_cpu_us, 0),
            _num(r.client_cpu_us, 0),
            f"{r.errors} {r.first_error}".strip(),
            " / ".join(_num(run.rps, 0) for run in report.runs(r.target, r.concurrency)),
        ]
        for r in medians
    ]
    return table(header, rows)


def generate_table(row: GenerateRow) -> list[str]:
    header = [
        "model",
        "items",
        "items/s",
        "first item ms",
        "server CPU us/item",
        "worker CPU us/item",
        "error",
    ]
    cells = [
        row.model,
        str(row.items),
        _num(row.items_per_s, 0),
        _num(row.first_item_ms, 1),
        _num(row.server_cpu_us, 0),
        _num(row.worker_cpu_us, 0),
        row.error or "-",
    ]
    return table(header, [cells])


def memory_table(report: Report) -> list[str]:
    rows = [
        [str(p.pid), p.label, _num(p.rss_kib / MIB, 1), _num(p.pss_kib / MIB, 1)]
        for p in report.memory
    ]
    rss = report.idle_rss_mib()
    pss = sum(p.pss_kib for p in report.memory) / MIB
    rows.append(["", "**total**", f"**{_num(rss, 1)}**", f"**{_num(pss, 1)}**"])
    return table(["pid", "process", "VmRSS MiB", "Pss MiB"], rows)


def checks_table(report: Report) -> list[str]:
    rows = [
        [
            c.name,
            f"{_num(c.value)} {c.unit}",
            f"{c.target} {c.unit}",
            "PASS" if c.passed else "**MISS**",
        ]
        for c in checks(report)
    ]
    return table(["target", "measured", "goal", "result"], rows)


def echo_floor_us(report: Report) -> float:
    """CPU one bare gRPC call costs server and client together, at c=64."""
    echo = report.row("echo", 64)
    return echo.server_cpu_us + echo.client_cpu_us if echo else math.nan


def floor_lines(report: Report) -> list[str]:
    """How much of the echo ceiling crossing to a worker process alone leaves."""
    share = 100 * _median_over_rounds(
        report, lambda r: _ratio(report.row("floor", 64, r), report.row("echo", 64, r))
    )
    added = _median_over_rounds(
        report, lambda r: _added_ms(report.row("floor", 1, r), report.row("echo", 1, r))
    )
    if math.isnan(share):
        return []
    return [
        "Process-boundary floor on this machine: a bare grpc.aio server that only parses the "
        "request and hands the tensor to a worker process and back (benchmarks/pipe_server.py)"
        f" reaches **{_num(share, 1)} %** of echo at c=64 and adds {_num(added)} ms at c=1.",
    ]


def mlp_cost_lines(report: Report) -> list[str]:
    """What the MLP alone costs per row (benchmarks/mlp_cost.py), next to the ratio target."""
    if report.mlp is None:
        return []
    mlp = report.mlp
    lines = [
        f"The MLP alone (onnxruntime, one thread) costs {_num(mlp.single_us, 0)} us of CPU per"
        f" row run by itself and {_num(mlp.batched_us, 1)} us per row in batches of {mlp.batch};"
        f" a bare gRPC call costs {_num(echo_floor_us(report), 0)} us (echo server + client,"
        " c=64).",
    ]
    unbatched, batched = report.row("mlp-unbatched", 64), report.row("mlp-batched", 64)
    if unbatched is None or batched is None:
        return lines

    def split(row: LoadRow) -> str:
        return (
            f"{_num(row.server_cpu_us, 0)} / {_num(row.worker_cpu_us, 0)} /"
            f" {_num(row.client_cpu_us, 0)} us"
        )

    lines[0] += (
        " At c=64 batching cut every process's CPU per request, not only the worker's:"
        f" server / worker / client {split(batched)} batched against {split(unbatched)}"
        " unbatched. A full batch is one trip to the worker, one pipe write and one read for all"
        " its requests, and its answers leave together, so the server's gRPC and the client"
        " handle them in fewer wake-ups."
    )
    return lines


README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


def readme_section(report: Report) -> str:
    """The tables the README shows, between its bench markers."""
    now = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        README_START,
        f"Measured {now} on {', '.join(machine()[:2])} with `{report.command}`; client and "
        "server share the machine. Full report: [benchmarks/results.md](benchmarks/results.md).",
        "",
        *checks_table(report),
        "",
        *floor_lines(report),
        "",
        *mlp_cost_lines(report),
        "",
        *load_table(report),
        "",
    ]
    if report.generate is not None:
        lines += [*generate_table(report.generate), ""]
    lines.append(README_END)
    return "\n".join(lines)


def update_readme(path: Path, report: Report) -> bool:
    """Replace the README's bench section; False when it has no markers."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    path.write_text(
        text[:start] + readme_section(report) + text[end + len(README_END) :], encoding="utf-8"
    )
    return True


def markdown(report: Report) -> str:
    """The whole report as Markdown (also what the console shows)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# modelrt benchmark results",
        "",
        f"Date: {now}  ",
        *(f"{line}  " for line in machine()),
        f"Command: `{report.command}`",
        "",
        "Settings:",
        "",
        *(f"- {line}" for line in report.settings),
        "",
        "## Targets",
        "",
        *checks_table(report),
        "",
        *floor_lines(report),
        "",
        *mlp_cost_lines(report),
        "",
        "## Unary load (Predict, and the bare gRPC echo ceiling)",
        "",
        *load_table(report),
        "",
    ]
    if report.generate is not None:
        lines += ["## Generate (one stream)", "", *generate_table(report.generate), ""]
    if report.memory:
        lines += ["## Idle memory (separate run, one model: identity)", "", *memory_table(report)]
        lines.append("")
    return "\n".join(lines)
