"""Open Inference Protocol descriptions of models: metadata, Triton's model_config, statistics.

Inputs come from the bundle's declared inputs; outputs from its declared outputs, else from the
answers the model has given so far (``OutputsSeen``), plus ``structured`` when it registers an
output schema. modelrt batches requests as a list and never adds a batch dimension, so the
model_config says ``max_batch_size: 0`` (shapes are sent whole, as declared) and keeps the
bundle's batch limit in ``parameters``.

>>> OutputsSeen().known("iris", "1")
[]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from loader.config import BundleConfig, InputSpec
from modelrt.oip import grpc_service_pb2 as oip
from modelrt.oip import model_config_pb2 as mc
from modelrt.v1 import value_pb2
from runtime.api.oip_tensors import STRUCTURED_OUTPUT, datatype_of, datatype_of_name
from runtime.engine.models import ModelRecord, ModelState
from runtime.metrics.metrics import Metrics

TensorMetadata = oip.ModelMetadataResponse.TensorMetadata
#: Triton platform names of the frameworks Triton knows by one.
PLATFORMS = {
    "onnx": "onnxruntime_onnx",
    "pytorch": "pytorch_libtorch",
    "tensorflow": "tensorflow_savedmodel",
}
BACKEND = "modelrt"
#: The RPCs that run a model, counted in ModelStatistics.
INFER_RPCS = ("Predict", "Generate", "Stream", "ModelInfer", "ModelStreamInfer")
_KINDS = {
    "auto": mc.ModelInstanceGroup.KIND_AUTO,
    "cpu": mc.ModelInstanceGroup.KIND_CPU,
    "gpu": mc.ModelInstanceGroup.KIND_GPU,
}
_CONFIG_TYPES = {
    "BOOL": mc.TYPE_BOOL,
    "UINT8": mc.TYPE_UINT8,
    "UINT16": mc.TYPE_UINT16,
    "UINT32": mc.TYPE_UINT32,
    "UINT64": mc.TYPE_UINT64,
    "INT8": mc.TYPE_INT8,
    "INT16": mc.TYPE_INT16,
    "INT32": mc.TYPE_INT32,
    "INT64": mc.TYPE_INT64,
    "FP16": mc.TYPE_FP16,
    "FP32": mc.TYPE_FP32,
    "FP64": mc.TYPE_FP64,
    "BF16": mc.TYPE_BF16,
    "BYTES": mc.TYPE_STRING,  # model_config's name for BYTES
}
Shape = tuple[int, ...]
MAX_OUTPUTS_SEEN = 256  # output names remembered per model version


class OutputsSeen:
    """The outputs (name, datatype, rank) each model version has answered with so far."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], dict[str, tuple[str, int]]] = {}

    def note(self, model: str, version: str, values: Mapping[str, value_pb2.Value]) -> None:
        seen = self._seen.setdefault((model, version), {})
        for name, value in values.items():
            if len(seen) >= MAX_OUTPUTS_SEEN and name not in seen:
                continue  # a model inventing output names cannot grow this without bound
            if value.WhichOneof("kind") == "tensor":
                seen[name] = (datatype_of(value.tensor.dtype), len(value.tensor.shape))
            else:
                seen[name] = ("BYTES", 1)

    def known(self, model: str, version: str) -> list[tuple[str, str, Shape]]:
        """(name, datatype, shape with every dimension -1) of each output seen."""
        seen = self._seen.get((model, version), {})
        return [(name, dtype, (-1,) * rank) for name, (dtype, rank) in sorted(seen.items())]

    def forget(self, model: str) -> None:
        for key in [key for key in self._seen if key[0] == model]:
            del self._seen[key]


def input_datatype(spec: InputSpec) -> str:
    """The v2 datatype of a declared input (text, bytes and JSON inputs are BYTES)."""
    return "BYTES" if spec.kind != "tensor" else datatype_of_name(spec.dtype)


def _input_shape(spec: InputSpec) -> Shape:
    if spec.kind != "tensor":
        return (1,)
    return tuple(spec.shape) if spec.shape is not None else (-1,)


def _outputs(record: ModelRecord, seen: OutputsSeen) -> list[tuple[str, str, Shape]]:
    """What is known of the outputs: declared names, else those seen; ``structured`` too."""
    config = record.prepared.config if record.prepared is not None else None
    found = seen.known(record.name, record.version)
    if config is not None and config.outputs:
        dtypes = {name: (dtype, shape) for name, dtype, shape in found}
        outputs = [(spec.name, *dtypes.get(spec.name, ("", (-1,)))) for spec in config.outputs]
    else:
        outputs = [item for item in found if item[0] != STRUCTURED_OUTPUT]
    if record.output_schema is not None or any(i[0] == STRUCTURED_OUTPUT for i in found):
        outputs.append((STRUCTURED_OUTPUT, "BYTES", (1,)))
    return outputs


