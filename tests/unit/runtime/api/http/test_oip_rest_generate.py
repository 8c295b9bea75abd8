"""oip_rest_generate: Triton's generate bodies <-> ModelInferRequest/Response."""

from __future__ import annotations

import json
import struct

import pytest

from loader.config import InputSpec
from modelrt.oip import grpc_service_pb2 as oip
from registry.errors import InvalidInputError
from runtime.api.http import oip_rest_generate as generate
from runtime.api.http.oip_rest_codec import parameters_json
from runtime.errors import BadRequestError


def _body(document: dict) -> bytes:
    return json.dumps(document).encode()


def test_declared_inputs_take_their_datatype_and_other_keys_become_parameters() -> None:
    specs = [
        InputSpec(name="prompt", kind="text"),
        InputSpec(name="x", kind="tensor", dtype="float32"),
        InputSpec(name="doc", kind="json"),
    ]
    body = {"prompt": "hi", "x": [[1, 2]], "doc": {"a": 1}, "top_k": 3, "parameters": {"t": 0.1}}
    request = generate.read_generate(_body(body), "m", "", specs)
    tensors = {t.name: (t.datatype, list(t.shape)) for t in request.inputs}
    assert tensors == {"prompt": ("BYTES", [1]), "x": ("FP32", [1, 2]), "doc": ("BYTES", [1])}
    raws = dict(zip([t.name for t in request.inputs], request.raw_input_contents, strict=True))
    assert raws["prompt"] == struct.pack("<I", 2) + b"hi"
    assert json.loads(raws["doc"][4:]) == {"a": 1}
    assert parameters_json(request.parameters) == {"t": 0.1, "top_k": 3}


def test_undeclared_inputs_guess_their_datatype() -> None:
    body = {"b": True, "i": [1, 2], "f": 0.5, "s": ["x", "y"]}
    request = generate.read_generate(_body(body), "m", "", [])
    assert {t.name: t.datatype for t in request.inputs} == {
        "b": "BOOL",
        "i": "INT64",
        "f": "FP64",
        "s": "BYTES",
    }


def test_bad_generate_bodies_name_the_problem() -> None:
    text = [InputSpec(name="prompt", kind="text")]
    with pytest.raises(InvalidInputError, match="prompt"):
        generate.read_generate(_body({"prompt": 5}), "m", "", text)
    with pytest.raises(BadRequestError, match="'extra' is not an input"):
        generate.read_generate(_body({"prompt": "a", "extra": [1]}), "m", "", text)
    with pytest.raises(BadRequestError, match="parameters"):
        generate.read_generate(_body({"parameters": [1]}), "m", "", text)


def test_answers_are_plain_values_and_items_gather_into_lists() -> None:
    response = oip.ModelInferResponse(model_name="m", model_version="1")
    response.outputs.add(name="structured", datatype="BYTES", shape=[1])
    response.outputs.add(name="v", datatype="INT32", shape=[2])
    text = json.dumps({"token": "a", "index": 1.0}).encode()
    response.raw_output_contents.extend(
        [struct.pack("<I", len(text)) + text, b"\x01\x00\x00\x00\x02\x00\x00\x00"]
    )
    answer = generate.answer_of(response)
    assert answer == {
        "model_name": "m",
        "model_version": "1",
        "structured": {"token": "a", "index": 1},
        "v": [1, 2],
    }
    assert generate.gathered([answer, answer])["structured"] == [answer["structured"]] * 2
    assert generate.gathered([answer]) == answer
