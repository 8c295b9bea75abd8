"""Open Inference Protocol tensors <-> modelrt.v1 values (pure conversions, no server)."""

from __future__ import annotations

import numpy as np
import pytest

from loader.config import InputSpec
from modelrt.oip import grpc_service_pb2 as oip
from modelrt.v1 import value_pb2
from registry.errors import InvalidInputError
from runtime.api import oip_tensors
from runtime.errors import BadRequestError


def _request(*tensors: tuple[str, str, list[int]], raw: list[bytes] | None = None):
    request = oip.ModelInferRequest(model_name="m", id="r1")
    for name, datatype, shape in tensors:
        request.inputs.add(name=name, datatype=datatype, shape=shape)
    request.raw_input_contents.extend(raw or [])
    return request


def test_raw_bytes_elements_are_length_prefixed() -> None:
    raw = b"\x02\x00\x00\x00ab\x00\x00\x00\x00"
    message = oip_tensors.to_predict_request(_request(("s", "BYTES", [2]), raw=[raw]), ())
    tensor = message.inputs["s"].tensor
    assert tensor.dtype == value_pb2.DATA_TYPE_BYTES
    assert list(tensor.string_data) == [b"ab", b""]


@pytest.mark.parametrize("raw", [b"\x01\x00", b"\x05\x00\x00\x00abc"])
def test_truncated_raw_bytes_are_invalid_input(raw: bytes) -> None:
    with pytest.raises(InvalidInputError, match="'s'"):
        oip_tensors.to_predict_request(_request(("s", "BYTES", [1]), raw=[raw]), ())


def test_declared_kinds_shape_the_value() -> None:
    specs = (InputSpec(name="t", kind="text"), InputSpec(name="j", kind="json"))
    request = _request(("t", "BYTES", [1]), ("j", "BYTES", [1]))
    request.inputs[0].contents.bytes_contents.append("ü".encode())
    request.inputs[1].contents.bytes_contents.append(b'{"a": [1, 2]}')
    message = oip_tensors.to_predict_request(request, specs)
    assert message.inputs["t"].text == "ü"
    assert message.inputs["j"].json.struct_value.fields["a"].list_value.values[1].number_value == 2


def test_a_text_input_sent_as_numbers_is_refused() -> None:
    request = _request(("t", "INT32", [1]))
    with pytest.raises(InvalidInputError, match="BYTES tensor, not INT32"):
        oip_tensors.to_predict_request(request, (InputSpec(name="t", kind="text"),))


def test_mixing_raw_and_typed_contents_is_refused() -> None:
    request = _request(("x", "INT32", [1]), raw=[b"\0" * 4])
    request.inputs[0].contents.int_contents.append(1)
    with pytest.raises(BadRequestError, match="raw_input_contents"):
        oip_tensors.to_predict_request(request, ())


def test_the_same_input_twice_is_refused() -> None:
    request = _request(("x", "INT32", [1]), ("x", "INT32", [1]), raw=[b"\0" * 4] * 2)
    with pytest.raises(BadRequestError, match="twice"):
        oip_tensors.to_predict_request(request, ())


def test_answers_raw_unless_typed_in_and_every_output_typed() -> None:
    typed = _request(("x", "FP32", [1]))
    floats = value_pb2.Value(tensor=value_pb2.Tensor(dtype=value_pb2.DATA_TYPE_FLOAT32))
    halves = value_pb2.Value(tensor=value_pb2.Tensor(dtype=value_pb2.DATA_TYPE_FLOAT16))
    assert not oip_tensors.answers_raw(typed, {"y": floats})
    assert oip_tensors.answers_raw(typed, {"y": floats, "h": halves})
    assert oip_tensors.answers_raw(_request(("x", "FP32", [1]), raw=[b"\0" * 4]), {"y": floats})


def test_a_typed_output_holds_the_values() -> None:
    array = np.array([[1, -2]], dtype=np.int16)
    value = value_pb2.Value(
        tensor=value_pb2.Tensor(
            dtype=value_pb2.DATA_TYPE_INT16, shape=[1, 2], raw_data=array.tobytes()
        )
    )
    output = oip.ModelInferResponse.InferOutputTensor()
    assert oip_tensors.write_output(output, value, raw=False) is None
    assert (output.datatype, list(output.shape)) == ("INT16", [1, 2])
    assert list(output.contents.int_contents) == [1, -2]
