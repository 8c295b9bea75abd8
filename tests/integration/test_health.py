"""grpc.health.v1: readiness waits for start-up loading; liveness; one service per model; List."""

from __future__ import annotations

import time
from pathlib import Path

from grpc_health.v1 import health_pb2

from tests.bundle_factory import write_bundle

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

GATED = """
    import time
    from pathlib import Path
    from registry import ModelRunner, register

    @register("gated")
    class Gated(ModelRunner):
        def load_model(self):
            gate = Path(self.context.parameters["gate"])
            deadline = time.monotonic() + 20
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.02)

        def predict(self, request):
            return {}
"""


def test_readiness_is_not_serving_until_start_up_loading_finishes(
    start_server, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    store = tmp_path / "store"
    write_bundle(store, "gated", GATED, config={"parameters": {"gate": str(gate)}})
    server = start_server(store, wait=False)
    health = server.health()

    def status(service: str) -> int:
        return health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status

    assert status("liveness") == SERVING
    assert status("") == NOT_SERVING
    assert status("gated") == NOT_SERVING
    watch = health.Watch(health_pb2.HealthCheckRequest(service="gated"), timeout=30)
    assert next(watch).status == NOT_SERVING

    gate.write_text("open")
    assert next(watch).status == SERVING
    watch.cancel()
    server.wait_ready(timeout=20)
    assert status("") == SERVING


def test_health_list_reports_every_service(start_server, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.write_text("open")
    store = tmp_path / "store"
    write_bundle(store, "gated", GATED, config={"parameters": {"gate": str(gate)}})
    server = start_server(store)
    deadline = time.monotonic() + 5
    while True:
        reply = server.health().List(health_pb2.HealthListRequest(), timeout=5)
        statuses = {name: s.status for name, s in reply.statuses.items()}
        if statuses.get("gated") == SERVING or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert statuses == {
        "": SERVING,
        "liveness": SERVING,
        "modelrt.v1.ModelRuntime": SERVING,
        "inference.GRPCInferenceService": SERVING,
        "gated": SERVING,
    }
