"""The typed tensor form (``*_contents`` fields): every dtype both ways, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import json_format

from modelrt import codec
from modelrt.v1 import value_pb2

V = value_pb2

CASES = [
    (V.DATA_TYPE_BOOL, "bool_contents", np.array([[True, False, True]])),
    (V.DATA_TYPE_INT8, "int_contents", np.array([-128, 0, 127], np.int8)),
    (V.DATA_TYPE_INT16, "int_contents", np.array([-32768, 5, 32767], np.int16)),
    (V.DATA_TYPE_INT32, "int_contents", np.array([-(2**31), 7, 2**31 - 1], np.int32)),
    (V.DATA_TYPE_INT64, "int64_contents", np.array([-(2**63), 2**63 - 1], np.int64)),
    (V.DATA_TYPE_UINT8, "uint_contents", np.array([[0, 255]], np.uint8)),
    (V.DATA_TYPE_UINT16, "uint_contents", np.array([0, 65535], np.uint16)),
    (V.DATA_TYPE_UINT32, "uint_contents", np.array([0, 2**32 - 1], np.uint32)),
    (V.DATA_TYPE_UINT64, "uint64_contents", np.array([0, 2**64 - 1], np.uint64)),
    (V.DATA_TYPE_FLOAT16, "fp32_contents", np.array([0.5, -2.0, 65504.0], np.float16)),
    (V.DATA_TYPE_FLOAT32, "fp32_contents", np.arange(6, dtype=np.float32).reshape(2, 3) / 4),
    (V.DATA_TYPE_FLOAT64, "fp64_contents", np.array([1e-300, -1.5], np.float64)),
    (V.DATA_TYPE_STRING, "string_contents", np.array([["a", "été"], ["", "z"]])),
]


@pytest.mark.parametrize(("dtype", "field", "array"), CASES)
def test_typed_form_round_trips_every_dtype(dtype: int, field: str, array: np.ndarray) -> None:
    tensor = codec.array_to_tensor(array, typed=True)
    assert tensor.dtype == dtype
    assert [f.name for f, _ in tensor.ListFields()] == ["dtype", "shape", field]
    assert not tensor.raw_data
    assert not tensor.string_data
    decoded = codec.tensor_to_array(tensor)
    assert decoded.dtype == array.dtype or dtype == V.DATA_TYPE_STRING
    assert decoded.tolist() == array.tolist()
    # the raw form of the same array decodes to the same values
    assert codec.tensor_to_array(codec.array_to_tensor(array)).tolist() == decoded.tolist()


def test_bfloat16_travels_as_fp32_contents() -> None:
    array = np.array([1.5, -2.25, 3.0], np.float32)
    tensor = codec.array_to_tensor(array, V.DATA_TYPE_BFLOAT16, typed=True)
    assert list(tensor.fp32_contents) == [1.5, -2.25, 3.0]
    assert codec.tensor_to_array(tensor).tolist() == [1.5, -2.25, 3.0]


def test_bytes_tensors_keep_string_data_in_the_typed_form() -> None:
    tensor = codec.array_to_tensor(np.array([b"\x00\x01", b"x"], dtype=object), typed=True)
    assert tensor.dtype == V.DATA_TYPE_BYTES
    assert list(tensor.string_data) == [b"\x00\x01", b"x"]


def test_json_with_typed_contents_decodes_as_grpcurl_sends_it() -> None:
    body = {"dtype": "DATA_TYPE_FLOAT32", "shape": [1, 3], "fp32Contents": [1, 2, 3]}
    tensor = json_format.ParseDict(body, V.Tensor())
    array = codec.tensor_to_array(tensor)
    assert array.dtype == np.float32
    assert array.tolist() == [[1.0, 2.0, 3.0]]


def test_typed_form_decodes_to_a_writable_array_of_the_declared_dtype() -> None:
    tensor = V.Tensor(dtype=V.DATA_TYPE_INT16, shape=[2], int_contents=[1, 2])
    assert codec.tensor_to_array(tensor).dtype == np.int16


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (
            V.Tensor(dtype=V.DATA_TYPE_FLOAT32, shape=[2, 2], fp32_contents=[1, 2, 3]),
            "needs 4 elements in fp32_contents, got 3",
        ),
        (
            V.Tensor(dtype=V.DATA_TYPE_FLOAT32, shape=[1], fp32_contents=[1], raw_data=b"\0" * 4),
            "sets both raw_data and fp32_contents",
        ),
        (
            V.Tensor(
                dtype=V.DATA_TYPE_STRING, shape=[1], string_contents=["a"], string_data=[b"a"]
            ),
            "sets both string_data and string_contents",
        ),
        (
            V.Tensor(dtype=V.DATA_TYPE_FLOAT32, shape=[1], fp64_contents=[1.0]),
            "carries its elements in fp32_contents only, got fp64_contents",
        ),
        (
            V.Tensor(dtype=V.DATA_TYPE_INT32, shape=[1], int_contents=[1], int64_contents=[1]),
            "in int_contents only, got int_contents, int64_contents",
        ),
        (
            V.Tensor(dtype=V.DATA_TYPE_INT8, shape=[1], int_contents=[300]),
            "int_contents element 300 does not fit int8",
        ),
        (
            V.Tensor(dtype=V.DATA_TYPE_UINT8, shape=[2], uint_contents=[1, 256]),
            "uint_contents element 256 does not fit uint8",
        ),
        (
            V.Tensor(dtype=V.DATA_TYPE_BYTES, shape=[1], string_contents=["a"]),
            "bytes tensor has no typed form",
        ),
        (
            V.Tensor(shape=[1], fp32_contents=[1.0]),
            "has no typed form",
        ),
    ],
)
def test_typed_form_errors_name_the_problem(tensor: V.Tensor, message: str) -> None:
    with pytest.raises(codec.CodecError, match=message):
        codec.tensor_to_array(tensor)


def test_empty_tensor_needs_no_contents() -> None:
    tensor = V.Tensor(dtype=V.DATA_TYPE_FLOAT32, shape=[0, 3])
    assert codec.tensor_to_array(tensor).shape == (0, 3)
    assert codec.array_to_tensor(np.zeros((0, 3), np.float32), typed=True).shape == [0, 3]


def test_python_to_value_encodes_typed_tensors_on_request() -> None:
    value = codec.python_to_value(np.array([1, 2], np.int64), typed=True)
    assert list(value.tensor.int64_contents) == [1, 2]
    assert codec.python_to_value(np.array([1, 2], np.int64)).tensor.raw_data
