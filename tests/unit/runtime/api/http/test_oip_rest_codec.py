"""oip_rest_codec: JSON tensors and Triton's binary tensor data <-> ModelInferRequest/Response."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

from modelrt.oip import grpc_service_pb2 as oip
from registry.errors import InvalidInputError
from runtime.api.http import oip_rest_codec as codec
from runtime.api.http.limits import BodyTooLargeError
from runtime.errors import BadRequestError, NotSupportedYetError


@pytest.mark.parametrize(
    ("datatype", "data", "dtype"),
    [
        ("BOOL", [True, False], np.bool_),
        ("UINT8", [0, 255], np.uint8),
        ("INT16", [-3, 7], np.int16),
        ("UINT64", [2**64 - 1, 0], np.uint64),
        ("INT64", [-(2**63), 5], np.int64),
        ("FP16", [0.5, -2], np.float16),
        ("FP32", [1.25, 3], np.float32),
        ("FP64", [1e300, -1], np.float64),
    ],
)
def test_numbers_go_to_little_endian_binary_and_back(datatype, data, dtype) -> None:
    raw = codec.tensor_raw("x", datatype, [2], data)
    assert raw == np.asarray(data, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
    assert codec.tensor_values("x", datatype, raw) == np.asarray(data, dtype=dtype).tolist()


def test_bf16_keeps_the_upper_half_of_float32() -> None:
    raw = codec.tensor_raw("x", "BF16", [2], [1.0, -2.5])
    assert codec.tensor_values("x", "BF16", raw) == [1.0, -2.5]


def test_bytes_elements_are_length_prefixed_and_nested_data_flattens() -> None:
    raw = codec.tensor_raw("s", "BYTES", [2, 1], [["hé"], ["b"]])
    assert raw == struct.pack("<I", 3) + "hé".encode() + struct.pack("<I", 1) + b"b"
    assert codec.tensor_values("s", "BYTES", raw) == ["hé", "b"]


@pytest.mark.parametrize(
    ("datatype", "shape", "data", "words"),
    [
        ("FP8", [1], [1], "not one of"),
        ("FP32", [3], [1, 2], "needs 3 elements, data holds 2"),
        ("INT32", [1], [1.5], "element 0, 1.5, is not a INT32"),
        ("BOOL", [2], [True, 1], "element 1"),
        ("FP32", [1], [None], "null"),
        ("BYTES", [1], [3], "BYTES"),
        ("UINT8", [1], [-1], "does not fit UINT8"),
        ("FP32", [-1], [], "negative"),
    ],
)
def test_bad_json_tensors_name_the_problem(datatype, shape, data, words) -> None:
    with pytest.raises(InvalidInputError, match=words):
        codec.tensor_raw("x", datatype, shape, data)


def test_output_bytes_that_are_not_text_ask_for_binary_data() -> None:
    with pytest.raises(BadRequestError, match="binary_data"):
        codec.tensor_values("o", "BYTES", struct.pack("<I", 1) + b"\xff")


def _binary(header: dict, tail: bytes) -> tuple[bytes, str]:
    head = json.dumps(header).encode()
    return head + tail, str(len(head))


def test_read_infer_takes_binary_inputs_in_order_and_json_ones_in_between() -> None:
    header = {
        "id": "r",
        "parameters": {"binary_data_output": True, "k": 3, "f": 0.5, "b": False, "s": "x"},
        "inputs": [
            {"name": "a", "datatype": "INT8", "shape": [2], "parameters": {"binary_data_size": 2}},
            {"name": "j", "datatype": "INT8", "shape": [1], "data": [9]},
            {"name": "c", "datatype": "BOOL", "shape": [1], "parameters": {"binary_data_size": 1}},
        ],
        "outputs": [{"name": "o", "parameters": {"binary_data": False}}, {"name": "p"}],
    }
    body, length = _binary(header, b"\x01\x02\x01")
    request, form = codec.read_infer(body, length, "m", "2")
    assert (request.model_name, request.model_version, request.id) == ("m", "2", "r")
    assert [t.name for t in request.inputs] == ["a", "j", "c"]
    assert list(request.raw_input_contents) == [b"\x01\x02", b"\x09", b"\x01"]
    assert codec.parameters_json(request.parameters) == {"k": 3, "f": 0.5, "b": False, "s": "x"}
    assert [o.name for o in request.outputs] == ["o", "p"]
    assert (form.is_binary("o"), form.is_binary("p")) == (False, True)


@pytest.mark.parametrize(
    ("header", "tail", "length", "error", "words"),
    [
        ({"inputs": []}, b"xx", None, BadRequestError, "not JSON"),
        ({"inputs": [{"name": "a", "datatype": "INT8", "shape": [1],
                      "parameters": {"binary_data_size": 4}}]}, b"\x00", "",
         BadRequestError, "runs past"),
        ({"inputs": []}, b"\x00", "", BadRequestError, "add up to 0"),
        ({"inputs": "no"}, b"", "", BadRequestError, "inputs must be a list"),
        ({"inputs": []}, b"", "\u00b2", BadRequestError, "not a length"),
        ({"inputs": [{"name": "a", "datatype": "INT8", "shape": [2**70], "data": [1]}]}, b"", "",
         BadRequestError, "shape must be a list of integers"),
        ({"inputs": [], "parameters": {"p": [1]}}, b"", "", BadRequestError, "parameter 'p'"),
        ({"inputs": [], "outputs": [{"name": "o", "parameters": {"classification": 2}}]}, b"",
         "", NotSupportedYetError, "classification"),
        ({"inputs": [{"name": "a", "datatype": "INT8", "shape": [1],
                      "parameters": {"shared_memory_region": "r"}}]}, b"", "",
         NotSupportedYetError, "shared memory"),
    ],
)  # fmt: skip
def test_read_infer_refuses_malformed_bodies(header, tail, length, error, words) -> None:
    body, real = _binary(header, tail)
    with pytest.raises(error, match=words):
        codec.read_infer(body, real if length == "" else length, "m", "")


def test_render_infer_puts_binary_outputs_after_the_json_header() -> None:
    response = oip.ModelInferResponse(model_name="m", model_version="1", id="r")
    response.outputs.add(name="o", datatype="INT16", shape=[2])
    response.outputs.add(name="t", datatype="BYTES", shape=[1])
    response.raw_output_contents.extend([b"\x01\x00\x02\x00", struct.pack("<I", 2) + b"hi"])
    body, headers = codec.render_infer(response, codec.OutputForm(binary={"o": True}))
    length = int(headers[codec.HEADER_LENGTH])
    document = json.loads(body[:length])
    assert document["outputs"] == [
        {"name": "o", "datatype": "INT16", "shape": [2], "parameters": {"binary_data_size": 4}},
        {"name": "t", "datatype": "BYTES", "shape": [1], "data": ["hi"]},
    ]
    assert body[length:] == b"\x01\x00\x02\x00"
    plain, headers = codec.render_infer(response, codec.OutputForm())
    assert headers == {"content-type": "application/json"}
    assert json.loads(plain)["outputs"][0]["data"] == [1, 2]


def test_decoded_undoes_gzip_and_deflate_within_the_limit() -> None:
    import zlib

    assert codec.decoded(gzip.compress(b"abc"), "gzip", 10) == b"abc"
    assert codec.decoded(zlib.compress(b"abc"), "deflate", 10) == b"abc"
    with pytest.raises(BodyTooLargeError):
        codec.decoded(gzip.compress(b"a" * 100), "gzip", 10)
    with pytest.raises(BadRequestError, match="br"):
        codec.decoded(b"", "br", 10)
    with pytest.raises(BadRequestError, match="does not decompress"):
        codec.decoded(b"nope", "gzip", 10)
