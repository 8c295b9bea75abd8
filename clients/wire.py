"""Protobuf <-> SDK conversions shared by both clients: request messages in, dataclasses out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from google.protobuf import struct_pb2

from clients.errors import ItemError, status_code
from clients.types import InputSpec, ModelInfo, Prediction, StreamItem
from modelrt.codec import (
    dict_to_struct,
    dtype_name,
    json_to_python,
    python_to_value,
    struct_to_dict,
    to_typed,
    value_to_python,
)
from modelrt.v1 import model_pb2, runtime_pb2, value_pb2

Inputs = Mapping[str, Any]
StreamResponse = runtime_pb2.GenerateResponse | runtime_pb2.StreamResponse


def encode_inputs(inputs: Inputs | None, typed: bool = False) -> dict[str, value_pb2.Value]:
    """Encode named inputs: ndarray -> tensor, bytes -> data, str -> text, else JSON.

    A value that already is a ``modelrt.v1.Value`` is sent as it is; ``typed`` sends tensors in
    the typed (``*_contents``) form instead of raw_data.

    >>> encode_inputs({"text": "hi"})["text"].text
    'hi'
    """
    encoded: dict[str, value_pb2.Value] = {}
    for name, value in (inputs or {}).items():
        if not isinstance(value, value_pb2.Value):
            encoded[name] = python_to_value(value, typed=typed)
        elif typed and value.HasField("tensor"):  # a tensor built elsewhere (the CLI's --input)
            encoded[name] = value_pb2.Value()
            encoded[name].CopyFrom(value)
            to_typed(encoded[name].tensor)
        else:
            encoded[name] = value
    return encoded


def output_form(typed: bool) -> value_pb2.TensorForm.ValueType:
    """The TensorForm to ask for: typed or raw."""
    return value_pb2.TENSOR_FORM_TYPED if typed else value_pb2.TENSOR_FORM_RAW


def predict_request(
    model: str,
    inputs: Inputs | None,
    version: str = "",
    parameters: Mapping[str, Any] | None = None,
    request_id: str = "",
    typed: bool = False,
) -> runtime_pb2.PredictRequest:
    """Build a PredictRequest.

    >>> predict_request("echo", {"x": 1}).model
    'echo'
    """
    return runtime_pb2.PredictRequest(
        model=model,
        version=version,
        inputs=encode_inputs(inputs, typed),
        parameters=dict_to_struct(parameters),
        request_id=request_id,
        output_form=output_form(typed),
    )


def generate_request(
    model: str,
    inputs: Inputs | None,
    version: str = "",
    parameters: Mapping[str, Any] | None = None,
    request_id: str = "",
    typed: bool = False,
) -> runtime_pb2.GenerateRequest:
    """Build a GenerateRequest.

    >>> generate_request("llm", {"prompt": "hi"}, parameters={"n": 8}).parameters["n"]
    8.0
    """
    return runtime_pb2.GenerateRequest(
        model=model,
        version=version,
        inputs=encode_inputs(inputs, typed),
        parameters=dict_to_struct(parameters),
        request_id=request_id,
        output_form=output_form(typed),
    )


def stream_request(
    inputs: Inputs | None,
    parameters: struct_pb2.Struct,
    *,
    first: bool,
    model: str,
    version: str = "",
    request_id: str = "",
    typed: bool = False,
) -> runtime_pb2.StreamRequest:
    """Build one StreamRequest; model, version and request id travel in the first one only.

    >>> stream_request({"text": "hi"}, dict_to_struct(None), first=True, model="asr").model
    'asr'
    """
    if not first:
        return runtime_pb2.StreamRequest(inputs=encode_inputs(inputs, typed), parameters=parameters)
    return runtime_pb2.StreamRequest(
        model=model,
        version=version,
        inputs=encode_inputs(inputs, typed),
        parameters=parameters,
        request_id=request_id,
        output_form=output_form(typed),
    )


def decode_outputs(outputs: Mapping[str, value_pb2.Value]) -> dict[str, Any]:
    """Decode named output Values into numpy arrays, bytes, str or JSON values.

    >>> decode_outputs({"img": value_pb2.Value(data=b"PNG")})
    {'img': b'PNG'}
    """
    return {name: value_to_python(value) for name, value in outputs.items()}


def _structured(message: Any) -> Any:
    return json_to_python(message.structured) if message.HasField("structured") else None


def prediction_from_proto(response: runtime_pb2.PredictResponse) -> Prediction:
    """Turn a PredictResponse into a Prediction.

    >>> prediction_from_proto(runtime_pb2.PredictResponse(model="echo")).model
    'echo'
    """
    return Prediction(
        model=response.model,
        version=response.version,
        request_id=response.request_id,
        outputs=decode_outputs(response.outputs),
        structured=_structured(response),
    )


def item_error_from_proto(error: value_pb2.ItemError) -> ItemError:
    """Turn a wire ItemError into the SDK's ItemError.

    >>> item_error_from_proto(value_pb2.ItemError(code=3, message="bad")).code.name
    'INVALID_ARGUMENT'
    """
    return ItemError(
        code=status_code(error.code),
        message=error.message,
        reason=error.reason,
        error_id=error.error_id or None,
    )


def stream_item_from_proto(response: StreamResponse) -> StreamItem:
    """Turn a GenerateResponse or StreamResponse into a StreamItem.

    >>> stream_item_from_proto(runtime_pb2.GenerateResponse(index=1)).index
    1
    """
    error = item_error_from_proto(response.error) if response.HasField("error") else None
    return StreamItem(
        index=response.index,
        model=response.model,
        version=response.version,
        request_id=response.request_id,
        outputs=decode_outputs(response.outputs),
        structured=_structured(response),
        error=error,
    )


def _enum_name(enum: Any, number: int, prefix: str) -> str:
    try:
        name: str = enum.Name(number)
    except ValueError:
        return str(number)
    return "" if name.endswith("_UNSPECIFIED") else name.removeprefix(prefix)


def input_spec_from_proto(spec: model_pb2.TensorSpec) -> InputSpec:
    """Turn a TensorSpec into an InputSpec (shape None means any shape).

    >>> input_spec_from_proto(model_pb2.TensorSpec(name="t", kind="text")).shape is None
    True
    """
    typed = spec.dtype != value_pb2.DATA_TYPE_UNSPECIFIED
    return InputSpec(
        name=spec.name,
        kind=spec.kind or ("tensor" if typed else ""),
        dtype=dtype_name(spec.dtype) if typed else None,
        shape=tuple(spec.shape) if spec.shape or typed else None,
        optional=spec.optional,
    )


def model_info_from_proto(model: model_pb2.Model) -> ModelInfo:
    """Turn a Model message into a ModelInfo.

    >>> model_info_from_proto(model_pb2.Model(name="echo", state=2)).state
    'READY'
    """
    state_time = None
    if model.HasField("state_time"):
        state_time = model.state_time.ToDatetime(tzinfo=UTC)
    return ModelInfo(
        name=model.name,
        version=model.version,
        state=_enum_name(model_pb2.ModelState, model.state, "MODEL_STATE_") or "UNSPECIFIED",
        reason=model.reason,
        model_type=_enum_name(model_pb2.ModelType, model.card.model_type, "MODEL_TYPE_").lower(),
        framework=_enum_name(model_pb2.Framework, model.card.framework, "FRAMEWORK_").lower(),
        description=model.card.description,
        labels=tuple(model.card.labels),
        capabilities=tuple(model.capabilities),
        inputs=tuple(input_spec_from_proto(spec) for spec in model.inputs),
        output_schema=struct_to_dict(model.output_schema)
        if model.HasField("output_schema")
        else None,
        warnings=tuple(model.warnings),
        max_batch_size=model.max_batch_size,
        source=model.source,
        format=_enum_name(model_pb2.BundleFormat, model.format, "BUNDLE_FORMAT_").lower(),
        state_time=state_time,
    )
