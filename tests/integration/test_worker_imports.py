"""A worker of `modelrt serve` imports what it runs, not the command line that started the server,
and keeps what loading built out of the garbage collector's full passes.

spawn re-runs the parent's main module in each child unless told otherwise; for `modelrt serve`
that module is the console script, and re-running it would import the CLI and the client (click,
rich, grpc) into every worker (runtime/instances/worker_process.py). Once loaded, a worker
freezes its objects (runtime/instances/worker_main.py).
"""

from __future__ import annotations

from pathlib import Path

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
