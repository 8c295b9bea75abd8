"""Shapes the comparison's measurements: the summary table, the plot data and the Markdown.

Pure logic over report.LoadRow rows (one per target, level and round) and idle memory per
system; the median round of each level is what the table and the plots show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import report
from procfs import ProcessMemory

README_START = "<!-- bench-peers:start -->"
README_END = "<!-- bench-peers:end -->"
PLOTS = ("benchmarks/plots/peers-rps.png", "benchmarks/plots/peers-latency.png")


@dataclass(frozen=True)
class Target:
    """One row of the comparison: a label, the system it runs on (for memory), how to load it."""

    label: str
    system: str
    kind: str  # load.py's --target: echo, predict, oip or torchserve
    model: str


@dataclass
class PeerReport:
    """What the comparison measured, and which systems it could not run and why."""

    command: str
    settings: list[str]
    targets: list[Target]
    load: report.Report
    memory: dict[str, list[ProcessMemory]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)

    def measured(self) -> list[Target]:
        """Targets with at least one row, in the order they were declared."""
        return [t for t in self.targets if any(r.target == t.label for r in self.load.rows)]

    def levels(self) -> list[int]:
        return sorted({r.concurrency for r in self.load.rows})

    def idle_rss_mib(self, system: str) -> float:
        processes = self.memory.get(system)
        if not processes:
            return math.nan
        return sum(p.rss_kib for p in processes) / report.MIB


def plot_data(peer: PeerReport) -> dict[str, Any]:
    """What peer_plot.py draws: per target, req/s, p50 and p99 (ms) at every level.

    The echo server is marked as a reference (a ceiling, not a system that runs the model).
    A level a target has no row for is NaN, so every series has one value per level.
    """
    levels = peer.levels()
    systems = []
    for target in peer.measured():
        rows = [peer.load.row(target.label, c) for c in levels]
        systems.append(
            {
                "label": target.label,
                "reference": target.system == "echo",
                "rps": [r.rps if r else math.nan for r in rows],
                "p50_ms": [r.p50_ms if r else math.nan for r in rows],
                "p99_ms": [r.p99_ms if r else math.nan for r in rows],
            }
        )
    return {"levels": levels, "systems": systems}


def _cell(row: report.LoadRow | None) -> str:
    if row is None:
        return "-"
    errors = f", {row.errors} errors" if row.errors else ""
    return f"{row.rps:,.0f} ({row.p50_ms:.2f} / {row.p99_ms:.2f} ms{errors})"


def summary_table(peer: PeerReport) -> list[str]:
    """One line per target: req/s (p50 / p99) at each level, and the system's idle RSS."""
    levels = peer.levels()
    header = ["system", *(f"c={c} req/s (p50 / p99)" for c in levels), "idle RSS MiB"]
    rows = []
    for target in peer.measured():
        rss = peer.idle_rss_mib(target.system)
        cells = [_cell(peer.load.row(target.label, c)) for c in levels]
        rows.append([target.label, *cells, "-" if math.isnan(rss) else f"{rss:.0f}"])
    return report.table(header, rows)


def memory_lines(peer: PeerReport) -> list[str]:
    """Each system's processes at idle, one line per system."""
    lines = []
    for system, processes in peer.memory.items():
        parts = ", ".join(f"{p.label} {p.rss_kib / report.MIB:.0f}" for p in processes)
        lines.append(f"- {system}: {peer.idle_rss_mib(system):.0f} MiB VmRSS ({parts})")
    return lines


def skipped_lines(peer: PeerReport) -> list[str]:
    return [f"- **{name} not measured**: {reason}" for name, reason in peer.skipped.items()]


def readme_section(peer: PeerReport) -> str:
    """The README's comparison: how it was measured, the table and the two plots."""
    now = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        README_START,
        f"Measured {now} on {', '.join(report.machine()[:2])} with `{peer.command}`; every "
        "system on the same machine as the client, one after the other at each level. Full "
        "report: [benchmarks/results-peers.md](benchmarks/results-peers.md).",
        "",
        *summary_table(peer),
        "",
        *skipped_lines(peer),
        "",
        *(f"![{name}]({path})" for name, path in zip(("req/s", "latency"), PLOTS, strict=True)),
        "",
        README_END,
    ]
    return "\n".join(lines)


def replace_between(text: str, start: str, end: str, section: str) -> str | None:
    """``text`` with everything from ``start`` to ``end`` (markers included) replaced.

    >>> replace_between("a <s> old <e> b", "<s>", "<e>", "<s> new <e>")
    'a <s> new <e> b'
    """
    first, last = text.find(start), text.find(end)
    if first < 0 or last < first:
        return None
    return text[:first] + section + text[last + len(end) :]


def markdown(peer: PeerReport) -> str:
    """The whole comparison report (benchmarks/results-peers.md)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# modelrt beside MLServer and TorchServe",
        "",
        f"Date: {now}  ",
        *(f"{line}  " for line in report.machine()),
        *(f"{line}  " for line in peer.versions),
        f"Command: `{peer.command}`",
        "",
        "Settings:",
        "",
        *(f"- {line}" for line in peer.settings),
        "",
        "## Summary (median round)",
        "",
        *summary_table(peer),
        "",
        *skipped_lines(peer),
        "",
        *(f"![plot]({path.removeprefix('benchmarks/')})" for path in PLOTS),
        "",
        "## Every level",
        "",
        *report.load_table(peer.load),
        "",
        "## Idle memory (before any load)",
        "",
        *memory_lines(peer),
        "",
    ]
    return "\n".join(lines)
