"""tritonclient's asyncio gRPC client against a modelrt server; prints one JSON report.

.venv-peers/bin/python tritonclient_aio.py 127.0.0.1:PORT
"""

from __future__ import annotations

import asyncio
import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient


async def _requests():
    for rid in ("a1", "a2"):
        prompt = grpcclient.InferInput("prompt", [1], "BYTES")
        prompt.set_data_from_numpy(np.array([b"a dog"], dtype=np.object_))
        yield {
            "model_name": "tiny-llm",
            "inputs": [prompt],
            "request_id": rid,
            "parameters": {"max_tokens": 2, "seed": 3},
            "enable_empty_final_response": True,
        }


async def main(address: str) -> None:
    client = aioclient.InferenceServerClient(url=address)
    report: dict = {
        "live": await client.is_server_live(),
        "ready": await client.is_server_ready(),
        "model_ready": await client.is_model_ready("color-classifier"),
        "metadata": await client.get_model_metadata("color-classifier", as_json=True),
        "config": await client.get_model_config("color-classifier", as_json=True),
    }
    image = grpcclient.InferInput("image", [2, 2, 3], "UINT8")
    data = np.zeros((2, 2, 3), dtype=np.uint8)
    data[..., 1] = 200
    image.set_data_from_numpy(data)
    result = await client.infer("color-classifier", [image], request_id="aio-1")
    report["infer"] = {
        "id": result.get_response().id,
        "structured": json.loads(result.as_numpy("structured")[0]),
    }
    stream = []
    async for result, error in client.stream_infer(_requests()):
        if error is not None:
            stream.append({"error": str(error)})
            continue
        response = result.get_response()
        stream.append(
            {
                "id": response.id,
                "final": response.parameters["triton_final_response"].bool_param,
            }
        )
        if sum(item.get("final", False) for item in stream) == 2:
            break
    report["stream"] = stream
    await client.close()
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
