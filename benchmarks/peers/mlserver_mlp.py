"""The benchmark MLP as an MLServer runtime (copied into the MLServer model folder; runs there).

onnxruntime with one thread, like modelrt's bundle; MLServer's adaptive batching hands
``predict`` one request whose ``x`` stacks the batch's rows, and splits the answer by rows.
"""

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri

WARM_BATCHES = (1, 32)  # first runs at a new size allocate; keep them out of the numbers


class OnnxMlp(MLModel):
    """x [N, 256] float32 -> probabilities [N, 10]."""

    async def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        path = await get_model_uri(self._settings)
        self._session = ort.InferenceSession(
            path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        for size in WARM_BATCHES:
            self._session.run(None, {"x": np.zeros((size, 256), np.float32)})
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        rows = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32, copy=False)
        (probabilities,) = self._session.run(["probabilities"], {"x": rows.reshape(-1, 256)})
        return InferenceResponse(
            model_name=self.name,
            outputs=[NumpyCodec.encode_output("probabilities", probabilities)],
        )
