"""Draws the comparison's plots; runs in the plot venv (matplotlib), never the project's.

``python peer_plot.py DATA.json OUT_DIR`` reads what peer_report.plot_data wrote (peers.py keeps
it as plots/peers.json, so the plots can be redrawn) and writes peers-rps.png (req/s by
concurrency) and peers-latency.png (p50 and p99 by concurrency).
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

REFERENCE = {"color": "grey", "linestyle": ":", "marker": "."}


def _color(index: int) -> str:
    return f"C{index % 10}"  # matplotlib's default cycle


def _axes(title: str, ylabel: str, levels: list[int]):
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    axes.set_xscale("log", base=2)
    axes.set_xticks(levels, [str(c) for c in levels])
    axes.set_xlabel("concurrent calls (c)")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    return figure, axes


def draw(data: dict, out: Path) -> None:
    """The two PNGs, one line (or pair of lines) per system."""
    levels, note = data["levels"], data.get("note", "")
    figure, axes = _axes(f"MLP 256-1024-1024-10: req/s (higher is better) {note}", "req/s", levels)
    for index, system in enumerate(data["systems"]):
        style = REFERENCE if system.get("reference") else {"marker": "o", "color": _color(index)}
        axes.plot(levels, system["rps"], label=system["label"], **style)
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "peers-rps.png")
    figure, axes = _axes(f"latency, p50 (solid) and p99 (dashed) {note}", "ms (log)", levels)
    axes.set_yscale("log")
    for index, system in enumerate(data["systems"]):
        if system.get("reference"):
            continue  # the echo answers no model: its latency is not comparable
        color = _color(index)  # the same color per system in both plots
        axes.plot(levels, system["p50_ms"], marker="o", color=color, label=system["label"])
        axes.plot(levels, system["p99_ms"], marker="x", linestyle="--", color=color)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "peers-latency.png")


if __name__ == "__main__":
    out_dir = Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    draw(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")), out_dir)
