"""Protobuf <-> domain conversions for the servicer: upload headers, model records, item errors.

Model inputs and outputs are converted in runtime/instances/wire.py.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, timestamp_pb2

from loader.config import InputSpec
from modelrt import codec
from modelrt.v1 import model_pb2, runtime_pb2, value_pb2
from registry.errors import ModelrtError
from runtime.api.status import code_number
from runtime.engine.models import ModelRecord, ModelState
from runtime.engine.uploads import UploadHeader

STATES = {
    ModelState.LOADING: model_pb2.MODEL_STATE_LOADING,
    ModelState.READY: model_pb2.MODEL_STATE_READY,
    ModelState.FAILED: model_pb2.MODEL_STATE_FAILED,
    ModelState.UNLOADED: model_pb2.MODEL_STATE_UNLOADED,
}
FORMATS = {
    "native": model_pb2.BUNDLE_FORMAT_NATIVE,
    "gesund": model_pb2.BUNDLE_FORMAT_GESUND,
    "clarifai": model_pb2.BUNDLE_FORMAT_CLARIFAI,
}


FORMAT_NAMES = {number: name for name, number in FORMATS.items()}


def _enum_word(enum: Any, prefix: str, number: int) -> str:
    """``MODEL_TYPE_OBJECT_DETECTION`` -> "object_detection"; "" when unspecified or unknown."""
    if number == 0 or number not in enum.values():
        return ""
    return str(enum.Name(number)).removeprefix(prefix).lower()


def upload_header(header: runtime_pb2.UploadHeader) -> UploadHeader:
    """The wire UploadHeader as the engine's UploadHeader; unset card fields are left out."""
    card = header.card
    fields = {
        "model_type": _enum_word(model_pb2.ModelType, "MODEL_TYPE_", card.model_type),
        "framework": _enum_word(model_pb2.Framework, "FRAMEWORK_", card.framework),
        "description": card.description,
        "labels": list(card.labels),
    }
    return UploadHeader(
        namespace=header.namespace,
        version=header.version,
        format=FORMAT_NAMES.get(header.format, ""),
        total_size=header.total_size,
        sha256=header.sha256.lower(),
        card={key: value for key, value in fields.items() if value},
        skip_load=header.skip_load,
    )


def item_error(error: Exception) -> value_pb2.ItemError:
    """A per-item error for a stream response."""
    if isinstance(error, ModelrtError):
        return value_pb2.ItemError(
            code=code_number(error),
            message=error.message,
            reason=error.reason,
            error_id=error.metadata.get("error_id", ""),
        )
    return value_pb2.ItemError(code=13, message=type(error).__name__, reason="INTERNAL")


def _input_spec(spec: InputSpec) -> model_pb2.TensorSpec:
    return model_pb2.TensorSpec(
        name=spec.name,
        dtype=codec.DTYPE_NAMES.get(spec.dtype or "", 0),  # type: ignore[arg-type]
        shape=list(spec.shape or ()),
        kind=spec.kind,
        optional=spec.optional,
    )


def model_message(record: ModelRecord) -> model_pb2.Model:
    """A ModelRecord as the wire Model message."""
    message = model_pb2.Model(
        name=record.name,
        version=record.version,
        state=STATES[record.state],
        reason=record.reason,
        capabilities=list(record.capabilities),
        warnings=list(record.warnings),
        source=str(record.source),
        state_time=timestamp_pb2.Timestamp(
            seconds=int(record.state_time.timestamp()), nanos=record.state_time.microsecond * 1000
        ),
    )
    prepared = record.prepared
    if prepared is not None:
        config = prepared.config
        message.format = FORMATS.get(prepared.format, model_pb2.BUNDLE_FORMAT_UNSPECIFIED)
        message.card.CopyFrom(
            model_pb2.ModelCard(
                model_type=model_pb2.ModelType.Value(f"MODEL_TYPE_{config.model_type.upper()}"),
                framework=model_pb2.Framework.Value(f"FRAMEWORK_{config.framework.upper()}"),
                description=config.description,
                labels=list(config.labels),
            )
        )
        message.inputs.extend(_input_spec(spec) for spec in config.inputs)
        message.max_batch_size = config.batching.max_batch_size
    schema = record.output_schema
    if schema is not None:
        json_format.ParseDict(schema, message.output_schema)
    return message
