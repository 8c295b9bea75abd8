"""The Open Inference Protocol's operations, once, for every transport that speaks it.

The gRPC servicer (oip_servicer) and the HTTP routes (http/routes_oip) both call this: a
ModelInferRequest becomes a serialized PredictRequest and goes through ``engine.predict`` or
``engine.generate``; answers come back as ModelInferResponses with raw or typed contents, as
oip_tensors writes them. Errors are raised as ModelrtErrors; each transport maps them.

>>> plane = OipDataPlane(engine, health)  # doctest: +SKIP
>>> await plane.infer(oip.ModelInferRequest(model_name="iris"), None)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import AsyncGenerator, Sequence

from loader.config import InputSpec
from modelrt.oip import grpc_service_pb2 as oip
from modelrt.oip import model_config_pb2 as mc
from modelrt.v1 import runtime_pb2
from registry.errors import ModelrtError
from runtime.api import oip_models, oip_tensors
from runtime.api.health import LIVENESS, READINESS, SERVING, ModelHealthServicer
from runtime.api.servicer import request_id
from runtime.engine.engine import Engine
from runtime.engine.models import ModelRecord, ModelState, check_model_ref
from runtime.errors import ModelNotReadyError
from runtime.instances import wire
from runtime.instances.outputs import ItemFailure
from runtime.metrics.metrics import Metrics

#: The protocol extensions every transport serves (a transport may add its own).
EXTENSIONS = ("model_repository", "model_configuration", "statistics", "parameters")


def server_version() -> str:
    """modelrt's installed version ("" when it runs from a checkout that is not installed)."""
    try:
        return importlib.metadata.version("modelrt")
    except importlib.metadata.PackageNotFoundError:
        return ""


def specs_of(record: ModelRecord) -> Sequence[InputSpec]:
    """The inputs ``record``'s bundle declares (none when it is not prepared)."""
    return record.prepared.config.inputs if record.prepared is not None else ()


