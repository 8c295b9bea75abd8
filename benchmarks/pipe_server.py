"""The process-boundary floor: bare grpc.aio, Predict parsed, the tensor sent to a worker and back.

What any server that runs models in worker processes pays on this machine before it does
anything else: protobuf parsing, one round trip to a spawned worker over two pipes (the same
transport modelrt uses), and a PredictResponse. No engine, no queue, no metrics, no model: the
worker hands the bytes back. Run as ``python benchmarks/pipe_server.py --port-file FILE``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import struct
from pathlib import Path
from typing import Any

import grpc
import reference

from modelrt.v1 import runtime_pb2

SERVICE = "modelrt.v1.ModelRuntime"
HEADER = struct.Struct("<IQ")  # payload length, call id


def worker(requests: Any, replies: Any) -> None:
    """Echo every frame back (runs in the spawned worker process)."""
    inbox, outbox = requests.fileno(), replies.fileno()
    buffer = b""
    while chunk := os.read(inbox, 1 << 16):
        buffer += chunk
        while len(buffer) >= HEADER.size:
            size = HEADER.unpack_from(buffer)[0] + HEADER.size
            if len(buffer) < size:
                break
            os.write(outbox, buffer[:size])
            buffer = buffer[size:]


class Floor:
    """Forwards each Predict's first tensor to the worker and answers with what comes back."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        context = multiprocessing.get_context("spawn")
        worker_in, self._out = context.Pipe(duplex=False)
        self._in, worker_out = context.Pipe(duplex=False)
        self.process = context.Process(target=worker, args=(worker_in, worker_out), daemon=True)
        self.process.start()
        worker_in.close()
        worker_out.close()
        self._loop = loop
        self._calls: dict[int, asyncio.Future[bytes]] = {}
        self._next = 0
        self._buffer = b""
        loop.add_reader(self._in.fileno(), self._readable)

    def _readable(self) -> None:
        self._buffer += os.read(self._in.fileno(), 1 << 16)
        while len(self._buffer) >= HEADER.size:
            length, call = HEADER.unpack_from(self._buffer)
            end = HEADER.size + length
            if len(self._buffer) < end:
                return
            future = self._calls.pop(call)
            future.set_result(self._buffer[HEADER.size : end])
            self._buffer = self._buffer[end:]

    async def predict(
        self, request: runtime_pb2.PredictRequest, context: Any
    ) -> runtime_pb2.PredictResponse:
        value = next(iter(request.inputs.values()))
        self._next += 1
        future = self._loop.create_future()
        self._calls[self._next] = future
        data = value.tensor.raw_data
        os.write(self._out.fileno(), HEADER.pack(len(data), self._next) + data)
        reply = runtime_pb2.PredictResponse(model=request.model, request_id=request.request_id)
        tensor = reply.outputs["y"].tensor
        tensor.dtype = value.tensor.dtype
        tensor.shape.extend(value.tensor.shape)
        tensor.raw_data = await future
        return reply


async def serve(host: str, port_file: Path) -> None:
    """Serve Predict on ``host`` (a free port, written to ``port_file``) until a signal."""
    floor = Floor(asyncio.get_running_loop())
    server = grpc.aio.server(options=reference.OPTIONS)
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Predict": grpc.unary_unary_rpc_method_handler(
                floor.predict,
                request_deserializer=runtime_pb2.PredictRequest.FromString,
                response_serializer=runtime_pb2.PredictResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    try:
        await reference.serve_until_signal(server, host, port_file)
    finally:
        floor.process.kill()
        floor.process.join(5)


if __name__ == "__main__":
    reference.main(__doc__, serve)
