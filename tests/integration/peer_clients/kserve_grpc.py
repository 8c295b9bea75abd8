"""KServe's InferenceGRPCClient against a modelrt server; prints one JSON report.

.venv-peers/bin/python kserve_grpc.py 127.0.0.1:PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceGRPCClient, InferInput, InferRequest


async def main(address: str) -> None:
    client = InferenceGRPCClient(url=address, timeout=30, retries=0)
    report: dict = {
        "live": await client.is_server_live(),
        "ready": await client.is_server_ready(),
        "model_ready": await client.is_model_ready("color-classifier"),
    }
    image = np.zeros((3, 3, 3), dtype=np.uint8)
    image[..., 2] = 255
    tensor = InferInput(name="image", shape=list(image.shape), datatype="UINT8")
    tensor.set_data_from_numpy(image)
    request = InferRequest(
        model_name="color-classifier", infer_inputs=[tensor], request_id="kserve-1"
    )
    response = await client.infer(request)
    outputs = {output.name: output for output in response.outputs}
    structured = outputs["structured"].as_numpy()[0]
    report["infer"] = {
        "id": response.id,
        "model": response.model_name,
        "structured": json.loads(structured),
    }
    await client.close()
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
