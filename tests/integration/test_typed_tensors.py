"""Tensors in the typed (JSON-friendly) form, through the stubs, the client, the CLI and grpcurl.

The grpcurl case is the issue's done-criterion: a typed JSON tensor sent to the ONNX example.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from click.testing import CliRunner

from clients import Client
from clients.cli.commands import cli
from modelrt import codec
from modelrt.v1 import runtime_pb2, value_pb2
from tests.bundle_factory import write_bundle
from tests.example_store import EXAMPLES

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent))
DOUBLE = """
    import numpy as np
    from registry import ModelRunner, register

    @register("double")
    class Double(ModelRunner):
        def predict(self, request):
            return {"y": np.asarray(request["x"]) * 2, "words": np.array(["a", "b"])}

        def generate(self, request):
            for step in range(2):
                yield {"y": np.asarray(request["x"]) + step}
"""


@pytest.fixture
def address(start_server, tmp_path: Path) -> str:
    write_bundle(tmp_path / "store", "double", DOUBLE)
    return start_server(tmp_path / "store").address


def test_stub_sends_typed_tensor_and_gets_typed_outputs(start_server, tmp_path: Path) -> None:
    write_bundle(tmp_path / "store", "double", DOUBLE)
    server = start_server(tmp_path / "store")
    tensor = value_pb2.Tensor(dtype=value_pb2.DATA_TYPE_INT32, shape=[3], int_contents=[1, 2, 3])
    request = runtime_pb2.PredictRequest(
        model="double",
        inputs={"x": value_pb2.Value(tensor=tensor)},
        output_form=value_pb2.TENSOR_FORM_TYPED,
    )
    reply = server.stub().Predict(request, timeout=30)
    y = reply.outputs["y"].tensor
    assert not y.raw_data
    assert list(y.int_contents) == [2, 4, 6]
    assert list(reply.outputs["words"].tensor.string_contents) == ["a", "b"]
    request.output_form = value_pb2.TENSOR_FORM_RAW  # the default form: raw_data
    raw = server.stub().Predict(request, timeout=30).outputs["y"].tensor
    assert not raw.int_contents
    assert codec.tensor_to_array(raw).tolist() == [2, 4, 6]


def test_stub_generate_answers_in_the_typed_form(start_server, tmp_path: Path) -> None:
    write_bundle(tmp_path / "store", "double", DOUBLE)
    server = start_server(tmp_path / "store")
    request = runtime_pb2.GenerateRequest(
        model="double",
        inputs={"x": codec.python_to_value(np.array([1.5], np.float32), typed=True)},
        output_form=value_pb2.TENSOR_FORM_TYPED,
    )
    items = list(server.stub().Generate(request, timeout=30))
    assert [list(item.outputs["y"].tensor.fp32_contents) for item in items] == [[1.5], [2.5]]


def test_typed_tensor_with_a_count_mismatch_is_invalid_argument(
    start_server, tmp_path: Path
) -> None:
    write_bundle(tmp_path / "store", "double", DOUBLE)
    server = start_server(tmp_path / "store")
    tensor = value_pb2.Tensor(dtype=value_pb2.DATA_TYPE_FLOAT32, shape=[2], fp32_contents=[1])
    request = runtime_pb2.PredictRequest(
        model="double", inputs={"x": value_pb2.Value(tensor=tensor)}
    )
    with pytest.raises(grpc.RpcError) as caught:
        server.stub().Predict(request, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "needs 2 elements in fp32_contents, got 1" in caught.value.details()


def test_client_with_typed_tensors_round_trips(address: str) -> None:
    with Client(address, timeout=30, typed_tensors=True) as client:
        prediction = client.predict("double", {"x": np.array([[1, 2]], np.uint16)})
        assert prediction.outputs["y"].dtype == np.uint16
        assert prediction.outputs["y"].tolist() == [[2, 4]]
        items = list(client.generate("double", {"x": np.array([3.0])}))
        assert [item.outputs["y"].tolist() for item in items] == [[3.0], [4.0]]


def test_cli_tensor_form_typed_predicts(address: str) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "--address",
            address,
            "--tensor-form",
            "typed",
            "--json",
            "predict",
            "double",
            "--input",
            "x:int64=[1,2]",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["outputs"]["y"]["data"] == [2, 4]


@pytest.mark.skipif(GRPCURL is None, reason="grpcurl is installed by the dev extra")
def test_grpcurl_sends_typed_json_tensor_to_the_onnx_example(start_server, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="the ONNX example needs the onnx extra")
    store = tmp_path / "store"
    shutil.copytree(EXAMPLES / "color-classifier", store / "color-classifier")
    built = subprocess.run(
        [sys.executable, str(store / "color-classifier" / "build_weights.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    address = start_server(store).address
    body = {
        "model": "color-classifier",
        "inputs": {
            "image": {
                "tensor": {
                    "dtype": "DATA_TYPE_UINT8",
                    "shape": [1, 2, 3],
                    "uintContents": [250, 10, 10, 240, 20, 5],
                }
            }
        },
        "outputForm": "TENSOR_FORM_TYPED",
    }
    assert GRPCURL is not None
    result = subprocess.run(
        [GRPCURL, "-plaintext", "-d", json.dumps(body), address, "modelrt.v1.ModelRuntime/Predict"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["structured"]["label"] == "red"
    probabilities = reply["outputs"]["probabilities"]["tensor"]
    assert probabilities["dtype"] == "DATA_TYPE_FLOAT32"
    # grpcurl prints the JSON (camelCase) names when the served descriptors carry them, else the
    # proto field names; both are valid protobuf JSON, and it reads either.
    contents = probabilities.get("fp32Contents", probabilities.get("fp32_contents"))
    assert contents is not None, probabilities
    assert len(contents) == 3
    assert sum(contents) == pytest.approx(1.0, abs=1e-5)
