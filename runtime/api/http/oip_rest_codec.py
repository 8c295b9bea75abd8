"""Open Inference Protocol REST bodies <-> ModelInferRequest / ModelInferResponse.

JSON tensors (``data`` flat or nested, row-major) and Triton's binary tensor data extension: a
body whose JSON header is ``Inference-Header-Content-Length`` bytes long, followed by the
inputs that carry ``parameters.binary_data_size``, in input order; outputs come back binary
when asked (``binary_data`` on an output, ``binary_data_output`` on the request). Binary data
is little-endian, row-major; BOOL is one byte; a BYTES element is a 4-byte little-endian length
then its bytes. Every input travels on as raw contents, so oip_tensors converts REST and gRPC
requests alike.

>>> tensor_raw("x", "INT32", [2], [[1], [2]])
b'\\x01\\x00\\x00\\x00\\x02\\x00\\x00\\x00'
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from modelrt import codec
from modelrt.oip import grpc_service_pb2 as oip
from registry.errors import InvalidInputError
from runtime.api.http.body_errors import json_problem
from runtime.api.http.limits import BodyTooLargeError
from runtime.api.oip_tensors import (
    DATATYPES,
    NUMPY_DTYPES,
    joined_bytes,
    parameter_value,
    split_bytes,
)
from runtime.errors import BadRequestError, NotSupportedYetError

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_SIZE = "binary_data_size"
_INTEGERS = frozenset(name for name in DATATYPES if "INT" in name)
_FLOATS = frozenset({"FP16", "FP32", "FP64", "BF16"})


def _accepts(datatype: str, value: Any) -> bool:
    """Whether JSON ``value`` may be an element of a ``datatype`` tensor."""
    if datatype == "BOOL":
        return isinstance(value, bool)
    if datatype == "BYTES":
        return isinstance(value, str)
    if isinstance(value, bool):
        return False
    if datatype in _INTEGERS:
        return isinstance(value, int)
    return isinstance(value, (int, float))


# -- bodies ---------------------------------------------------------------------------------------


def decoded(body: bytes, encoding: str, limit: int) -> bytes:
    """The body with its Content-Encoding (gzip, deflate) undone, at most ``limit`` bytes."""
    encoding = encoding.strip().lower() or "identity"
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise BadRequestError(
            f"Content-Encoding {encoding!r} is not supported: send gzip, deflate or identity"
        )
    inflater = zlib.decompressobj(zlib.MAX_WBITS | (16 if encoding == "gzip" else 0))
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequestError(f"the {encoding} body does not decompress: {exc}") from None
    if len(plain) > limit:
        raise BodyTooLargeError(
            f"the decompressed body is larger than this server's limit of {limit} bytes",
            metadata={"limit": str(limit)},
        )
    return plain


def json_object(text: bytes, what: str) -> dict[str, Any]:
    """``text`` as a JSON object; INVALID_REQUEST naming ``what`` when it is not one."""
    try:
        document = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise BadRequestError(f"{what} is not JSON: {json_problem(exc)}") from None
    if not isinstance(document, dict):
        raise BadRequestError(f"{what} must be a JSON object, not {type(document).__name__}")
    return document


def _field(document: Mapping[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = document.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequestError(f"{where}.{key} must be a {kind.__name__}, not {value!r:.60}")
    return value


def put_parameters(target: MutableMapping[str, Any], parameters: Mapping[str, Any]) -> None:
    """REST parameters (string, number or boolean values) as InferParameters."""
    for key, value in parameters.items():
        slot = target[key]
        if isinstance(value, bool):
            slot.bool_param = value
        elif isinstance(value, int) and -(2**63) <= value < 2**63:
            slot.int64_param = value
        elif isinstance(value, float):
            slot.double_param = value
        elif isinstance(value, str):
            slot.string_param = value
        else:
            del target[key]
            raise BadRequestError(
                f"parameter {key!r} is {value!r:.60}: a parameter is a string, a boolean or a "
                "number (integers within int64)"
            )


def parameters_json(parameters: Mapping[str, oip.InferParameter]) -> dict[str, Any]:
    """InferParameters as a JSON object."""
    return {key: parameter_value(parameters[key]) for key in parameters}


# -- tensors --------------------------------------------------------------------------------------


def _flatten(data: Any, name: str, depth: int = 0) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if depth >= codec.max_dims():
        raise InvalidInputError(
            f"input {name!r}: data is nested deeper than {codec.max_dims()} levels",
            metadata={"input": name},
        )
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item, name, depth + 1))
    return flat


def tensor_raw(name: str, datatype: str, shape: list[int], data: Any) -> bytes:
    """JSON ``data`` (flat or nested) of a ``datatype`` tensor as its binary form."""
    import numpy as np

    if datatype not in DATATYPES:
        known = ", ".join(DATATYPES)
        raise InvalidInputError(
            f"input {name!r}: datatype {datatype!r} is not one of {known}",
            metadata={"input": name},
        )
    values = _flatten(data, name)
    try:
        count = codec.element_count(shape)
    except codec.CodecError as exc:
        raise InvalidInputError(f"input {name!r}: {exc}", metadata={"input": name}) from None
    if len(values) != count:
        raise InvalidInputError(
            f"input {name!r}: shape {shape} needs {count} elements, data holds {len(values)}",
            metadata={"input": name},
        )
    wrong = next((at for at, value in enumerate(values) if not _accepts(datatype, value)), None)
    if wrong is not None:
        raise InvalidInputError(
            f"input {name!r}: element {wrong}, {json.dumps(values[wrong])[:60]}, is not a "
            f"{datatype} value",
            metadata={"input": name},
        )
    if datatype == "BYTES":
        return joined_bytes([value.encode() for value in values])
    try:
        if datatype == "BF16":  # the upper half of each float32
            wide = np.asarray(values, dtype="<f4").view("<u4")
            return (wide >> 16).astype("<u2").tobytes()
        return np.asarray(values, dtype=NUMPY_DTYPES[datatype]).tobytes()
    except (OverflowError, ValueError) as exc:
        raise InvalidInputError(
            f"input {name!r}: a value does not fit {datatype}: {exc}", metadata={"input": name}
        ) from None


def tensor_values(name: str, datatype: str, raw: bytes) -> list[Any]:
    """A tensor's binary form as flat JSON values (BYTES as UTF-8 text)."""
    import numpy as np

    if datatype == "BYTES":
        items = split_bytes(raw, name)
        try:
            return [item.decode("utf-8") for item in items]
        except UnicodeDecodeError:
            raise BadRequestError(
                f"output {name!r} holds bytes that are not UTF-8 text: ask for it as binary "
                'data (outputs: [{"name": ..., "parameters": {"binary_data": true}}])',
                metadata={"output": name},
            ) from None
    if datatype == "BF16":
        wide = np.frombuffer(raw, dtype="<u2").astype("<u4") << 16
        return [float(value) for value in wide.view("<f4")]
    return list(np.frombuffer(raw, dtype=NUMPY_DTYPES[datatype]).tolist())


