"""tritonclient's HTTP client against modelrt's HTTP front door; prints one JSON report.

Run with the peers venv's python (tritonclient needs protobuf<7):
    .venv-peers/bin/python tritonclient_http.py 127.0.0.1:HTTP_PORT
It calls the examples color-classifier (ONNX, UINT8 image) and tiny-llm (BYTES prompt).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable

import numpy as np
import tritonclient.http as httpclient
import tritonclient.http.aio as aioclient


def _image(channel: int) -> np.ndarray:
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    image[..., channel] = 255
    return image


def _infer(client: httpclient.InferenceServerClient, channel: int, binary: bool, rid: str) -> dict:
    """One color-classifier call: inputs binary or JSON, outputs the same way."""
    image = httpclient.InferInput("image", [4, 4, 3], "UINT8")
    image.set_data_from_numpy(_image(channel), binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput(name, binary_data=binary)
        for name in ("probabilities", "structured")
    ]
    result = client.infer("color-classifier", [image], request_id=rid, outputs=outputs)
    response = result.get_response()
    probabilities = result.as_numpy("probabilities")
    return {
        "id": response["id"],
        "binary_outputs": [
            "binary_data_size" in output.get("parameters", {}) for output in response["outputs"]
        ],
        "probabilities_shape": list(probabilities.shape),
        "structured": json.loads(result.as_numpy("structured")[0]),
    }


def _infer_all_binary(client: httpclient.InferenceServerClient) -> dict:
    """No outputs named: tritonclient asks for every output as binary data."""
    image = httpclient.InferInput("image", [4, 4, 3], "UINT8")
    image.set_data_from_numpy(_image(1))
    result = client.infer("color-classifier", [image])
    # tritonclient's server-side queue timeout (microseconds) travels as parameters["timeout"]
    timed = client.infer("color-classifier", [image], timeout=30_000_000)
    return {
        "structured": json.loads(result.as_numpy("structured")[0]),
        "timeout_label": json.loads(timed.as_numpy("structured")[0])["label"],
    }


def _bytes_infer(client: httpclient.InferenceServerClient, binary: bool) -> dict:
    """A BYTES input (tiny-llm's prompt) and its BYTES structured output."""
    prompt = httpclient.InferInput("prompt", [1], "BYTES")
    prompt.set_data_from_numpy(np.array([b"the cat"], dtype=np.object_), binary_data=binary)
    outputs = [httpclient.InferRequestedOutput("structured", binary_data=binary)]
    result = client.infer(
        "tiny-llm", [prompt], outputs=outputs, parameters={"max_tokens": 3, "seed": 7}
    )
    return json.loads(result.as_numpy("structured")[0])


def _error(call: Callable[[], object]) -> dict:
    try:
        call()
    except Exception as exc:  # tritonclient raises InferenceServerException
        return {"status": exc.status(), "message": exc.message()}
    return {"status": None}


async def _aio(address: str) -> dict:
    """tritonclient's asyncio HTTP client: readiness and one binary infer."""
    client = aioclient.InferenceServerClient(url=address)
    try:
        image = aioclient.InferInput("image", [4, 4, 3], "UINT8")
        image.set_data_from_numpy(_image(0))
        result = await client.infer("color-classifier", [image], request_id="aio-1")
        return {
            "ready": await client.is_model_ready("color-classifier"),
            "id": result.get_response()["id"],
            "structured": json.loads(result.as_numpy("structured")[0]),
        }
    finally:
        await client.close()


def main(address: str) -> None:
    client = httpclient.InferenceServerClient(url=address)
    report: dict = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("color-classifier"),
        "missing_ready": client.is_model_ready("no-such-model"),
        "server": client.get_server_metadata(),
        "metadata": client.get_model_metadata("color-classifier"),
        "versioned": client.get_model_metadata("color-classifier", model_version="1"),
        "index": client.get_model_repository_index(),
        "config": client.get_model_config("color-classifier"),
    }
    report["json_infer"] = _infer(client, 0, binary=False, rid="json-1")
    report["binary_infer"] = _infer(client, 2, binary=True, rid="bin-1")
    report["all_binary"] = _infer_all_binary(client)
    report["bytes_json"] = _bytes_infer(client, binary=False)
    report["bytes_binary"] = _bytes_infer(client, binary=True)
    report["statistics"] = client.get_inference_statistics("color-classifier")
    bad = httpclient.InferInput("image", [2], "FP32")
    bad.set_data_from_numpy(np.zeros(2, dtype=np.float32))
    report["bad_infer"] = _error(lambda: client.infer("color-classifier", [bad]))
    report["missing_infer"] = _error(lambda: client.infer("no-such-model", [bad]))
    report["aio"] = asyncio.run(_aio(address))
    client.unload_model("tiny-llm")
    report["unloaded_ready"] = client.is_model_ready("tiny-llm")
    client.load_model("tiny-llm")
    report["reloaded_ready"] = client.is_model_ready("tiny-llm")
    client.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
