"""modelrt's JSON value forms become the modelrt.v1 Values the instance decodes, and back."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from modelrt import codec
from modelrt.v1 import runtime_pb2, value_pb2
from registry.errors import InvalidInputError
from runtime.api.http.json_values import request_from_json, value_from_json, value_to_json


def test_shorthands_are_text_and_json() -> None:
    assert value_from_json("a", "hi") == value_pb2.Value(text="hi")
    assert codec.value_to_python(value_from_json("a", {"k": [1, 2]})) == {"k": [1, 2]}
    assert codec.value_to_python(value_from_json("a", 3)) == 3
    # an object with two keys is JSON, even when one of them is a form's name
    assert codec.value_to_python(value_from_json("a", {"text": "x", "y": 1})) == {
        "text": "x",
        "y": 1,
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"dtype": "FP32", "shape": [2], "contents": [1.5, 2]}, np.array([1.5, 2], np.float32)),
        ({"dtype": "int64", "contents": [[1, 2], [3, 4]]}, np.array([[1, 2], [3, 4]])),
        ({"dtype": "BOOL", "contents": [True, False]}, np.array([True, False])),
        ({"dtype": "uint8", "shape": [1, 2], "contents": [0, 255]}, np.array([[0, 255]], np.uint8)),
    ],
)
def test_tensors_decode_to_the_arrays_they_describe(spec, expected) -> None:
    array = codec.value_to_python(value_from_json("x", {"tensor": spec}))
    np.testing.assert_array_equal(array, expected)
    assert array.dtype == expected.dtype


def test_bytes_tensors_take_base64_or_text_elements() -> None:
    encoded = {"dtype": "BYTES", "contents_b64": [base64.b64encode(b"\x00\xff").decode()]}
    assert value_from_json("x", {"tensor": encoded}).tensor.string_data == [b"\x00\xff"]
    plain = {"dtype": "BYTES", "contents": ["ab"]}
    assert value_from_json("x", {"tensor": plain}).tensor.string_data == [b"ab"]


@pytest.mark.parametrize(
    "value",
    [
        {"tensor": {"dtype": "FP99", "contents": [1]}},
        {"tensor": {"dtype": "FP32", "contents": ["a"]}},
        {"tensor": {"dtype": "FP32", "shape": [-1], "contents": [1]}},
        {"tensor": {"dtype": "FP32", "contents": [1], "extra": 1}},
        {"tensor": [1, 2]},
        {"bytes_b64": "%%%"},
        {"text": 5},
        {"json": float("nan")},
    ],
)
def test_a_value_that_is_no_form_is_invalid_input_naming_it(value) -> None:
    with pytest.raises(InvalidInputError) as raised:
        value_from_json("image", value)
    assert "'image'" in raised.value.message
    assert raised.value.metadata["input"] == "image"


def test_values_come_back_in_their_explicit_forms() -> None:
    tensor = codec.python_to_value(np.arange(4, dtype=np.int32).reshape(2, 2), typed=True)
    assert value_to_json(tensor) == {
        "tensor": {"dtype": "INT32", "shape": [2, 2], "contents": [0, 1, 2, 3]}
    }
    raw = codec.python_to_value(np.array([1.5], np.float64))  # the raw form is read too
    assert value_to_json(raw)["tensor"]["contents"] == [1.5]
    assert value_to_json(value_pb2.Value(data=b"\x01")) == {"bytes_b64": "AQ=="}
    assert value_to_json(value_pb2.Value(text="t")) == {"text": "t"}
    assert value_to_json(codec.python_to_value({"n": 5})) == {"json": {"n": 5}}


def test_a_body_becomes_the_request_message_asking_for_typed_tensors() -> None:
    body = {"inputs": {"p": "hi"}, "parameters": {"n": 2}, "request_id": "r"}
    message = request_from_json(runtime_pb2.GenerateRequest, body)
    assert message.inputs["p"].text == "hi"
    assert codec.struct_to_dict(message.parameters) == {"n": 2}
    assert message.request_id == "r"
    assert message.output_form == value_pb2.TENSOR_FORM_TYPED
    with pytest.raises(InvalidInputError):
        request_from_json(runtime_pb2.StreamRequest, {"inputs": ["not", "named"]})


@pytest.mark.parametrize("typed", [True, False])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_non_finite_floats_are_spelled_as_strings_both_ways(typed, dtype) -> None:
    array = np.array([1.5, np.nan, np.inf, -np.inf], dtype)
    contents = value_to_json(codec.python_to_value(array, typed=typed))["tensor"]["contents"]
    assert contents == [1.5, "NaN", "Infinity", "-Infinity"]
    name = {np.float16: "FP16", np.float32: "FP32", np.float64: "FP64"}[dtype]
    back = codec.value_to_python(
        value_from_json("x", {"tensor": {"dtype": name, "contents": contents}})
    )
    np.testing.assert_array_equal(back, array)  # NaN compares equal to NaN here
    assert back.dtype == dtype


def test_only_the_three_spellings_pass_as_floats() -> None:
    for word in ("nan", "inf", "Inf", "-inf", "1.5"):
        with pytest.raises(InvalidInputError, match="do not fit dtype"):
            value_from_json("x", {"tensor": {"dtype": "FP32", "contents": [word]}})
    with pytest.raises(InvalidInputError):  # not for integers
        value_from_json("x", {"tensor": {"dtype": "INT32", "contents": ["NaN"]}})