# -- infer ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputForm:
    """Which outputs a request wants as binary data: named ones, else the request's default."""

    default_binary: bool = False
    binary: dict[str, bool] = field(default_factory=dict)

    def is_binary(self, name: str) -> bool:
        return self.binary.get(name, self.default_binary)


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    digits = header_length.strip()
    if not (digits.isascii() and digits.isdigit()) or int(digits) > len(body):
        raise BadRequestError(
            f"{HEADER_LENGTH} {header_length[:40]!r} is not a length within the "
            f"{len(body)}-byte body"
        )
    return body[: int(digits)], body[int(digits) :]


def _shape(item: Mapping[str, Any], where: str) -> list[int]:
    shape: list[int] = _field(item, "shape", list, None, where)
    if not all(_accepts("INT64", dim) and -(2**63) <= dim < 2**63 for dim in shape):
        raise BadRequestError(f"{where}.shape must be a list of integers, not {shape!r:.60}")
    return shape


def _add_input(request: oip.ModelInferRequest, item: Any, index: int, tail: bytes, at: int) -> int:
    """Append input ``item``, its binary data read from ``tail`` at ``at``; the next offset."""
    where = f"inputs[{index}]"
    if not isinstance(item, dict):
        raise BadRequestError(f"{where} must be a JSON object")
    name = _field(item, "name", str, None, where)
    datatype = _field(item, "datatype", str, None, where)
    shape = _shape(item, where)
    parameters = _field(item, "parameters", dict, {}, where)
    if "shared_memory_region" in parameters:
        raise NotSupportedYetError(
            f"input {name!r} names a shared memory region: modelrt takes tensors in the request"
        )
    size = parameters.get(BINARY_SIZE)
    if size is not None:
        if "data" in item:
            raise BadRequestError(f"input {name!r} has both data and {BINARY_SIZE}")
        size = _field(parameters, BINARY_SIZE, int, None, f"{where}.parameters")
        if size < 0 or at + size > len(tail):
            raise BadRequestError(
                f"input {name!r}: {BINARY_SIZE} {size} runs past the {len(tail)} bytes of "
                "binary data after the JSON header"
            )
        raw, at = tail[at : at + size], at + size
    elif "data" in item:
        raw = tensor_raw(name, datatype, shape, item["data"])
    else:
        raise BadRequestError(f"input {name!r} has neither data nor {BINARY_SIZE}")
    request.inputs.add(name=name, datatype=datatype, shape=shape)
    request.raw_input_contents.append(raw)
    return at


