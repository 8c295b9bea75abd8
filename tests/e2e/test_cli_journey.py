"""A new user's whole path with the CLI alone, against a real `modelrt serve` process:
init -> build the tiny model -> run-local -> upload -> predict -> models -> delete.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve_process import start_serve, stop

pytestmark = pytest.mark.timeout(240)
BIN = Path(sys.executable).parent
MODELRT = BIN / "modelrt"


def _run(*args: str, cwd: Path, address: str = "") -> subprocess.CompletedProcess[str]:
    command = [str(MODELRT), *(["--address", address] if address else []), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=180)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    store = tmp_path / "store"
    store.mkdir()  # as the README's tour does: serve refuses a store folder that does not exist
    process, address = start_serve(store, tmp_path)
    try:
        yield address
    finally:
        stop(process)


def test_init_run_local_upload_predict_delete(server: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()

    made = _run("init", "flowers", "--type", "classification", "--framework", "onnx", cwd=work)
    assert made.returncode == 0, made.stderr
    bundle = work / "flowers"
    built = subprocess.run(
        [sys.executable, "build_model.py"], cwd=bundle, capture_output=True, text=True, timeout=120
    )
    assert built.returncode == 0, built.stderr

    checked = _run("run-local", str(bundle), cwd=work)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "FAIL" not in checked.stdout

    uploaded = _run("upload", str(bundle), "--description", "first", cwd=work, address=server)
    assert uploaded.returncode == 0, uploaded.stderr
    name, version, state = uploaded.stdout.split()[:3]
    assert (version, state) == ("1", "READY")
    # Progress went to stderr, phase by phase, as plain lines (not a terminal here).
    phases = [line.split(":")[0] for line in uploaded.stderr.splitlines() if "done in" in line]
    assert phases == ["pack", "send", "check", "load"]

    red = json.dumps([[[255, 0, 0]] * 8] * 8)
    predicted = _run(
        "--json", "predict", name, "-i", f"image:uint8={red}", cwd=work, address=server
    )
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)["structured"]["label"] in ("red", "green", "blue")

    listed = _run("--json", "models", cwd=work, address=server)
    assert [m["name"] for m in json.loads(listed.stdout)] == [name]

    refused = _run("delete", name, cwd=work, address=server)  # no --yes, no terminal: not deleted
    assert refused.returncode != 0
    deleted = _run("delete", name, "--yes", cwd=work, address=server)
    assert deleted.returncode == 0, deleted.stderr
    gone = _run("--json", "models", cwd=work, address=server)
    assert json.loads(gone.stdout) == []
    assert _run("predict", name, "-i", "x=1", cwd=work, address=server).returncode == 1
