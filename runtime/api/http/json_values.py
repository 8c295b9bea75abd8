"""modelrt's JSON value forms <-> modelrt.v1 Values, for the JSON routes under /api/v1.

A value is one of ``{"text": str}``, ``{"bytes_b64": str}``, ``{"json": any}`` or
``{"tensor": {"dtype", "shape", "contents"}}`` (``contents_b64`` for BYTES elements; float
elements may be ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``, and are written so); a plain
string is text, any other plain JSON value is json. Requests become the proto messages the
instance decodes (the one payload boundary); nothing here turns a payload into arrays.

>>> value_from_json("prompt", "hi").text
'hi'
>>> value_to_json(value_from_json("doc", {"json": [1, 2]}))
{'json': [1, 2]}
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from google.protobuf import struct_pb2

from modelrt import codec, contents
from modelrt.v1 import runtime_pb2, value_pb2
from registry.errors import InvalidInputError, ModelrtError
from runtime.api.http.errors import error_body, internal_error
from runtime.api.oip_tensors import DATATYPES, datatype_of
from runtime.instances.outputs import ItemFailure, ModelOutput
from runtime.instances.wire import unsendable, write_output

#: Messages a JSON body becomes; they share PredictRequest's input fields.
RequestMessage = TypeVar(
    "RequestMessage",
    runtime_pb2.PredictRequest,
    runtime_pb2.GenerateRequest,
    runtime_pb2.StreamRequest,
)
#: The dtype names a JSON tensor may give: the Open Inference Protocol's ("FP32") or modelrt's.
DTYPES: dict[str, int] = {**{k.lower(): v for k, v in DATATYPES.items()}, **codec.DTYPE_NAMES}
_FORMS = ("text", "bytes_b64", "json", "tensor")
#: JSON has no literal for NaN and the infinities (a bare ``NaN`` token breaks a browser's
#: JSON.parse), so float tensor elements spell them as protobuf's JSON mapping does.
_SPELLED = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_FLOAT_FIELDS = ("fp32_contents", "fp64_contents")


def _bad(name: str, problem: str) -> InvalidInputError:
    return InvalidInputError(f"input {name!r}: {problem}", metadata={"input": name})


def _flatten(items: Any, shape: list[int], depth: int, out: list[Any]) -> None:
    """Nested lists, row-major, into ``out``; ``shape`` grows to the sizes seen at each depth."""
    if not isinstance(items, list):
        out.append(items)
        return
    if len(shape) == depth:
        shape.append(len(items))
    for item in items:
        _flatten(item, shape, depth + 1, out)


def _tensor(name: str, spec: Any) -> value_pb2.Tensor:
    if not isinstance(spec, Mapping):
        raise _bad(name, "a tensor is an object with dtype, shape and contents")
    unknown = set(spec) - {"dtype", "shape", "contents", "contents_b64"}
    if unknown:
        raise _bad(name, f"unknown tensor field(s) {', '.join(sorted(unknown))}")
    dtype = DTYPES.get(str(spec.get("dtype", "")).lower())
    if dtype is None:
        raise _bad(name, f"unknown tensor dtype {spec.get('dtype')!r}")
    elements: list[Any] = []
    inferred: list[int] = []
    raw = spec.get("contents_b64", spec.get("contents", []))
    _flatten(raw, inferred, 0, elements)
    shape = spec.get("shape", inferred if isinstance(raw, list) else [])
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise _bad(name, "tensor shape must be a list of sizes >= 0")
    tensor = value_pb2.Tensor(dtype=dtype, shape=shape)  # type: ignore[arg-type]
    try:
        if "contents_b64" in spec or dtype == value_pb2.DATA_TYPE_BYTES:
            tensor.string_data.extend(_element_bytes(x, "contents_b64" in spec) for x in elements)
        else:
            field = contents.FIELD[dtype]
            if field in _FLOAT_FIELDS:
                elements = [_SPELLED.get(x, x) if isinstance(x, str) else x for x in elements]
            getattr(tensor, field).extend(elements)
    except (TypeError, ValueError, binascii.Error) as exc:
        problem = f"tensor contents do not fit dtype {codec.dtype_name(dtype)}: {exc}"
        raise _bad(name, problem) from None
    return tensor


def _element_bytes(item: Any, encoded: bool) -> bytes:
    if not isinstance(item, str):
        raise TypeError("BYTES elements are strings")
    return base64.b64decode(item, validate=True) if encoded else item.encode()


def _json(name: str, obj: Any) -> struct_pb2.Value:
    try:
        return codec.python_to_json(obj)
    except codec.CodecError as exc:
        raise _bad(name, str(exc)) from None


def value_from_json(name: str, obj: Any) -> value_pb2.Value:
    """One input's JSON as a Value; InvalidInputError naming ``name`` when it is none of the
    forms."""
    if isinstance(obj, str):
        return value_pb2.Value(text=obj)
    if not (isinstance(obj, Mapping) and len(obj) == 1 and next(iter(obj)) in _FORMS):
        return value_pb2.Value(json=_json(name, obj))
    form, content = next(iter(obj.items()))
    if form == "text":
        if not isinstance(content, str):
            raise _bad(name, "text must be a string")
        return value_pb2.Value(text=content)
    if form == "bytes_b64":
        try:
            return value_pb2.Value(data=base64.b64decode(str(content), validate=True))
        except binascii.Error:
            raise _bad(name, "bytes_b64 is not valid base64") from None
    if form == "json":
        return value_pb2.Value(json=_json(name, content))
    return value_pb2.Value(tensor=_tensor(name, content))


def request_from_json(message: type[RequestMessage], body: Mapping[str, Any]) -> RequestMessage:
    """A predict-form body (inputs, parameters, request_id) as ``message``; its response
    tensors are asked for in the typed form, so value_to_json can read them."""
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, Mapping):
        raise InvalidInputError("inputs must be an object of named values")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise InvalidInputError("parameters must be an object")
    request_id = body.get("request_id") or ""
    if not isinstance(request_id, str):
        raise InvalidInputError("request_id must be a string")
    try:
        struct = codec.dict_to_struct(parameters)
    except codec.CodecError as exc:
        raise InvalidInputError(str(exc), metadata={"input": "parameters"}) from None
    return message(
        inputs={str(k): value_from_json(str(k), v) for k, v in inputs.items()},
        parameters=struct,
        request_id=request_id,
        output_form=value_pb2.TENSOR_FORM_TYPED,
    )


def _tensor_json(tensor: value_pb2.Tensor) -> dict[str, Any]:
    out: dict[str, Any] = {"dtype": datatype_of(tensor.dtype), "shape": list(tensor.shape)}
    if tensor.dtype == value_pb2.DATA_TYPE_BYTES or len(tensor.string_data):
        encoded = [base64.b64encode(item).decode("ascii") for item in tensor.string_data]
        out["contents_b64"] = encoded
        return out
    field = contents.FIELD.get(tensor.dtype, "")
    if field and (len(getattr(tensor, field)) or not len(tensor.raw_data)):
        elements = list(getattr(tensor, field))
    else:  # a raw tensor (a model's output the typed form could not hold)
        elements = codec.tensor_to_array(tensor).ravel().tolist()
    if field in _FLOAT_FIELDS:
        elements = [x if math.isfinite(x) else _spelling(x) for x in elements]
    out["contents"] = elements
    return out


def _spelling(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def value_to_json(value: value_pb2.Value) -> dict[str, Any]:
    """A Value in its JSON form (always the explicit form, never the shorthand)."""
    kind = value.WhichOneof("kind")
    if kind == "text":
        return {"text": value.text}
    if kind == "data":
        return {"bytes_b64": base64.b64encode(value.data).decode("ascii")}
    if kind == "json":
        return {"json": codec.json_to_python(value.json)}
    if kind == "tensor":
        return {"tensor": _tensor_json(value.tensor)}
    return {}


def outputs_json(message: Any) -> dict[str, Any]:
    """The ``outputs`` and ``structured`` of a Predict/Generate/Stream response, as JSON."""
    structured = None
    if message.HasField("structured"):
        structured = codec.json_to_python(message.structured)
    outputs = {name: value_to_json(message.outputs[name]) for name in message.outputs}
    return {"outputs": outputs, "structured": structured}


def error_json(error: Exception, where: str) -> dict[str, Any]:
    """The error body of a streamed item's or call's failure (INTERNAL, with an id, when it is
    not one of ours)."""
    if isinstance(error, ModelrtError):
        return error_body(error)
    return error_body(internal_error(error, where))


def item_json(item: ModelOutput | ItemFailure, index: int, model: str) -> dict[str, Any]:
    """One Generate or Stream item: ``{"index", "outputs", "structured"}``, or
    ``{"index", "error": body}`` for an item that failed."""
    if isinstance(item, ItemFailure):
        return {"index": index, "error": error_json(item.error, model)}
    reply = runtime_pb2.GenerateResponse()
    try:
        write_output(reply, item, typed=True)
    except Exception as exc:  # this item fails alone, as a model error
        return {"index": index, "error": error_body(unsendable(model, exc))}
    return {"index": index, **outputs_json(reply)}
