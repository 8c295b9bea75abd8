"""The benchmark MLP as a TorchServe handler (packed into the model archive; runs there).

onnxruntime with one thread, like modelrt's bundle. TorchServe's batching hands ``handle`` a list
of requests; each carries the raw float32 bytes of one [1, 256] row under ``data``, and each
answer is the raw float32 bytes of its [1, 10] probabilities.
"""

import os

import numpy as np
import onnxruntime as ort

FEATURES = 256
WARM_BATCHES = (1, 32)  # first runs at a new size allocate; keep them out of the numbers


class OnnxMlpHandler:
    """TorchServe calls initialize(context) once, then handle(data, context) per batch."""

    def __init__(self) -> None:
        self.session: ort.InferenceSession | None = None

    def initialize(self, context) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        folder = context.system_properties.get("model_dir")
        self.session = ort.InferenceSession(
            os.path.join(folder, "mlp.onnx"),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        for size in WARM_BATCHES:
            self.session.run(None, {"x": np.zeros((size, FEATURES), np.float32)})

    def handle(self, data, context) -> list[bytes]:
        rows = [request.get("data") or request.get("body") for request in data]
        batch = np.frombuffer(b"".join(rows), np.float32).reshape(len(rows), FEATURES)
        (probabilities,) = self.session.run(["probabilities"], {"x": batch})
        return [row.tobytes() for row in probabilities]
