"""With installs enabled, a bundle's workers run in a venv built from its requirements.txt."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from modelrt import codec
from modelrt.v1 import model_pb2, runtime_pb2
from tests.bundle_factory import write_bundle
from tests.wheel_factory import write_wheel

SIX = """
    import sys
    import six
    from registry import ModelRunner, register

    @register("{name}")
    class Six(ModelRunner):
        def predict(self, request):
            return {{"six": six.__version__, "python": sys.executable}}
"""

TINY = """
    import sys
    import tinyone
    from registry import ModelRunner, register

    @register("{name}")
    class Tiny(ModelRunner):
        def predict(self, request):
            return {{"tinyone": tinyone.VERSION, "python": sys.executable}}
"""

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_a_pinned_requirement_is_what_the_bundle_sees(start_server, tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_bundle(
        store,
        "pinned-six",
        SIX.format(name="pinned-six"),
        files={"requirements.txt": "six==1.16.0\n"},
    )
    write_bundle(
        store, "broken-pin", SIX.format(name="broken-pin"),
        files={"requirements.txt": "nosuchpackage-modelrt-test==9.9.9\n"},
    )  # fmt: skip
    server = start_server(store, install_requirements=True, venv_dir=tmp_path / "venvs")
    stub = server.stub()
    reply = stub.Predict(runtime_pb2.PredictRequest(model="pinned-six"), timeout=30)
    result = codec.json_to_python(reply.structured)
    assert result["six"] == "1.16.0"
    assert str(tmp_path / "venvs") in result["python"]
    server_six = importlib.util.find_spec("six")
    if server_six is not None:  # the server's own six, if any, is another one
        import six

        assert six.__version__ != "1.16.0"

    model = stub.GetModel(runtime_pb2.GetModelRequest(name="broken-pin"), timeout=10).model
    assert model.state == model_pb2.MODEL_STATE_FAILED
    assert "No matching distribution" in model.reason


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_relative_model_store_serves_bundles_with_installed_requirements(
    start_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, installer: str
) -> None:
    bundle = write_bundle(
        tmp_path / "store", "tiny", TINY.format(name="tiny"),
        files={"requirements.txt": "./wheels/tinyone-1.0-py3-none-any.whl\n"},
    )  # fmt: skip
    write_wheel(bundle / "wheels", "tinyone", "1.0")
    monkeypatch.chdir(tmp_path)  # the README's `--model-store model-store`, from where it lies

    server = start_server(Path("store"), install_requirements=True, venv_installer=installer)
    reply = server.stub().Predict(runtime_pb2.PredictRequest(model="tiny"), timeout=30)

    result = codec.json_to_python(reply.structured)
    assert result["tinyone"] == "1.0"
    assert result["python"].startswith(str(tmp_path / "store" / ".modelrt" / "venvs"))
