"""Draws the --frontends scaling plot; runs in a Python with matplotlib, never the project's.

``python frontends_plot.py DATA.json OUT_DIR`` reads what frontends.py wrote (plots/frontends.json)
and writes frontends-scaling.png: identity req/s by front-end count, p50 and p99 beside it.
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt


def draw(data: dict, out: Path) -> None:
    rows = data["rows"]
    counts = [row["frontends"] for row in rows]
    figure, (rps_axes, latency_axes) = plt.subplots(1, 2, figsize=(9, 3.8), dpi=110)
    note = f"{data['cores']} cores, c={data['concurrency']} over {data['channels']} connections"
    rps_axes.bar([str(c) for c in counts], [row["rps"] for row in rows], color="C0")
    rps_axes.set_xlabel("--frontends")
    rps_axes.set_ylabel("identity req/s (higher is better)")
    rps_axes.set_title(note, fontsize=9)
    rps_axes.grid(True, axis="y", alpha=0.3)
    latency_axes.plot(counts, [row["p50_ms"] for row in rows], marker="o", label="p50")
    latency_axes.plot(counts, [row["p99_ms"] for row in rows], marker="x", label="p99")
    latency_axes.set_xticks(counts, [str(c) for c in counts])
    latency_axes.set_xlabel("--frontends")
    latency_axes.set_ylabel("latency, ms")
    latency_axes.set_ylim(bottom=0)
    latency_axes.legend(fontsize=8)
    latency_axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "frontends-scaling.png")


if __name__ == "__main__":
    out_dir = Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    draw(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")), out_dir)
