"""tritonclient's synchronous gRPC client against a modelrt server; prints one JSON report.

Run with the peers venv's python (tritonclient needs protobuf<7):
    .venv-peers/bin/python tritonclient_sync.py 127.0.0.1:PORT
It calls the examples color-classifier (ONNX, predict) and tiny-llm (generate).
"""

from __future__ import annotations

import json
import queue
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc


def _red_image() -> np.ndarray:
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    image[..., 0] = 255
    return image


def _typed_infer(address: str) -> dict:
    """A ModelInferRequest with typed contents, through tritonclient's own generated stub."""
    import grpc

    with grpc.insecure_channel(address) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        request = service_pb2.ModelInferRequest(model_name="color-classifier", id="typed")
        tensor = request.inputs.add(name="image", datatype="UINT8", shape=[1, 1, 3])
        tensor.contents.uint_contents.extend([0, 0, 255])
        reply = stub.ModelInfer(request, timeout=30)
        outputs = {output.name: output for output in reply.outputs}
        return {
            "id": reply.id,
            "raw": len(reply.raw_output_contents),
            "structured": json.loads(outputs["structured"].contents.bytes_contents[0]),
        }


def _stream(client: grpcclient.InferenceServerClient) -> list[dict]:
    """Two tiny-llm requests on one stream; every response as it came."""
    results: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    for rid in ("s1", "s2"):
        prompt = grpcclient.InferInput("prompt", [1], "BYTES")
        prompt.set_data_from_numpy(np.array([b"the cat"], dtype=np.object_))
        client.async_stream_infer(
            "tiny-llm",
            [prompt],
            request_id=rid,
            parameters={"max_tokens": 3, "seed": 7},
            enable_empty_final_response=True,
        )
    seen: list[dict] = []
    finals = 0
    while finals < 2:
        result, error = results.get(timeout=60)
        if error is not None:
            seen.append({"error": str(error)})
            finals += 1
            continue
        response = result.get_response()
        final = response.parameters["triton_final_response"].bool_param
        finals += final
        structured = result.as_numpy("structured")
        seen.append(
            {
                "id": response.id,
                "final": final,
                "structured": None if structured is None else json.loads(structured[0]),
            }
        )
    client.stop_stream()
    return seen


def main(address: str) -> None:
    client = grpcclient.InferenceServerClient(url=address)
    report: dict = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("color-classifier"),
        "missing_ready": client.is_model_ready("no-such-model"),
        "metadata": client.get_model_metadata("color-classifier", as_json=True),
        "config": client.get_model_config("color-classifier", as_json=True),
        "server": client.get_server_metadata(as_json=True),
    }
    image = grpcclient.InferInput("image", [4, 4, 3], "UINT8")
    image.set_data_from_numpy(_red_image())
    result = client.infer("color-classifier", [image], request_id="raw-1")
    report["infer"] = {
        "id": result.get_response().id,
        "structured": json.loads(result.as_numpy("structured")[0]),
    }
    # tritonclient's server-side queue timeout (microseconds) travels as parameters["timeout"]
    timed = client.infer("color-classifier", [image], timeout=30_000_000)
    report["timeout_infer"] = json.loads(timed.as_numpy("structured")[0])["label"]
    try:
        client.infer("color-classifier", [grpcclient.InferInput("image", [2], "FP32")])
    except Exception as exc:  # tritonclient raises InferenceServerException
        report["bad_infer"] = {"status": exc.status(), "message": exc.message()}
    report["typed"] = _typed_infer(address)
    report["stream"] = _stream(client)
    report["statistics"] = client.get_inference_statistics("color-classifier", as_json=True)
    report["index"] = client.get_model_repository_index(as_json=True)
    client.close()
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