def _output_form(
    request: oip.ModelInferRequest, document: Mapping[str, Any], default_binary: bool
) -> OutputForm:
    """Add the requested outputs to ``request``; which of them are wanted binary."""
    outputs = _field(document, "outputs", list, [], "request")
    binary: dict[str, bool] = {}
    for index, item in enumerate(outputs):
        where = f"outputs[{index}]"
        if not isinstance(item, dict):
            raise BadRequestError(f"{where} must be a JSON object")
        name = _field(item, "name", str, None, where)
        parameters = _field(item, "parameters", dict, {}, where)
        if parameters.get("classification"):
            raise NotSupportedYetError(
                f"output {name!r} asks for classification, a Triton extension modelrt does "
                "not serve: classifiers answer with their labels in the structured output"
            )
        if "binary_data" in parameters:
            binary[name] = _field(parameters, "binary_data", bool, False, f"{where}.parameters")
        request.outputs.add(name=name)
    return OutputForm(default_binary, binary)


def read_infer(
    body: bytes, header_length: str | None, model: str, version: str
) -> tuple[oip.ModelInferRequest, OutputForm]:
    """The ModelInferRequest a REST infer body stands for, and how its outputs are wanted."""
    head, tail = _split(body, header_length)
    document = json_object(head, "the inference request")
    request = oip.ModelInferRequest(
        model_name=model, model_version=version, id=_field(document, "id", str, "", "request")
    )
    parameters = dict(_field(document, "parameters", dict, {}, "request"))
    default_binary = parameters.pop("binary_data_output", False)
    if not isinstance(default_binary, bool):
        raise BadRequestError("parameters.binary_data_output must be a boolean")
    put_parameters(request.parameters, parameters)
    at = 0
    for index, item in enumerate(_field(document, "inputs", list, None, "request")):
        at = _add_input(request, item, index, tail, at)
    if at != len(tail):
        raise BadRequestError(
            f"{len(tail)} bytes of binary data follow the JSON header, the inputs' "
            f"{BINARY_SIZE} add up to {at}"
        )
    return request, _output_form(request, document, default_binary)


def render_infer(
    response: oip.ModelInferResponse, form: OutputForm
) -> tuple[bytes, dict[str, str]]:
    """The REST body of ``response`` (raw contents) and its headers."""
    if len(response.raw_output_contents) != len(response.outputs):
        raise ValueError("a REST answer needs one raw contents per output")
    document: dict[str, Any] = {
        "model_name": response.model_name,
        "model_version": response.model_version,
    }
    if response.id:
        document["id"] = response.id
    if response.parameters:
        document["parameters"] = parameters_json(response.parameters)
    outputs: list[dict[str, Any]] = []
    tail: list[bytes] = []
    for output, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": output.datatype,
            "shape": list(output.shape),
        }
        if form.is_binary(output.name):
            entry["parameters"] = {BINARY_SIZE: len(raw)}
            tail.append(raw)
        else:
            entry["data"] = tensor_values(output.name, output.datatype, raw)
        outputs.append(entry)
    document["outputs"] = outputs
    head = json.dumps(document, separators=(",", ":")).encode()
    if not tail:
        return head, {"content-type": "application/json"}
    headers = {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
    return head + b"".join(tail), headers
