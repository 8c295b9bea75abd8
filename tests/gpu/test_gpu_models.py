"""On a CUDA machine: real torch and ONNX models run on the GPU the runtime assigned them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from clients import Client
from tests.bundle_factory import write_bundle

pytestmark = pytest.mark.gpu

TORCH_MODEL = """
    import os
    import torch
    from registry import ModelRunner, register

    @register("torch-gpu")
    class TorchGpu(ModelRunner):
        def load_model(self):
            self.layer = torch.nn.Linear(4, 2).to(self.context.device)

        def predict(self, request):
            x = torch.as_tensor(request["x"], device=self.context.device)
            y = self.layer(x)
            return {
                "y": y.detach().cpu().numpy(),
                "device": str(next(self.layer.parameters()).device),
                "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "count": torch.cuda.device_count(),
                "pid": os.getpid(),
            }
"""

ONNX_MODEL = """
    import os
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper
    from registry import ModelRunner, register

    @register("onnx-gpu")
    class OnnxGpu(ModelRunner):
        def load_model(self):
            graph = helper.make_graph(
                [helper.make_node("Relu", ["x"], ["y"])], "relu",
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
            )
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
            providers = ["CPUExecutionProvider"]
            if self.context.device.startswith("cuda"):
                providers.insert(0, "CUDAExecutionProvider")
            self.session = ort.InferenceSession(model.SerializeToString(), providers=providers)

        def predict(self, request):
            (y,) = self.session.run(None, {"x": request["x"]})
            return {"y": y, "providers": self.session.get_providers(),
                    "visible": os.environ.get("CUDA_VISIBLE_DEVICES")}
"""


def test_torch_model_runs_on_its_gpu_with_two_instances_sharing_it(
    start_server, tmp_path: Path, real_gpus
) -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    store = tmp_path / "store"
    write_bundle(
        store, "torch-gpu", TORCH_MODEL, config={"instances": [{"count": 2, "kind": "gpu"}]}
    )
    server = start_server(store)
    with Client(server.address, timeout=60) as client:
        assert client.get_model("torch-gpu").state == "READY"
        replies = [
            client.predict("torch-gpu", {"x": np.ones((1, 4), np.float32)}).structured
            for _ in range(8)
        ]
    assert {r["device"] for r in replies} == {"cuda:0"}  # each worker sees only its GPU
    assert {r["count"] for r in replies} == {1}
    visible = {r["visible"] for r in replies}
    assert visible <= {str(gpu.index) for gpu in real_gpus}
    if len(real_gpus) == 1:
        assert visible == {str(real_gpus[0].index)}  # both instances on the one GPU


def test_onnx_model_gets_the_cuda_provider_on_a_gpu_instance(start_server, tmp_path: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is not installed")
    store = tmp_path / "store"
    write_bundle(store, "onnx-gpu", ONNX_MODEL, config={"instances": [{"kind": "gpu"}]})
    server = start_server(store)
    with Client(server.address, timeout=60) as client:
        reply = client.predict("onnx-gpu", {"x": np.array([[-1, 2, -3, 4]], np.float32)})
    assert reply.structured["providers"][0] == "CUDAExecutionProvider"
    np.testing.assert_array_equal(reply.outputs["y"], [[0, 2, 0, 4]])
