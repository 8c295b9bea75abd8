"""Where a served image Predict spends its time, without the GPU: the transport alone, and modelrt
around a model that does nothing.

The GPU benchmark's served rows sat far below the same network in-process while the GPU idled.
This run takes the network away and keeps the traffic (one uint8 [1, 3, 224, 224] image per call,
a top-5 answer), from the same client processes, at c=1 and c=64:

- ``fake``: a bare grpc.aio server answering Predict with a fixed top-5 reply, once with the HTTP/2
  options modelrt serves with (BDP probing off, a fixed 4 MiB call window) and once with gRPC's
  defaults (BDP probing on);
- ``modelrt``: ``modelrt serve`` with a bundle whose ``predict_batch`` answers without looking at
  the images (inputs still decoded and checked), in worker processes and in-process.

    python benchmarks/gpu_diag.py --out OUT [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import gpu_load
import grpc
import numpy as np
import reference
import servers
import yaml

from modelrt import codec
from modelrt.v1 import runtime_pb2

MiB = 1024 * 1024
MODEL = "resnet"
NULL_MODEL = """
    import numpy as np
    from registry import ModelRunner, register

    @register("resnet")
    class Null(ModelRunner):
        def predict_batch(self, requests):
            answer = {"classes": np.zeros((1, 5), np.int64), "scores": np.zeros((1, 5), np.float32)}
            return [answer for _ in requests]
"""


def _reply() -> bytes:
    outputs = {
        "classes": codec.python_to_value(np.zeros((1, 5), np.int64)),
        "scores": codec.python_to_value(np.zeros((1, 5), np.float32)),
    }
    return runtime_pb2.PredictResponse(model=MODEL, outputs=outputs).SerializeToString()


async def _serve_fake(host: str, port_file: Path) -> None:
    reply = _reply()

    async def predict(request: bytes, context: Any) -> bytes:
        return reply

    options = list(reference.OPTIONS)
    if os.environ.get("DIAG_OPTIONS") == "modelrt":
        options += [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 4 * MiB)]
    server = grpc.aio.server(options=options)
    handler = grpc.method_handlers_generic_handler(
        "modelrt.v1.ModelRuntime", {"Predict": grpc.unary_unary_rpc_method_handler(predict)}
    )
    server.add_generic_rpc_handlers((handler,))
    await reference.serve_until_signal(server, host, port_file)


def _null_store(root: Path) -> Path:
    bundle = root / "store" / MODEL
    bundle.mkdir(parents=True)
    (bundle / "model.py").write_text(textwrap.dedent(NULL_MODEL).lstrip(), encoding="utf-8")
    config = {
        "name": MODEL,
        "inputs": [
            {"name": "image", "kind": "tensor", "dtype": "uint8", "shape": [1, 3, 224, 224]}
        ],
        "batching": {"max_batch_size": 64, "max_queue_delay_ms": 1},
    }
    (bundle / "modelrt.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return bundle.parent


def _points(label: str, address: str, seconds: float, rows: list[dict[str, Any]]) -> None:
    for concurrency in (1, 64):
        try:
            row = gpu_load.row_dict(gpu_load.measure(address, 1, concurrency, seconds, 8))
        except Exception as exc:
            row = {"concurrency": concurrency, "error": f"{type(exc).__name__}: {exc}"[:500]}
        row["server"] = label
        rows.append(row)
        print(json.dumps(row), flush=True)


def _fake(options: str, work: Path, seconds: float, rows: list[dict[str, Any]]) -> None:
    os.environ["DIAG_OPTIONS"] = options
    port_file = work / f"port-fake-{options}"
    command = [sys.executable, __file__, "--fake-server", "--port-file", str(port_file)]
    server = servers._launch(f"fake-{options}", command, work / f"fake-{options}.log")
    try:
        servers._wait_port(server, port_file, servers.time.monotonic() + 30)
        _points(f"fake, {options} options", server.address, seconds, rows)
    finally:
        servers.stop(server)


def _modelrt(execution: str, work: Path, seconds: float, rows: list[dict[str, Any]]) -> None:
    store = _null_store(work / execution)
    server = servers.start_modelrt(store, work, flags=["--execution", execution])
    try:
        _points(f"modelrt null model, {execution}", server.address, seconds, rows)
    finally:
        servers.stop(server)


def main() -> None:
    if "--fake-server" in sys.argv:
        sys.argv.remove("--fake-server")
        reference.main(__doc__, _serve_fake)
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="modelrt-diag-") as tmp:
        work = Path(tmp)
        for options in ("modelrt", "grpc-default"):
            _fake(options, work, args.seconds, rows)
        for execution in ("process", "inprocess"):
            _modelrt(execution, work, args.seconds, rows)
    (args.out / "gpu-diag.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
