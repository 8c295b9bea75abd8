"""ONNX weights: an onnxruntime InferenceSession (CUDA provider on a GPU instance, else CPU)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loader.errors import BundleError
from loader.frameworks.contract import (
    FrameworkSupport,
    OutputBinding,
    Predictor,
    import_framework,
)

if TYPE_CHECKING:
    from loader.frameworks.contract import Array

#: onnxruntime's element type names -> numpy dtype names, to cast inputs the graph expects.
_ORT_TYPES: dict[str, str] = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}


def providers(device: str) -> list[Any]:
    """Execution providers for ``device``: CUDA first on "cuda:N" when onnxruntime has it."""
    ort = import_framework("onnxruntime", "onnx")
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        index = device.partition(":")[2] or "0"
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def load(
    path: Path,
    device: str = "cpu",
    *,
    architecture: type | None = None,
    config: Mapping[str, Any] | None = None,
) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path``; ``config`` may set
    ``intra_op_num_threads``."""
    ort = import_framework("onnxruntime", "onnx")
    options = ort.SessionOptions()
    threads = (config or {}).get("intra_op_num_threads")
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    return ort.InferenceSession(str(path), sess_options=options, providers=providers(device))


def predictor(session: Any, outputs: Sequence[OutputBinding] | None, device: str) -> Predictor:
    """Feed named inputs (by graph name, else in graph order) and return the bound outputs."""
    import numpy as np

    graph_inputs = session.get_inputs()
    graph_outputs = [node.name for node in session.get_outputs()]
    bindings = list(outputs) if outputs else [OutputBinding(name) for name in graph_outputs]
    sources = [binding.source or binding.name for binding in bindings]
    unknown = [source for source in sources if source not in graph_outputs]
    if (
        unknown
        and outputs
        and len(outputs) == len(graph_outputs)
        and all(binding.source is None for binding in outputs)
    ):
        sources = graph_outputs  # names given in the graph's order: rename positionally
    elif unknown:
        raise BundleError(
            f"outputs {unknown} are not outputs of the ONNX graph (it has {graph_outputs})"
        )

    def run(inputs: Mapping[str, Array]) -> dict[str, Array]:
        if len(inputs) != len(graph_inputs):
            raise ValueError(
                f"the ONNX graph takes {len(graph_inputs)} input(s)"
                f" ({[node.name for node in graph_inputs]}), got {len(inputs)}"
            )
        by_name = all(node.name in inputs for node in graph_inputs)
        values = [inputs[node.name] for node in graph_inputs] if by_name else list(inputs.values())
        feed = {
            node.name: np.asarray(value, dtype=_ORT_TYPES.get(node.type))
            for node, value in zip(graph_inputs, values, strict=True)
        }
        results = session.run(sources, feed)
        return {b.name: r for b, r in zip(bindings, results, strict=True)}

    return run


SUPPORT = FrameworkSupport("onnx", "onnx", load, predictor)
