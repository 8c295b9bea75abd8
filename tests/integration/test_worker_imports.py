"""A worker of `modelrt serve` imports what it runs, not the command line that started the server,
and keeps what loading built out of the garbage collector's full passes.

spawn re-runs the parent's main module in each child unless told otherwise; for `modelrt serve`
that module is the console script, and re-running it would import the CLI and the client (click,
rich, grpc) into every worker (runtime/instances/worker_process.py). Once loaded, a worker
freezes its objects (runtime/instances/worker_main.py).

The server process itself never imports numpy: it passes serialized requests to the worker and
serialized answers back, so tensors are decoded only where the model runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clients import Client
from tests.bundle_factory import write_bundle
from tests.serve_process import start_serve, stop

pytestmark = pytest.mark.timeout(120)

REPORTER = """
    import gc
    import sys

    from registry import ModelRunner, register


    @register("modules")
    class Modules(ModelRunner):
        def predict(self, request):
            wanted = ("click", "rich", "clients", "grpc")
            loaded = " ".join(name for name in wanted if name in sys.modules)
            return {"loaded": loaded, "frozen": gc.get_freeze_count()}
"""


def test_a_serve_worker_skips_the_cli_and_freezes_what_it_loaded(tmp_path: Path) -> None:
    write_bundle(tmp_path / "store", "modules", REPORTER)
    process, address = start_serve(tmp_path / "store", tmp_path, "--http-port", "0")
    try:
        with Client(address, timeout=30) as client:
            report = client.predict("modules", {}).structured
    finally:
        stop(process)
    assert report["loaded"] == ""
    assert report["frozen"] > 10_000  # the modules and the model, at least


def _maps_numpy(pid: int) -> bool:
    """Whether process ``pid`` has numpy's compiled core mapped, i.e. has imported numpy."""
    return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps")
def test_the_serve_process_passes_tensors_on_without_importing_numpy(tmp_path: Path) -> None:
    write_bundle(tmp_path / "store", "modules", REPORTER)
    process, address = start_serve(tmp_path / "store", tmp_path, "--http-port", "0")
    try:
        idle = _maps_numpy(process.pid)
        with Client(address, timeout=30) as client:
            report = client.predict("modules", {"x": np.zeros((2, 3), dtype=np.float32)})
        after_a_call = _maps_numpy(process.pid)
    finally:
        stop(process)
    assert report.structured["loaded"] == ""
    assert not idle
    assert not after_a_call