def _platform(config: BundleConfig | None) -> str:
    return PLATFORMS.get(config.framework, "") if config is not None else ""


def metadata(
    record: ModelRecord, versions: Sequence[str], seen: OutputsSeen
) -> oip.ModelMetadataResponse:
    config = record.prepared.config if record.prepared is not None else None
    specs = config.inputs if config is not None else ()
    return oip.ModelMetadataResponse(
        name=record.name,
        versions=list(versions),
        platform=_platform(config) or BACKEND,
        inputs=[
            TensorMetadata(name=spec.name, datatype=input_datatype(spec), shape=_input_shape(spec))
            for spec in specs
        ],
        outputs=[
            TensorMetadata(name=name, datatype=dtype, shape=shape)
            for name, dtype, shape in _outputs(record, seen)
        ],
    )


def model_config(record: ModelRecord, seen: OutputsSeen) -> mc.ModelConfig:
    """Triton's model_config for ``record``: enough for Triton's tools to drive it."""
    prepared = record.prepared
    config = mc.ModelConfig(name=record.name, backend=BACKEND, max_batch_size=0)
    if prepared is None:
        return config
    bundle = prepared.config
    config.platform = _platform(bundle)
    for spec in bundle.inputs:
        config.input.add(
            name=spec.name,
            data_type=_CONFIG_TYPES.get(input_datatype(spec), mc.TYPE_INVALID),
            dims=_input_shape(spec),
            optional=spec.optional,
        )
    for name, dtype, shape in _outputs(record, seen):
        config.output.add(
            name=name, data_type=_CONFIG_TYPES.get(dtype, mc.TYPE_INVALID), dims=shape
        )
    for group in bundle.instances:
        config.instance_group.add(count=group.count, kind=_KINDS[group.kind], gpus=group.gpus)
    batching = bundle.batching
    if batching.max_batch_size > 0:
        config.dynamic_batching.preferred_batch_size.extend(batching.preferred_batch_sizes)
        config.dynamic_batching.max_queue_delay_microseconds = int(
            batching.max_queue_delay_ms * 1000
        )
        config.parameters["modelrt_max_batch_size"].string_value = str(batching.max_batch_size)
    config.parameters["modelrt_capabilities"].string_value = ",".join(record.capabilities)
    return config


def _duration(count: float, seconds: float) -> oip.StatisticDuration:
    return oip.StatisticDuration(count=int(count), ns=int(seconds * 1e9))


def statistics(record: ModelRecord, metrics: Metrics | None) -> oip.ModelStatistics:
    """Counts and times of ``record``'s model, from the tallies the metrics export.

    The tallies are per model, not per version. Request counts exist when metrics are served
    (``metrics_port``); queue and batch tallies always. ``success`` and ``fail`` each hold
    their calls' count and time, from the start of the call to its answer.
    """
    stats = oip.ModelStatistics(name=record.name, version=record.version)
    if metrics is None:
        return stats
    name = record.name
    ok = failed = 0.0
    for (model, rpc, code), value in metrics.requests.items():
        if model == name and rpc in INFER_RPCS:
            if code == "OK":
                ok += value
            else:
                failed += value
    seconds = sum(metrics.request_duration.totals((name, rpc))[1] for rpc in INFER_RPCS)
    failed_seconds = sum(metrics.failed_seconds(name, rpc) for rpc in INFER_RPCS)
    stats.inference_stats.success.CopyFrom(_duration(ok, max(0.0, seconds - failed_seconds)))
    stats.inference_stats.fail.CopyFrom(_duration(failed, failed_seconds))
    queued, waited = metrics.queue_duration.totals((name,))
    stats.inference_stats.queue.CopyFrom(_duration(queued, waited))
    batches, requests = metrics.batch_size.totals((name,))
    stats.execution_count = int(batches)
    stats.inference_count = int(requests)
    return stats


_STATES = {
    ModelState.READY: "READY",
    ModelState.LOADING: "LOADING",
    ModelState.FAILED: "UNAVAILABLE",
    ModelState.UNLOADED: "UNAVAILABLE",
}


def index_entry(record: ModelRecord) -> oip.RepositoryIndexResponse.ModelIndex:
    """A model version as RepositoryIndex lists it (Triton's state words)."""
    return oip.RepositoryIndexResponse.ModelIndex(
        name=record.name,
        version=record.version,
        state=_STATES[record.state],
        reason=record.reason,
    )
