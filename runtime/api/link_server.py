"""The main process's end of the predict link: Predict and OIP ModelInfer calls from helper front
ends, answered by the same engine and data-plane calls the ModelRuntime and GRPCInferenceService
servicers make, and counted as their RPCs are.

Frames are in link_frames.py. Each call runs in a task of its own, so one connection carries
many calls at once; replies go back in the order they finish. A cancel frame cancels its call's
task, as a client cancel cancels a gRPC handler: counted CANCELLED (or DEADLINE_EXCEEDED), no
reply sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from modelrt.oip import grpc_service_pb2 as oip
from modelrt.v1 import runtime_pb2
from registry.errors import ModelrtError
from runtime.api import link_frames, undecodable
from runtime.api.oip_dataplane import OipDataPlane
from runtime.api.rpc_metrics import DEADLINE_SLACK_S, model_of
from runtime.api.servicer import internal_error, request_id
from runtime.api.status import grpc_code, rpc_status_of
from runtime.engine.engine import Engine
from runtime.engine.models import check_model_ref
from runtime.instances.wire import response_bytes
from runtime.metrics.metrics import Metrics

logger = logging.getLogger(__name__)
_parse = undecodable.lenient(runtime_pb2.PredictRequest.FromString)
_parse_infer = undecodable.lenient(oip.ModelInferRequest.FromString)
#: What each kind of call frame is counted as.
_RPC = {link_frames.CALL: "Predict", link_frames.INFER: "ModelInfer"}
Outcome = tuple[bool, bytes, str, str]  # ok, response or google.rpc.Status, model, code name


class LinkServer:
    """Serves the predict link on a Unix socket.

    >>> link = LinkServer(engine, plane, metrics)  # doctest: +SKIP
    >>> await link.start(Path("/run/modelrt/predict.sock"))  # doctest: +SKIP
    """

    def __init__(
        self,
        engine: Engine,
        plane: OipDataPlane,
        metrics: Metrics | None,
        on_call: Callable[[int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._plane = plane
        self._metrics = metrics
        self._on_call = on_call  # called with the helper front end's slot, once per call
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, path: Path) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=str(path))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            slot = link_frames.parse_hello(await reader.readexactly(link_frames.HELLO.size))
            header_size = link_frames.CALL_HEADER.size
            calls: dict[int, asyncio.Task[None]] = {}
            while True:
                header = await reader.readexactly(header_size)
                kind, size, call_id, left = link_frames.parse_call_header(header)
                if kind == link_frames.CANCEL:
                    if (running := calls.get(call_id)) is not None:
                        running.cancel()
                    continue
                payload = await reader.readexactly(size)
                answer = self._answer(writer, slot, kind, call_id, left, payload)
                task = asyncio.create_task(answer)
                calls[call_id] = task
                self._tasks.add(task)
                task.add_done_callback(partial(_forget, calls, call_id, self._tasks))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the front end went away: its calls' replies have nowhere to go
        except link_frames.FrameError as exc:
            logger.error("predict link: %s; connection closed", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        slot: int,
        kind: int,
        call_id: int,
        left: float | None,
        payload: bytes,
    ) -> None:
        start = time.monotonic()
        rpc = _RPC[link_frames.Kind(kind)]
        try:
            if kind == link_frames.INFER:
                ok, body, model, code = await self._infer(payload, left)
            else:
                ok, body, model, code = await self._predict(payload, left)
        except asyncio.CancelledError:  # the caller went away: no reply
            late = left is not None and time.monotonic() - start >= left - DEADLINE_SLACK_S
            if self._metrics is not None:
                code = "DEADLINE_EXCEEDED" if late else "CANCELLED"
                parse = _parse_infer if kind == link_frames.INFER else _parse
                model = model_of(parse(payload))
                self._metrics.observe_request(model, rpc, code, time.monotonic() - start)
            raise
        if self._metrics is not None:
            model = "" if code == "NOT_FOUND" else model  # as rpc_metrics: no unbounded labels
            self._metrics.observe_request(model, rpc, code, time.monotonic() - start)
        if self._on_call is not None:
            self._on_call(slot)
        if writer.is_closing():
            return
        writer.write(link_frames.encode_reply(call_id, ok, body))
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _predict(self, payload: bytes, left: float | None) -> Outcome:
        """(ok, PredictResponse or google.rpc.Status bytes, model, status code name)."""
        model = ""
        try:
            request = _decoded(_parse, payload, "Predict")
            model = model_of(request)
            check_model_ref(request.model, request.version, field="model")
            record = self._engine.resolve(request.model, request.version, "predict")
            rid = request_id(request.request_id)
            answer = await self._engine.predict(record, (payload, rid), left)
            return True, response_bytes(record.name, record.version, rid, answer), model, "OK"
        except Exception as exc:
            return _failed(exc, model, "Predict")

    async def _infer(self, payload: bytes, left: float | None) -> Outcome:
        """(ok, ModelInferResponse or google.rpc.Status bytes, model, status code name), as
        the GRPCInferenceService servicer answers ModelInfer."""
        model = ""
        try:
            request = _decoded(_parse_infer, payload, "ModelInfer")
            model = model_of(request)
            response = await self._plane.infer(request, left)
            return True, response.SerializeToString(), model, "OK"
        except Exception as exc:
            return _failed(exc, model, "ModelInfer")


def _decoded(parse: Callable[[bytes], Any], payload: bytes, rpc: str) -> Any:
    """The request ``payload`` holds; its refusal (logged) when it does not parse."""
    request = parse(payload)
    if type(request) is undecodable.Undecodable:
        undecodable.log_refusal(rpc, request)
        raise request.error()
    return request


def _failed(exc: Exception, model: str, rpc: str) -> Outcome:
    error = exc if isinstance(exc, ModelrtError) else internal_error(exc, rpc)
    return False, _status(error), model, grpc_code(error).name


def _forget(
    calls: dict[int, asyncio.Task[None]],
    call_id: int,
    tasks: set[asyncio.Task[None]],
    task: asyncio.Task[None],
) -> None:
    calls.pop(call_id, None)
    tasks.discard(task)


def _status(error: ModelrtError) -> bytes:
    data: bytes = rpc_status_of(error).SerializeToString()
    return data
