"""The peers venv (``make peers``): peer clients whose pins our venv cannot share, run as scripts.

tritonclient needs protobuf<7, so its clients run in ``.venv-peers`` as subprocesses; a test
that needs them skips, saying why, when that venv or a package in it is missing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


def peers_python(*modules: str) -> Path:
    """The peers venv's python, importing ``modules``; skips the test when it cannot."""
    if not PEERS_PYTHON.exists():
        pytest.skip(f"no peers venv at {PEERS_PYTHON.parent.parent}: run `make peers`")
    probe = "; ".join(f"import {module}" for module in modules) or "pass"
    result = subprocess.run(
        [str(PEERS_PYTHON), "-c", probe], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"
        pytest.skip(f"the peers venv cannot import {', '.join(modules)}: {reason}")
    return PEERS_PYTHON


def run_peer(script: str, *args: str, modules: tuple[str, ...], timeout: float = 120) -> str:
    """Run ``script`` with the peers' python; its stdout, or the test fails with its stderr."""
    python = peers_python(*modules)
    result = subprocess.run(
        [str(python), "-c", script, *args], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"peer script failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout
