"""Open Inference Protocol tensors <-> modelrt.v1 values: v2 datatypes, raw and typed contents.

A ModelInferRequest becomes a modelrt.v1 PredictRequest (the instance decodes and checks it,
as it does every Predict); an answer's values become v2 output tensors. Values that are not
tensors (bytes, text, JSON) and the structured output travel as BYTES tensors of one element.

>>> datatype_of(value_pb2.DATA_TYPE_FLOAT32)
'FP32'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format, struct_pb2

from loader.config import InputSpec
from modelrt import codec
from modelrt.oip import grpc_service_pb2 as oip
from modelrt.v1 import runtime_pb2, value_pb2
from registry.errors import InvalidInputError
from runtime.errors import BadRequestError

if TYPE_CHECKING:
    pass

#: The name of the BYTES output that carries a model's structured (JSON) output.
STRUCTURED_OUTPUT = "structured"
#: v2 datatype -> modelrt.v1 DataType (BYTES maps to STRING for an input declared as string).
DATATYPES: dict[str, int] = {
    "BOOL": value_pb2.DATA_TYPE_BOOL,
    "UINT8": value_pb2.DATA_TYPE_UINT8,
    "UINT16": value_pb2.DATA_TYPE_UINT16,
    "UINT32": value_pb2.DATA_TYPE_UINT32,
    "UINT64": value_pb2.DATA_TYPE_UINT64,
    "INT8": value_pb2.DATA_TYPE_INT8,
    "INT16": value_pb2.DATA_TYPE_INT16,
    "INT32": value_pb2.DATA_TYPE_INT32,
    "INT64": value_pb2.DATA_TYPE_INT64,
    "FP16": value_pb2.DATA_TYPE_FLOAT16,
    "BF16": value_pb2.DATA_TYPE_BFLOAT16,
    "FP32": value_pb2.DATA_TYPE_FLOAT32,
    "FP64": value_pb2.DATA_TYPE_FLOAT64,
    "BYTES": value_pb2.DATA_TYPE_BYTES,
}
_NAMES = {number: name for name, number in DATATYPES.items()}
_NAMES[value_pb2.DATA_TYPE_STRING] = "BYTES"
#: The InferTensorContents field of each datatype that has one (FP16 and BF16 are raw only).
CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
#: v2 datatype -> numpy dtype name of its raw bytes.
NUMPY_DTYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "BF16": "<u2",
    "FP32": "<f4",
    "FP64": "<f8",
}


def datatype_of(dtype: int) -> str:
    """The v2 datatype of a modelrt.v1 DataType ("" for none)."""
    return _NAMES.get(dtype, "")


def datatype_of_name(name: str | None) -> str:
    """The v2 datatype of a dtype as configs write it ("float32" -> "FP32"; "" when unknown)."""
    return datatype_of(codec.DTYPE_NAMES.get(name or "", 0))


# -- requests -------------------------------------------------------------------------------------


def split_bytes(raw: bytes, name: str) -> list[bytes]:
    """BYTES raw contents: each element a 4-byte little-endian length, then its bytes."""
    items: list[bytes] = []
    view = memoryview(raw)
    at = 0
    while at < len(view):
        if at + 4 > len(view):
            raise InvalidInputError(
                f"input {name!r}: BYTES raw contents end inside an element's length prefix",
                metadata={"input": name},
            )
        size = int.from_bytes(view[at : at + 4], "little")
        at += 4
        if at + size > len(view):
            raise InvalidInputError(
                f"input {name!r}: a BYTES element announces {size} bytes past the end of its "
                "raw contents",
                metadata={"input": name},
            )
        items.append(bytes(view[at : at + size]))
        at += size
    return items


def _typed_raw(tensor: Any, datatype: str) -> bytes:
    """Numeric typed contents as little-endian raw bytes, counted against the shape."""
    import numpy as np

    name = tensor.name
    field = CONTENTS_FIELDS.get(datatype)
    if field is None:
        raise InvalidInputError(
            f"input {name!r}: {datatype} has no typed contents; send it in raw_input_contents",
            metadata={"input": name},
        )
    values = getattr(tensor.contents, field)
    try:
        count = codec.element_count(list(tensor.shape))
    except codec.CodecError as exc:
        raise InvalidInputError(f"input {name!r}: {exc}", metadata={"input": name}) from None
    if len(values) != count:
        raise InvalidInputError(
            f"input {name!r}: shape {list(tensor.shape)} needs {count} elements in "
            f"contents.{field}, got {len(values)}",
            metadata={"input": name},
        )
    try:
        return np.asarray(list(values), dtype=NUMPY_DTYPES[datatype]).tobytes()
    except (OverflowError, ValueError) as exc:
        raise InvalidInputError(
            f"input {name!r}: a value does not fit {datatype}: {exc}", metadata={"input": name}
        ) from None


def _elements(tensor: Any, raw: bytes | None) -> list[bytes]:
    if raw is not None:
        return split_bytes(raw, tensor.name)
    return list(tensor.contents.bytes_contents)


def _one_element(tensor: Any, raw: bytes | None, kind: str) -> bytes:
    items = _elements(tensor, raw)
    if len(items) != 1:
        raise InvalidInputError(
            f"input {tensor.name!r} is {kind}: send one BYTES element, got {len(items)}",
            metadata={"input": tensor.name},
        )
    return items[0]


def _write_input(value: value_pb2.Value, tensor: Any, raw: bytes | None, spec: Any) -> None:
    """One v2 input tensor as a modelrt.v1 Value, as the model's declared input wants it."""
    name, datatype = tensor.name, tensor.datatype
    kind = spec.kind if spec is not None else "tensor"
    if kind != "tensor":
        if datatype != "BYTES":
            raise InvalidInputError(
                f"input {name!r} is {kind}: send it as a BYTES tensor, not {datatype}",
                metadata={"input": name},
            )
        element = _one_element(tensor, raw, kind)
        if kind == "bytes":
            value.data = element
        elif kind == "text":
            value.text = _utf8(element, name)
        else:
            _parse_json(value.json, element, name)
        return
    if datatype not in DATATYPES:
        known = ", ".join(DATATYPES)
        raise InvalidInputError(
            f"input {name!r}: datatype {datatype!r} is not one of {known}",
            metadata={"input": name},
        )
    target = value.tensor
    target.shape.extend(tensor.shape)
    if datatype == "BYTES":
        target.dtype = value_pb2.DATA_TYPE_BYTES
        if spec is not None and spec.dtype == "string":
            target.dtype = value_pb2.DATA_TYPE_STRING
        target.string_data.extend(_elements(tensor, raw))
        return
    target.dtype = DATATYPES[datatype]  # type: ignore[assignment]
    target.raw_data = raw if raw is not None else _typed_raw(tensor, datatype)


def _utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(
            f"input {name!r} is not UTF-8 text", metadata={"input": name}
        ) from None


def _parse_json(target: struct_pb2.Value, data: bytes, name: str) -> None:
    try:
        json_format.Parse(data.decode("utf-8"), target)
    except (UnicodeDecodeError, json_format.ParseError) as exc:
        raise InvalidInputError(
            f"input {name!r} is not JSON: {str(exc)[:200]}", metadata={"input": name}
        ) from None


def parameter_value(parameter: oip.InferParameter) -> Any:
    """An InferParameter as a plain value (None when unset)."""
    choice = parameter.WhichOneof("parameter_choice")
    return getattr(parameter, choice) if choice else None


#: Triton's request parameter that bounds a request's wait in the queue, in microseconds.
TIMEOUT = "timeout"


def queue_seconds(
    parameters: Mapping[str, oip.InferParameter], seconds_left: float | None
) -> float | None:
    """How long a request may wait in the model's queue: the call's own deadline, or Triton's
    ``timeout`` parameter (microseconds, 0 for none) when that is sooner. A request still
    queued then is dropped unrun, as under Triton's default queue policy.

    >>> queue_seconds({"timeout": oip.InferParameter(int64_param=250_000)}, 2.0)
    0.25
    """
    if TIMEOUT not in parameters:
        return seconds_left
    parameter = parameters[TIMEOUT]
    kind = parameter.WhichOneof("parameter_choice")
    micros: int = parameter_value(parameter)
    if kind not in ("int64_param", "uint64_param") or micros < 0:
        raise BadRequestError(
            f"parameter {TIMEOUT!r} is the request's queue timeout in microseconds: an integer "
            f">= 0, not {micros!r}",
            metadata={"parameter": TIMEOUT},
        )
    if micros == 0:
        return seconds_left
    return micros / 1e6 if seconds_left is None else min(seconds_left, micros / 1e6)


def _parameters(parameters: Mapping[str, oip.InferParameter], into: struct_pb2.Struct) -> None:
    """Request parameters for the model; Triton's own (``triton_*``) stay with the server."""
    plain = {
        key: parameter_value(parameters[key]) for key in parameters if not key.startswith("triton_")
    }
    into.update({key: value for key, value in plain.items() if value is not None})


