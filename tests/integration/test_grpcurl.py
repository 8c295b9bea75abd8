"""A generic gRPC tool (grpcurl) needs nothing but reflection to list, probe and call modelrt."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bundle_factory import write_bundle

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent))

ECHO = """
    from registry import ModelRunner, register

    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request):
            return {"said": request["text"]}
"""

pytestmark = pytest.mark.skipif(GRPCURL is None, reason="grpcurl is installed by the dev extra")


def _grpcurl(address: str, *args: str) -> str:
    assert GRPCURL is not None
    result = subprocess.run(
        [GRPCURL, "-plaintext", *args[:-1], address, args[-1]] if args else [],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def address(start_server, tmp_path: Path) -> str:
    write_bundle(tmp_path / "store", "echo", ECHO)
    return start_server(tmp_path / "store").address


def test_grpcurl_lists_services_through_reflection(address: str) -> None:
    services = _grpcurl(address, "list").split()
    assert "modelrt.v1.ModelRuntime" in services
    assert "grpc.health.v1.Health" in services


def test_grpcurl_gets_serving_from_the_health_service(address: str) -> None:
    assert json.loads(_grpcurl(address, "grpc.health.v1.Health/Check")) == {"status": "SERVING"}
    reply = _grpcurl(address, "-d", '{"service": "echo"}', "grpc.health.v1.Health/Check")
    assert json.loads(reply) == {"status": "SERVING"}


def test_grpcurl_calls_predict_with_json(address: str) -> None:
    body = json.dumps({"model": "echo", "inputs": {"text": {"text": "hello"}}})
    reply = json.loads(_grpcurl(address, "-d", body, "modelrt.v1.ModelRuntime/Predict"))
    assert reply["structured"] == {"said": "hello"}
    assert reply["model"] == "echo"


def _describe(address: str, symbol: str) -> str:
    assert GRPCURL is not None
    result = subprocess.run(
        [GRPCURL, "-plaintext", address, "describe", symbol],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_grpcurl_describe_shows_the_proto_comments(address: str) -> None:
    described = _describe(address, "modelrt.v1.ModelRuntime.Predict")
    assert "Predict sends one request and gets one response." in described
    tensor = _describe(address, "modelrt.v1.Tensor")
    assert "fp32_contents" in tensor
    assert "Typed form" in tensor
