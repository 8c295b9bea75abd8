"""Tests for modelrt.codec: wire values <-> numpy arrays, bytes, text and JSON."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from google.protobuf import struct_pb2

from modelrt import codec
from modelrt.codec import (
    DTYPE_NAMES,
    CodecError,
    array_to_tensor,
    dict_to_struct,
    dtype_name,
    python_to_value,
    struct_to_dict,
    tensor_to_array,
    value_to_python,
)
from modelrt.v1 import runtime_pb2, value_pb2

pytestmark = pytest.mark.timeout(10)

NUMERIC = [
    ("bool", np.array([[True, False], [False, True]])),
    ("int8", np.array([-128, 0, 127], dtype=np.int8)),
    ("int16", np.array([-32768, 1, 32767], dtype=np.int16)),
    ("int32", np.array([-(2**31), 7, 2**31 - 1], dtype=np.int32)),
    ("int64", np.array([-(2**63), 7, 2**63 - 1], dtype=np.int64)),
    ("uint8", np.array([0, 200, 255], dtype=np.uint8)),
    ("uint16", np.array([0, 65535], dtype=np.uint16)),
    ("uint32", np.array([0, 2**32 - 1], dtype=np.uint32)),
    ("uint64", np.array([0, 2**64 - 1], dtype=np.uint64)),
    ("float16", np.array([-1.5, 0.0, 65504.0], dtype=np.float16)),
    ("float32", np.arange(12, dtype=np.float32).reshape(2, 3, 2) / 3),
    ("float64", np.array([np.pi, -np.e, 1e300], dtype=np.float64)),
]
BFLOAT16 = value_pb2.DATA_TYPE_BFLOAT16


def round_trip(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    tensor = value_pb2.Tensor.FromString(array_to_tensor(array).SerializeToString())
    return tensor_to_array(tensor)


@pytest.mark.parametrize(("name", "array"), NUMERIC, ids=[name for name, _ in NUMERIC])
def test_numeric_arrays_round_trip_with_dtype_and_shape(
    name: str, array: np.ndarray[Any, Any]
) -> None:
    tensor = array_to_tensor(array)
    assert dtype_name(tensor.dtype) == name
    assert list(tensor.shape) == list(array.shape)
    assert len(tensor.raw_data) == array.size * array.itemsize

    decoded = round_trip(array)

    assert decoded.dtype == array.dtype
    assert decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)


def test_raw_data_is_little_endian_even_for_big_endian_input() -> None:
    array = np.array([1, 2], dtype=">i4")
    tensor = array_to_tensor(array)
    assert tensor.raw_data == b"\x01\x00\x00\x00\x02\x00\x00\x00"
    np.testing.assert_array_equal(tensor_to_array(tensor), [1, 2])


def test_non_contiguous_arrays_are_encoded_in_logical_order() -> None:
    array = np.arange(6, dtype=np.int32).reshape(2, 3).T
    np.testing.assert_array_equal(round_trip(array), array)


@pytest.mark.parametrize(
    "array",
    [np.array(3.5, dtype=np.float32), np.array(True), np.array(7, dtype=np.uint16)],
    ids=["float32", "bool", "uint16"],
)
def test_zero_dimensional_arrays_round_trip(array: np.ndarray[Any, Any]) -> None:
    decoded = round_trip(array)
    assert decoded.shape == ()
    assert decoded.dtype == array.dtype
    assert decoded.item() == array.item()


@pytest.mark.parametrize("shape", [(0,), (2, 0, 3)])
def test_empty_arrays_round_trip(shape: tuple[int, ...]) -> None:
    array = np.zeros(shape, dtype=np.float64)
    tensor = array_to_tensor(array)
    assert tensor.raw_data == b""
    decoded = round_trip(array)
    assert decoded.shape == shape
    assert decoded.dtype == np.float64


def test_string_arrays_round_trip_as_utf8() -> None:
    array = np.array([["héllo", ""], ["wörld", "🙂"]])
    tensor = array_to_tensor(array)
    assert tensor.dtype == value_pb2.DATA_TYPE_STRING
    assert list(tensor.string_data) == [s.encode() for s in array.flat]

    decoded = round_trip(array)

    assert decoded.dtype.kind == "U"
    assert decoded.tolist() == array.tolist()


def test_object_arrays_of_str_are_sent_as_string() -> None:
    array = np.array(["a", "bc"], dtype=object)
    assert array_to_tensor(array).dtype == value_pb2.DATA_TYPE_STRING
    assert round_trip(array).tolist() == ["a", "bc"]


def test_bytes_arrays_round_trip_as_object_arrays() -> None:
    array = np.empty(3, dtype=object)
    array[:] = [b"\x00\xff", b"", b"abc"]
    tensor = array_to_tensor(array)
    assert tensor.dtype == value_pb2.DATA_TYPE_BYTES

    decoded = round_trip(array)

    assert decoded.dtype == object
    assert decoded.tolist() == [b"\x00\xff", b"", b"abc"]


def test_fixed_width_bytes_arrays_are_sent_as_bytes() -> None:
    tensor = array_to_tensor(np.array([b"ab", b"c"]))
    assert tensor.dtype == value_pb2.DATA_TYPE_BYTES
    assert list(tensor.string_data) == [b"ab", b"c"]


def test_zero_dimensional_string_and_empty_string_arrays_round_trip() -> None:
    assert round_trip(np.array("solo")).tolist() == "solo"
    empty = round_trip(np.array([], dtype=str).reshape(0, 2))
    assert empty.shape == (0, 2)


def test_object_array_of_other_values_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="not bytes or str"):
        array_to_tensor(np.array([1.5, None], dtype=object))


def test_numpy_dtype_without_wire_dtype_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="complex128 has no wire dtype"):
        array_to_tensor(np.array([1 + 2j]))


def test_asking_for_another_wire_dtype_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="array of int32 cannot be sent as float32"):
        array_to_tensor(np.arange(3, dtype=np.int32), value_pb2.DATA_TYPE_FLOAT32)


def test_bfloat16_encodes_two_bytes_per_value_and_decodes_to_float32() -> None:
    exact = np.array([[0.0, 1.0, -2.5], [0.15625, 2.0**127, -np.inf]], dtype=np.float32)
    tensor = array_to_tensor(exact, BFLOAT16)
    assert tensor.dtype == BFLOAT16
    assert len(tensor.raw_data) == exact.size * 2

    decoded = round_trip_bf16(tensor)

    assert decoded.dtype == np.float32
    assert decoded.shape == exact.shape
    np.testing.assert_array_equal(decoded, exact)


def round_trip_bf16(tensor: value_pb2.Tensor) -> np.ndarray[Any, Any]:
    return tensor_to_array(value_pb2.Tensor.FromString(tensor.SerializeToString()))


def test_bfloat16_accepts_float64_input_and_keeps_nan() -> None:
    tensor = array_to_tensor(np.array([1.0, np.nan, 0.5]), BFLOAT16)
    decoded = tensor_to_array(tensor)
    assert decoded[0] == 1.0
    assert np.isnan(decoded[1])
    assert decoded[2] == 0.5


def test_bfloat16_rounds_to_nearest_even() -> None:
    one_plus = np.float32(1.0) + np.float32(2.0**-8)  # halfway between two bf16 values
    above = np.float32(1.0) + np.float32(2.0**-8 + 2.0**-12)
    decoded = tensor_to_array(array_to_tensor(np.array([one_plus, above]), BFLOAT16))
    assert decoded.tolist() == [1.0, 1.0 + 2.0**-7]


def test_bfloat16_keeps_every_nan_a_nan() -> None:
    nans = np.array([0x7F800001, 0x7FFFFFFF], dtype=np.uint32).view(np.float32)
    assert np.isnan(nans).all()
    decoded = tensor_to_array(array_to_tensor(nans, BFLOAT16))
    assert np.isnan(decoded).all()


def test_bfloat16_with_wrong_byte_count_names_the_expected_count() -> None:
    tensor = value_pb2.Tensor(dtype=BFLOAT16, shape=[3], raw_data=b"\x00" * 5)
    with pytest.raises(CodecError, match="needs 6 bytes, got 5"):
        tensor_to_array(tensor)


@pytest.mark.parametrize(
    ("dtype", "shape", "size", "expected"),
    [
        (value_pb2.DATA_TYPE_FLOAT32, [2, 3], 20, 24),
        (value_pb2.DATA_TYPE_INT64, [4], 40, 32),
        (value_pb2.DATA_TYPE_UINT8, [], 0, 1),
        (value_pb2.DATA_TYPE_FLOAT16, [0], 2, 0),
    ],
)
def test_wrong_raw_data_length_names_the_expected_byte_count(
    dtype: int, shape: list[int], size: int, expected: int
) -> None:
    tensor = value_pb2.Tensor(dtype=dtype, shape=shape, raw_data=b"\x00" * size)  # type: ignore[arg-type]
    with pytest.raises(CodecError) as caught:
        tensor_to_array(tensor)
    message = str(caught.value)
    assert f"needs {expected} bytes of raw_data, got {size}" in message
    assert dtype_name(dtype) in message


@pytest.mark.parametrize("dtype", [value_pb2.DATA_TYPE_STRING, value_pb2.DATA_TYPE_BYTES])
def test_string_data_count_mismatch_is_a_codec_error(dtype: int) -> None:
    tensor = value_pb2.Tensor(dtype=dtype, shape=[2, 2], string_data=[b"a", b"b", b"c"])  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="needs 4 elements in string_data, got 3"):
        tensor_to_array(tensor)


def test_string_tensor_that_is_not_utf8_is_a_codec_error() -> None:
    tensor = value_pb2.Tensor(
        dtype=value_pb2.DATA_TYPE_STRING, shape=[1], string_data=[b"\xff\xfe"]
    )
    with pytest.raises(CodecError, match="not UTF-8"):
        tensor_to_array(tensor)


def test_negative_dimension_is_a_codec_error() -> None:
    tensor = value_pb2.Tensor(dtype=value_pb2.DATA_TYPE_FLOAT32, shape=[2, -1], raw_data=b"")
    with pytest.raises(CodecError, match="negative dimension"):
        tensor_to_array(tensor)


def test_huge_shape_is_refused_before_any_allocation() -> None:
    tensor = value_pb2.Tensor(dtype=value_pb2.DATA_TYPE_UINT8, shape=[2**30, 2**30, 2**30])
    with pytest.raises(CodecError, match="too large"):
        tensor_to_array(tensor)


FAMILIES = [value_pb2.DATA_TYPE_FLOAT32, value_pb2.DATA_TYPE_STRING, BFLOAT16]


@pytest.mark.parametrize("dtype", FAMILIES)
@pytest.mark.parametrize("dims", [codec.max_dims() + 1, 1000])
def test_more_dimensions_than_numpy_allows_is_a_short_codec_error(dtype: int, dims: int) -> None:
    tensor = value_pb2.Tensor(dtype=dtype, shape=[1] * dims, raw_data=b"\x00" * 4)  # type: ignore[arg-type]
    with pytest.raises(CodecError, match=f"shape has {dims} dimensions; at most") as caught:
        tensor_to_array(tensor)
    assert len(str(caught.value)) < 100


def test_as_many_dimensions_as_numpy_allows_decode() -> None:
    tensor = value_pb2.Tensor(
        dtype=value_pb2.DATA_TYPE_FLOAT32, shape=[1] * codec.max_dims(), raw_data=b"\x00" * 4
    )
    assert tensor_to_array(tensor).ndim == codec.max_dims()


@pytest.mark.parametrize("dtype", FAMILIES)
@pytest.mark.parametrize(
    "shape", [[0, 2**62, 2**62], [2**62, 2**62, 0], [2**63 - 1, 0], [2**40 + 1], [2**21] * 2]
)
def test_shapes_numpy_cannot_build_are_refused_even_with_no_elements(
    dtype: int, shape: list[int]
) -> None:
    tensor = value_pb2.Tensor(dtype=dtype, shape=shape)  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="too large"):
        tensor_to_array(tensor)


def test_element_count_counts_in_python_integers() -> None:
    assert codec.element_count([]) == 1
    assert codec.element_count([0, codec.MAX_ELEMENTS]) == 0
    assert codec.element_count([2**20, 2**20]) == codec.MAX_ELEMENTS
    tensor = value_pb2.Tensor(dtype=value_pb2.DATA_TYPE_FLOAT32, shape=[0, codec.MAX_ELEMENTS])
    assert tensor_to_array(tensor).shape == (0, codec.MAX_ELEMENTS)


def test_string_tensor_whose_padding_would_explode_is_refused() -> None:
    # 2**14 elements padded to the longest (2**20 characters, 4 bytes each): 64 GiB.
    strings = [b"a" * (1 << 20)] + [b""] * ((1 << 14) - 1)
    tensor = value_pb2.Tensor(
        dtype=value_pb2.DATA_TYPE_STRING, shape=[len(strings)], string_data=strings
    )
    with pytest.raises(CodecError, match="string tensor is too large"):
        tensor_to_array(tensor)


def test_string_tensor_of_uneven_lengths_within_the_allowance_decodes() -> None:
    strings = [b"b" * 1000] + [b""] * 999
    tensor = value_pb2.Tensor(
        dtype=value_pb2.DATA_TYPE_STRING, shape=[10, 100], string_data=strings
    )
    decoded = tensor_to_array(tensor)
    assert decoded.shape == (10, 100)
    assert decoded[0, 0] == "b" * 1000


def test_unset_dtype_is_a_codec_error() -> None:
    tensor = value_pb2.Tensor(shape=[1], raw_data=b"\x00" * 4)
    with pytest.raises(CodecError, match="not set or not supported"):
        tensor_to_array(tensor)


def test_dtype_names_cover_every_wire_dtype_but_unspecified() -> None:
    assert set(DTYPE_NAMES) == {name for name, _ in NUMERIC} | {"bfloat16", "string", "bytes"}
    assert all(dtype_name(number) == name for name, number in DTYPE_NAMES.items())


@pytest.mark.parametrize(
    ("obj", "kind"),
    [
        (b"\x89PNG\r\n", "data"),
        (bytearray(b"ab"), "data"),
        (memoryview(b"cd"), "data"),
        ("héllo", "text"),
        ("", "text"),
    ],
)
def test_bytes_and_text_values_round_trip(obj: Any, kind: str) -> None:
    value = python_to_value(obj)
    assert value.WhichOneof("kind") == kind
    decoded = value_to_python(value_pb2.Value.FromString(value.SerializeToString()))
    assert decoded == (bytes(obj) if kind == "data" else obj)
    assert type(decoded) is (bytes if kind == "data" else str)


@pytest.mark.parametrize(
    "obj",
    [
        {"label": "cat", "scores": [0.5, 0.25], "meta": {"ok": True, "note": None}, "n": 5},
        [1, "two", 3.5, [None, False]],
        7,
        0.125,
        True,
        None,
        {},
        [],
    ],
)
def test_json_values_round_trip(obj: Any) -> None:
    value = python_to_value(obj)
    assert value.WhichOneof("kind") == "json"
    assert value_to_python(value_pb2.Value.FromString(value.SerializeToString())) == obj


def test_integral_json_numbers_come_back_as_int() -> None:
    decoded = value_to_python(python_to_value({"n": 5, "x": 0.5, "items": [1, 2]}))
    assert decoded == {"n": 5, "x": 0.5, "items": [1, 2]}
    assert type(decoded["n"]) is int
    assert type(decoded["items"][0]) is int


def test_tuples_become_lists_and_keys_become_strings() -> None:
    assert value_to_python(python_to_value({1: (1, "a")})) == {"1": [1, "a"]}


def test_numpy_scalars_and_arrays_inside_json_are_converted() -> None:
    obj = {
        "f": np.float32(1.5),
        "i": np.int64(7),
        "b": np.bool_(True),
        "nested": [np.uint8(3), np.arange(3)],
    }
    assert value_to_python(python_to_value(obj)) == {
        "f": 1.5,
        "i": 7,
        "b": True,
        "nested": [3, [0, 1, 2]],
    }


def test_arrays_are_encoded_as_tensors() -> None:
    value = python_to_value(np.arange(4, dtype=np.int16))
    assert value.WhichOneof("kind") == "tensor"
    np.testing.assert_array_equal(value_to_python(value), np.arange(4, dtype=np.int16))


@pytest.mark.parametrize("obj", [{"blob": b"x"}, {"what": object()}, [1, {2, 3}]])
def test_non_json_compatible_value_is_a_codec_error(obj: Any) -> None:
    with pytest.raises(CodecError, match="not JSON-compatible"):
        python_to_value(obj)


@pytest.mark.parametrize("number", [float("nan"), float("inf")])
def test_non_finite_json_number_is_a_codec_error(number: float) -> None:
    with pytest.raises(CodecError):
        value_to_python(python_to_value({"x": number}))


def test_value_without_payload_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="no payload set"):
        value_to_python(value_pb2.Value())


def test_dict_to_struct_round_trips_through_struct_to_dict() -> None:
    mapping = {"temperature": 0.7, "max_tokens": 16, "stop": ["\n", "."], "opts": {"x": None}}
    struct = dict_to_struct(mapping)
    assert isinstance(struct, struct_pb2.Struct)
    assert struct_to_dict(struct_pb2.Struct.FromString(struct.SerializeToString())) == mapping
    assert type(struct_to_dict(struct)["max_tokens"]) is int


def test_dict_to_struct_accepts_numpy_scalars() -> None:
    assert struct_to_dict(dict_to_struct({"seed": np.int32(3), "p": np.float64(0.5)})) == {
        "seed": 3,
        "p": 0.5,
    }


@pytest.mark.parametrize("mapping", [None, {}])
def test_dict_to_struct_of_nothing_is_an_empty_struct(mapping: dict[str, Any] | None) -> None:
    struct = dict_to_struct(mapping)
    assert struct == struct_pb2.Struct()
    assert struct_to_dict(struct) == {}


def test_dict_to_struct_with_non_json_value_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="parameters are not JSON-compatible"):
        dict_to_struct({"blob": b"\x00"})


@pytest.mark.parametrize(
    "obj",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array(["a", "b"]),
        b"\x00\x01",
        "hi",
        {"k": 1},
    ],
    ids=["tensor", "strings", "bytes", "text", "json"],
)
def test_write_value_fills_a_message_field_as_python_to_value_builds_it(obj: Any) -> None:
    response = runtime_pb2.PredictResponse()
    codec.write_value(response.outputs["y"], obj)
    assert response.outputs["y"] == codec.python_to_value(obj)


def test_write_value_of_a_value_it_cannot_encode_leaves_the_field_empty() -> None:
    response = runtime_pb2.PredictResponse()
    with pytest.raises(codec.CodecError):
        codec.write_value(response.outputs["y"], np.zeros(2, dtype=np.complex64))
    assert response.outputs["y"].WhichOneof("kind") is None
