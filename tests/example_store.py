"""A copy of examples/ with its weights built by examples/build.py, as `make serve` prepares it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: What examples/build.py writes (and .gitignore leaves out).
WEIGHTS = ("*.onnx", "*.pt", "*.keras", "*.joblib")


def build_example_store(store: Path) -> Path:
    """Copy examples/ (without built weights) to ``store``, build the weights there, return it."""
    shutil.copytree(EXAMPLES, store, ignore=shutil.ignore_patterns(*WEIGHTS, "__pycache__"))
    built = subprocess.run(
        [sys.executable, str(store / "build.py")], capture_output=True, text=True, timeout=180
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return store
