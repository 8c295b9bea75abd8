"""Writes the benchmark bundles into a model store: identity, the MLP (batched and not), tokens.

The MLP is a 256 -> 1024 -> 1024 -> 10 ONNX graph built with onnx.helper from seeded random
weights, so every run serves byte-for-byte the same model.
"""

from __future__ import annotations

import itertools
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

MLP_LAYERS = (256, 1024, 1024, 10)
MLP_SEED = 20240601
MLP_MAX_BATCH = 64
FEATURES = MLP_LAYERS[0]

IDENTITY_PY = """
    from registry import ModelRunner, register


    @register("identity")
    class Identity(ModelRunner):
        def predict(self, request):
            return {"y": request["x"]}
"""

# One source for both MLP bundles; only the registered name differs.
MLP_PY = """
    import numpy as np
    import onnxruntime as ort

    from registry import ModelRunner, register


    @register("{name}")
    class Mlp(ModelRunner):
        def load_model(self):
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            self.session = ort.InferenceSession(
                str(self.context.path("mlp.onnx")),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
            for size in (1, {max_batch}):  # first runs allocate; keep them out of the numbers
                self.session.run(None, {{"x": np.zeros((size, {features}), np.float32)}})

        def predict_batch(self, requests):
            batch = np.concatenate([request["x"] for request in requests])
            (probabilities,) = self.session.run(["probabilities"], {{"x": batch}})
            return [{{"probabilities": probabilities[i : i + 1]}} for i in range(len(requests))]
"""

TOKENS_PY = """
    from registry import ModelRunner, register


    @register("tokens")
    class Tokens(ModelRunner):
        def generate(self, request):
            for index in range(int(request.param("n", 100))):
                yield {"token": "tok", "index": index}
"""

TENSOR_INPUT = [{"name": "x", "kind": "tensor", "dtype": "float32", "shape": [1, FEATURES]}]


@dataclass(frozen=True)
class StoreLayout:
    """Which bundles a store holds and how the batched MLP batches."""

    batch_delay_ms: float
    names: tuple[str, ...]


def build_mlp(layers: tuple[int, ...] = MLP_LAYERS, seed: int = MLP_SEED) -> onnx.ModelProto:
    """Gemm+Relu layers with a Softmax output; input ``x`` [N, 256], output ``probabilities``.

    >>> build_mlp().graph.output[0].name
    'probabilities'
    """
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = []
    current = "x"
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(layers)):
        w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = (rng.standard_normal(fan_out) * 0.01).astype(np.float32)
        weights += [
            numpy_helper.from_array(w, f"w{index}"),
            numpy_helper.from_array(b, f"b{index}"),
        ]
        nodes.append(
            helper.make_node("Gemm", [current, f"w{index}", f"b{index}"], [f"gemm{index}"])
        )
        current = f"gemm{index}"
        if index < len(layers) - 2:  # every layer but the last is followed by a Relu
            nodes.append(helper.make_node("Relu", [current], [f"relu{index}"]))
            current = f"relu{index}"
    nodes.append(helper.make_node("Softmax", [current], ["probabilities"], axis=1))
    graph = helper.make_graph(
        nodes,
        "bench_mlp",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", layers[0]])],
        outputs=[
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", layers[-1]])
        ],
        initializer=weights,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8, producer_name="bench"
    )
    onnx.checker.check_model(model)
    return model


def _write(store: Path, name: str, source: str, config: dict[str, Any]) -> Path:
    bundle = store / name
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "model.py").write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    text = yaml.safe_dump({"name": name, **config}, sort_keys=False)
    (bundle / "modelrt.yaml").write_text(text, encoding="utf-8")
    return bundle


def write_mlp(store: Path, name: str, batching: dict[str, Any], weights: Path) -> None:
    """One MLP bundle ``name`` in ``store``: our model.py, ``weights`` and this batching config."""
    source = MLP_PY.format(name=name, max_batch=MLP_MAX_BATCH, features=FEATURES)
    config = {"framework": "onnx", "inputs": TENSOR_INPUT, "batching": batching}
    bundle = _write(store, name, source, config)
    shutil.copyfile(weights, bundle / "mlp.onnx")


def write_store(store: Path, layout: StoreLayout) -> None:
    """Write the bundles named in ``layout`` into ``store`` (created if missing)."""
    store.mkdir(parents=True, exist_ok=True)
    if "identity" in layout.names:
        _write(store, "identity", IDENTITY_PY, {"inputs": TENSOR_INPUT})
    if "tokens" in layout.names:
        _write(store, "tokens", TOKENS_PY, {"model_type": "text_generation"})
    if not {"mlp-batched", "mlp-unbatched"} & set(layout.names):
        return
    weights = store.parent / "mlp.onnx"
    weights.write_bytes(build_mlp().SerializeToString())
    if "mlp-batched" in layout.names:
        batching = {"max_batch_size": MLP_MAX_BATCH, "max_queue_delay_ms": layout.batch_delay_ms}
        write_mlp(store, "mlp-batched", batching, weights)
    if "mlp-unbatched" in layout.names:
        write_mlp(store, "mlp-unbatched", {"max_batch_size": 0}, weights)