def to_predict_request(
    request: oip.ModelInferRequest, specs: Sequence[InputSpec]
) -> runtime_pb2.PredictRequest:
    """The PredictRequest a ModelInferRequest stands for; its inputs stay in wire form."""
    raws = request.raw_input_contents
    if raws and len(raws) != len(request.inputs):
        raise BadRequestError(
            f"raw_input_contents holds {len(raws)} tensors for {len(request.inputs)} inputs: "
            "send one per input, in the order of inputs"
        )
    declared = {spec.name: spec for spec in specs}
    message = runtime_pb2.PredictRequest(
        model=request.model_name, version=request.model_version, request_id=request.id
    )
    for index, tensor in enumerate(request.inputs):
        if tensor.name in message.inputs:
            raise BadRequestError(f"input {tensor.name!r} is sent twice")
        if raws and tensor.HasField("contents"):
            raise BadRequestError(
                f"input {tensor.name!r} has contents while the request uses raw_input_contents"
            )
        raw = raws[index] if raws else None
        _write_input(message.inputs[tensor.name], tensor, raw, declared.get(tensor.name))
    _parameters(request.parameters, message.parameters)
    return message


# -- responses ------------------------------------------------------------------------------------


def joined_bytes(items: Sequence[bytes]) -> bytes:
    return b"".join(len(item).to_bytes(4, "little") + item for item in items)


def _one_bytes(output: Any, data: bytes, raw: bool) -> bytes | None:
    output.datatype = "BYTES"
    output.shape.append(1)
    if raw:
        return joined_bytes([data])
    output.contents.bytes_contents.append(data)
    return None


def _json_text(value: struct_pb2.Value) -> bytes:
    return json_format.MessageToJson(value, indent=None).encode()


def write_output(output: Any, value: value_pb2.Value, raw: bool) -> bytes | None:
    """Fill the v2 output tensor ``output`` from ``value``; its raw contents when ``raw``."""
    import numpy as np

    kind = value.WhichOneof("kind")
    if kind == "data":
        return _one_bytes(output, value.data, raw)
    if kind == "text":
        return _one_bytes(output, value.text.encode(), raw)
    if kind == "json":
        return _one_bytes(output, _json_text(value.json), raw)
    tensor = value.tensor
    output.datatype = datatype_of(tensor.dtype)
    output.shape.extend(tensor.shape)
    if tensor.dtype in (value_pb2.DATA_TYPE_STRING, value_pb2.DATA_TYPE_BYTES):
        if raw:
            return joined_bytes(tensor.string_data)
        output.contents.bytes_contents.extend(tensor.string_data)
        return None
    if raw:
        return tensor.raw_data
    array = np.frombuffer(tensor.raw_data, dtype=NUMPY_DTYPES[output.datatype])
    getattr(output.contents, CONTENTS_FIELDS[output.datatype]).extend(array.tolist())
    return None


def answers_raw(request: oip.ModelInferRequest, values: Mapping[str, value_pb2.Value]) -> bool:
    """Raw output contents, as Triton answers, unless the request sent typed contents only and
    every output has a typed form (FP16 and BF16 have none)."""
    if request.raw_input_contents or not request.inputs:
        return True
    for value in values.values():
        if value.WhichOneof("kind") == "tensor" and value.tensor.dtype in (
            value_pb2.DATA_TYPE_FLOAT16,
            value_pb2.DATA_TYPE_BFLOAT16,
        ):
            return True
    return False


def outputs_of(
    answer: runtime_pb2.PredictResponse | runtime_pb2.GenerateResponse,
) -> dict[str, value_pb2.Value]:
    """An answer's named values, the structured output as one more (a JSON value)."""
    values = dict(answer.outputs.items())
    if answer.HasField("structured"):
        values[STRUCTURED_OUTPUT] = value_pb2.Value(json=answer.structured)
    return values


def to_infer_response(
    request: oip.ModelInferRequest,
    values: Mapping[str, value_pb2.Value],
    head: Mapping[str, str],
) -> oip.ModelInferResponse:
    """The ModelInferResponse with ``values`` (only the requested outputs, when some are)."""
    wanted = [output.name for output in request.outputs]
    missing = [name for name in wanted if name not in values]
    if missing:
        have = ", ".join(sorted(values)) or "none"
        raise BadRequestError(
            f"requested outputs {missing} are not among the model's outputs ({have})"
        )
    raw = answers_raw(request, values)
    response = oip.ModelInferResponse(
        model_name=head["model"], model_version=head["version"], id=request.id
    )
    for name in wanted or values:
        output = response.outputs.add(name=name)
        contents = write_output(output, values[name], raw)
        if contents is not None:
            response.raw_output_contents.append(contents)
    return response