class OipDataPlane:
    """The Open Inference Protocol over an Engine; health statuses from ``health``."""

    def __init__(
        self, engine: Engine, health: ModelHealthServicer, metrics: Metrics | None = None
    ) -> None:
        self.engine = engine
        self.health = health
        self.metrics = metrics
        self.seen = oip_models.OutputsSeen()
        engine.on_forget(self.seen.forget)

    # -- health and descriptions -----------------------------------------------------------------

    def live(self) -> bool:
        return bool(self.health.status(LIVENESS) == SERVING)

    def ready(self) -> bool:
        return bool(self.health.status(READINESS) == SERVING)

    def model_ready(self, name: str, version: str = "") -> bool:
        """Without a version, the model's health service; else whether that version serves."""
        check_model_ref(name, version)
        if not version:
            return bool(self.health.status(name) == SERVING)
        try:
            return self.engine.get(name, version).serving
        except ModelrtError:
            return False

    def server_metadata(self, extensions: Sequence[str] = EXTENSIONS) -> oip.ServerMetadataResponse:
        return oip.ServerMetadataResponse(
            name="modelrt", version=server_version(), extensions=list(extensions)
        )

    def _versions(self, name: str) -> list[str]:
        records = self.engine.records(name)
        ready = [r.version for r in records if r.state is ModelState.READY]
        return ready or [r.version for r in records]

    def model_metadata(self, name: str, version: str = "") -> oip.ModelMetadataResponse:
        record = self.engine.get(name, version)
        return oip_models.metadata(record, self._versions(record.name), self.seen)

    def model_config(self, name: str, version: str = "") -> mc.ModelConfig:
        return oip_models.model_config(self.engine.get(name, version), self.seen)

    def statistics(self, name: str = "", version: str = "") -> list[oip.ModelStatistics]:
        """Every model's statistics (once each: the tallies are per model), or ``name``'s."""
        if name:
            records = [self.engine.get(name, version)]
        else:
            names = sorted({r.name for r in self.engine.records()})
            records = [self.engine.get(each) for each in names]
        return [oip_models.statistics(record, self.metrics) for record in records]

    # -- repository ------------------------------------------------------------------------------

    def repository_index(self, ready: bool = False) -> list[oip.RepositoryIndexResponse.ModelIndex]:
        records = self.engine.records()
        if ready:
            records = [r for r in records if r.state is ModelState.READY]
        return [oip_models.index_entry(r) for r in records]

    async def load(self, name: str) -> None:
        """(Re)load ``name``; NOT_READY when it does not come up READY."""
        check_model_ref(name, field="model_name")
        record = await self.engine.load(name)
        if record.state is not ModelState.READY:
            detail = f": {record.reason}" if record.reason else ""
            raise ModelNotReadyError(
                f"model {record.name!r} version {record.version} is {record.state}{detail}",
                metadata={"model": record.name, "state": str(record.state)},
            )

    async def unload(self, name: str) -> None:
        check_model_ref(name, field="model_name")
        await self.engine.unload(name)

    # -- inference -------------------------------------------------------------------------------

    def found(self, request: oip.ModelInferRequest) -> ModelRecord:
        """The version ``request`` names, whatever its state (to see what it can do)."""
        check_model_ref(request.model_name, request.model_version, field="model_name")
        return self.engine.get(request.model_name, request.model_version)

    def resolve(self, request: oip.ModelInferRequest, capability: str) -> ModelRecord:
        """The READY version that serves ``request`` with ``capability``."""
        check_model_ref(request.model_name, request.model_version, field="model_name")
        return self.engine.resolve(request.model_name, request.model_version, capability)

    def answer(
        self,
        request: oip.ModelInferRequest,
        record: ModelRecord,
        answer: runtime_pb2.PredictResponse | runtime_pb2.GenerateResponse,
    ) -> oip.ModelInferResponse:
        values = oip_tensors.outputs_of(answer)
        self.seen.note(record.name, record.version, values)
        head = {"model": record.name, "version": record.version}
        return oip_tensors.to_infer_response(request, values, head)

    async def predict(
        self, request: oip.ModelInferRequest, record: ModelRecord, seconds_left: float | None
    ) -> oip.ModelInferResponse:
        """Run ``request`` once on ``record`` (resolved for predict)."""
        message = oip_tensors.to_predict_request(request, specs_of(record))
        wired = (message.SerializeToString(), request_id(request.id))
        seconds = oip_tensors.queue_seconds(request.parameters, seconds_left)
        answer = await self.engine.predict(record, wired, seconds)
        parsed = runtime_pb2.PredictResponse.FromString(answer)  # type: ignore[arg-type]
        return self.answer(request, record, parsed)

    async def infer(
        self, request: oip.ModelInferRequest, seconds_left: float | None
    ) -> oip.ModelInferResponse:
        """ModelInfer: one request, one response."""
        return await self.predict(request, self.resolve(request, "predict"), seconds_left)

    def generate(
        self, request: oip.ModelInferRequest, record: ModelRecord
    ) -> AsyncGenerator[oip.ModelInferResponse | Exception, None]:
        """One response per item ``record`` (resolved for generate) yields; an item that fails
        is its error (a ModelrtError, or an unexpected exception) and the call goes on.

        The request is converted before this returns, so a malformed one raises here; the
        model's own refusal of it raises from the iterator."""
        message = oip_tensors.to_predict_request(request, specs_of(record))
        wired = (message.SerializeToString(), request_id(request.id))
        return self._items(request, record, wired)

    async def _items(
        self, request: oip.ModelInferRequest, record: ModelRecord, wired: tuple[bytes, str]
    ) -> AsyncGenerator[oip.ModelInferResponse | Exception, None]:
        items = self.engine.generate(record, wired)
        async with contextlib.aclosing(items):
            async for item in items:
                if isinstance(item, ItemFailure):
                    yield item.error
                    continue
                reply = runtime_pb2.GenerateResponse()
                response: oip.ModelInferResponse | Exception
                try:
                    wire.write_output(reply, item)
                    response = self.answer(request, record, reply)
                except ModelrtError as exc:
                    response = exc
                except Exception as exc:  # an output the wire cannot carry fails this item only
                    response = wire.unsendable(record.name, exc)
                yield response
