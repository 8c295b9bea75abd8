"""The GPU benchmark's report: one Markdown table (in-process and served rows) and the JSON.

Both are rewritten after every measured step, so a run stopped half-way still leaves a report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = ["mode", "batch / c", "requests", "req/s", "p50 ms", "p99 ms", "GPU util %", "GPU MiB"]


@dataclass
class GpuReport:
    """What the run measured and where; ``errors`` holds every step that failed."""

    facts: dict[str, Any] = field(default_factory=dict)
    inprocess: list[dict[str, Any]] = field(default_factory=list)
    served: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def best_inprocess(self) -> dict[str, Any] | None:
        return max(self.inprocess, key=lambda r: r["rps"], default=None)

    def best_served(self, instances: int) -> dict[str, Any] | None:
        rows = [r for r in self.served if r["instances"] == instances and r["requests"]]
        return max(rows, key=lambda r: r["rps"], default=None)

    def ratios(self) -> dict[str, float | None]:
        """Best served req/s (per instance count) over in-process req/s at its best batch size.

        >>> r = GpuReport(inprocess=[{"rps": 200.0}])
        >>> r.served = [{"instances": 1, "requests": 5, "rps": 100.0}]
        >>> r.ratios()
        {'served_1_over_inprocess': 0.5}
        """
        base = self.best_inprocess()
        out: dict[str, float | None] = {}
        for instances in sorted({r["instances"] for r in self.served}):
            best = self.best_served(instances)
            ok = base is not None and best is not None and base["rps"]
            out[f"served_{instances}_over_inprocess"] = best["rps"] / base["rps"] if ok else None
        return out


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _rows(report: GpuReport) -> list[list[str]]:
    rows = [
        [
            "in-process",
            f"batch {r['batch']}",
            str(r["calls"] * r["batch"]),
            _num(r["rps"], 0),
            _num(r["p50_ms"], 2),
            _num(r["p99_ms"], 2),
            _num(r["gpu_util_mean"], 0),
            _num(r["gpu_mem_max_mib"], 0),
        ]
        for r in report.inprocess
    ]
    for r in report.served:
        errors = f" ({r['errors']} errors: {r['first_error'][:80]})" if r["errors"] else ""
        rows.append(
            [
                f"served, {r['instances']} instance{'s' if r['instances'] > 1 else ''}",
                f"c={r['concurrency']} ({r['processes']} procs)",
                f"{r['requests']}{errors}",
                _num(r["rps"], 0),
                _num(r["p50_ms"], 2),
                _num(r["p99_ms"], 2),
                _num(r["gpu_util_mean"], 0),
                _num(r["gpu_mem_max_mib"], 0),
            ]
        )
    return rows


def markdown(report: GpuReport) -> str:
    """The report as Markdown: facts, the table, the ratios, notes and errors."""
    lines = ["# modelrt GPU benchmark", ""]
    lines += [f"- {key}: {value}" for key, value in report.facts.items()]
    lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(report)]
    lines.append("")
    base = report.best_inprocess()
    for key, ratio in report.ratios().items():
        where = f"batch {base['batch']}" if base else "n/a"
        lines.append(f"- {key.replace('_', ' ')} (in-process at {where}): {_num(ratio, 3)}")
    lines += [f"- note: {note}" for note in report.notes]
    lines += [f"- ERROR: {error}" for error in report.errors]
    return "\n".join(lines) + "\n"


def write(report: GpuReport, out: Path) -> None:
    """Write gpu-bench.md and gpu-bench.json into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu-bench.md").write_text(markdown(report), encoding="utf-8")
    data = {
        "facts": report.facts,
        "inprocess": report.inprocess,
        "served": report.served,
        "ratios": report.ratios(),
        "notes": report.notes,
        "errors": report.errors,
    }
    (out / "gpu-bench.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
