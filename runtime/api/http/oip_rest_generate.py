"""Triton's generate extension bodies <-> ModelInferRequest / ModelInferResponse.

A generate request is one JSON object: ``parameters`` holds the request parameters and every
other key is an input holding a plain value (a string, number, boolean or nested list), or,
when the model declares its inputs and the key is none of them, one more parameter. An answer
is ``{"model_name", "model_version", <output>: <plain value>, ...}``: a one-element output as
its value, a longer one as a flat list, BYTES as text and the structured output as its JSON.

>>> plain_value("BYTES", ["hi"], "x")
'hi'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from loader.config import InputSpec
from modelrt.oip import grpc_service_pb2 as oip
from registry.errors import InvalidInputError
from runtime.api.http.oip_rest_codec import json_object, put_parameters, tensor_raw, tensor_values
from runtime.api.oip_models import input_datatype
from runtime.api.oip_tensors import STRUCTURED_OUTPUT
from runtime.errors import BadRequestError

_PLAIN = (str, int, float, bool)


def _shape_of(value: Any) -> list[int]:
    """A nested list's dimensions (first elements followed); a scalar is one element."""
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape or [1]


def _first_leaf(value: Any) -> Any:
    while isinstance(value, list) and value:
        value = value[0]
    return value


def _guessed_datatype(value: Any) -> str:
    """The datatype of an undeclared input, from its first element."""
    leaf = _first_leaf(value)
    if isinstance(leaf, bool):
        return "BOOL"
    if isinstance(leaf, int):
        return "INT64"
    if isinstance(leaf, float):
        return "FP64"
    return "BYTES"


def _element(value: Any, spec: InputSpec, name: str) -> str:
    """The one BYTES element of a text, bytes or JSON input."""
    if spec.kind == "json":
        return json.dumps(value)
    if not isinstance(value, str):
        raise InvalidInputError(
            f"input {name!r} is {spec.kind}: send a string, not {value!r:.60}",
            metadata={"input": name},
        )
    return value


def _add_input(
    request: oip.ModelInferRequest, name: str, value: Any, spec: InputSpec | None
) -> None:
    if spec is not None and spec.kind != "tensor":
        datatype, shape, data = "BYTES", [1], [_element(value, spec, name)]
    else:
        declared = input_datatype(spec) if spec is not None else ""
        datatype = declared or _guessed_datatype(value)
        shape, data = _shape_of(value), value
    request.inputs.add(name=name, datatype=datatype, shape=shape)
    request.raw_input_contents.append(tensor_raw(name, datatype, shape, data))


def read_generate(
    body: bytes, model: str, version: str, specs: Sequence[InputSpec]
) -> oip.ModelInferRequest:
    """The ModelInferRequest a generate body stands for (all inputs as raw contents)."""
    document = json_object(body, "the generate request")
    parameters = document.pop("parameters", {})
    if not isinstance(parameters, dict):
        raise BadRequestError("parameters must be a JSON object")
    declared = {spec.name: spec for spec in specs}
    request = oip.ModelInferRequest(model_name=model, model_version=version)
    for key, value in document.items():
        if declared and key not in declared:
            if not isinstance(value, _PLAIN):
                known = ", ".join(declared)
                raise BadRequestError(
                    f"{key!r} is not an input of model {model!r} ({known}) and a parameter "
                    "is a string, number or boolean"
                )
            parameters.setdefault(key, value)
            continue
        _add_input(request, key, value, declared.get(key))
    put_parameters(request.parameters, parameters)
    return request


def _whole(value: Any) -> Any:
    """JSON with whole floats as integers (the structured output's numbers travel as doubles)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_whole(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole(item) for key, item in value.items()}
    return value


def plain_value(datatype: str, values: list[Any], name: str) -> Any:
    """An output's values as one plain JSON value (the structured output parsed)."""
    if name == STRUCTURED_OUTPUT and datatype == "BYTES":
        values = [_whole(json.loads(value)) for value in values]
    return values[0] if len(values) == 1 else values


def answer_of(response: oip.ModelInferResponse) -> dict[str, Any]:
    """A generate answer: the model's name and version, then each output as a plain value."""
    document: dict[str, Any] = {
        "model_name": response.model_name,
        "model_version": response.model_version,
    }
    for output, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        values = tensor_values(output.name, output.datatype, raw)
        document[output.name] = plain_value(output.datatype, values, output.name)
    return document


def gathered(answers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several items' answers as one: each output the list of the items' values."""
    if len(answers) == 1:
        return dict(answers[0])
    document: dict[str, Any] = {}
    for answer in answers:
        for key, value in answer.items():
            if key in ("model_name", "model_version"):
                document[key] = value
            else:
                document.setdefault(key, []).append(value)
    return document
