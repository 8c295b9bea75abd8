"""Wire values <-> Python values (numpy arrays, bytes, str, JSON), shared by server and clients."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format, struct_pb2

from modelrt import contents
from modelrt.v1 import value_pb2

if TYPE_CHECKING:
    import numpy as np

DataType = value_pb2.DataType

#: DataType -> the (little-endian) numpy dtype of each numeric type, by name: numpy is imported
#: on the first conversion, not with this module (a server that only passes bytes never needs it).
_NUMERIC_NAMES: dict[int, str] = {
    value_pb2.DATA_TYPE_BOOL: "bool",
    value_pb2.DATA_TYPE_INT8: "<i1",
    value_pb2.DATA_TYPE_INT16: "<i2",
    value_pb2.DATA_TYPE_INT32: "<i4",
    value_pb2.DATA_TYPE_INT64: "<i8",
    value_pb2.DATA_TYPE_UINT8: "<u1",
    value_pb2.DATA_TYPE_UINT16: "<u2",
    value_pb2.DATA_TYPE_UINT32: "<u4",
    value_pb2.DATA_TYPE_UINT64: "<u8",
    value_pb2.DATA_TYPE_FLOAT16: "<f2",
    value_pb2.DATA_TYPE_FLOAT32: "<f4",
    value_pb2.DATA_TYPE_FLOAT64: "<f8",
}
#: Most elements a tensor may have, counting its non-zero dimensions only (so [0, 2**62, 2**62]
#: is refused too: numpy would refuse to build it).
MAX_ELEMENTS = 2**40
#: A STRING tensor decodes to a fixed-width array padded to its longest element (4 bytes per
#: character): it may take at most this many bytes, plus 8 times the bytes sent.
STRING_PADDING_ALLOWANCE = 64 << 20


@functools.cache
def _numeric() -> dict[int, np.dtype[Any]]:
    """DataType -> numpy dtype of the numeric types (built once, on the first conversion)."""
    import numpy as np

    return {code: np.dtype(name) for code, name in _NUMERIC_NAMES.items()}


@functools.cache
def _by_numpy() -> dict[np.dtype[Any], int]:
    """Native-order numpy dtype -> DataType of the numeric types."""
    return {dtype.newbyteorder("="): code for code, dtype in _numeric().items()}


@functools.cache
def max_dims() -> int:
    """Most dimensions a tensor may have: numpy's own limit (64 since numpy 2, 32 before)."""
    import numpy as np

    return 64 if int(np.__version__.split(".")[0]) >= 2 else 32


#: dtype names as people write them in configs and on the command line -> DataType.
DTYPE_NAMES: dict[str, int] = {
    name.removeprefix("DATA_TYPE_").lower(): number
    for name, number in value_pb2.DataType.items()
    if number != value_pb2.DATA_TYPE_UNSPECIFIED
}


class CodecError(ValueError):
    """A wire value cannot be decoded (wrong byte count, unknown dtype, bad shape)."""


def dtype_name(dtype: int) -> str:
    """'float32' for DATA_TYPE_FLOAT32, and so on."""
    name: str = value_pb2.DataType.Name(dtype)  # type: ignore[arg-type]
    return name.removeprefix("DATA_TYPE_").lower()


def _shape_text(shape: list[int]) -> str:
    """A shape for an error message, cut short when it has many dimensions."""
    if len(shape) <= 8:
        return str(shape)
    return f"[{', '.join(map(str, shape[:4]))}, ...] ({len(shape)} dimensions)"


def element_count(shape: list[int]) -> int:
    """The number of elements a tensor of ``shape`` holds; CodecError when no array can have it.

    Checked in Python integers before numpy sees the shape: at most max_dims() dimensions, none
    negative, and at most MAX_ELEMENTS elements counting the non-zero dimensions only.

    >>> element_count([2, 3])
    6
    """
    if len(shape) > max_dims():
        raise CodecError(f"shape has {len(shape)} dimensions; at most {max_dims()} are supported")
    count = 1
    extent = 1  # the product of the non-zero dimensions
    for dim in shape:
        if dim < 0:
            raise CodecError(f"shape {_shape_text(shape)} has a negative dimension")
        count *= dim
        extent *= dim or 1
        if extent > MAX_ELEMENTS:
            raise CodecError(
                f"shape {_shape_text(shape)} is too large (at most {MAX_ELEMENTS} elements)"
            )
    return count


def tensor_to_array(tensor: value_pb2.Tensor) -> np.ndarray[Any, Any]:
    """Decode a Tensor. BFLOAT16 decodes to float32; STRING to str, BYTES to an object array.

    >>> tensor_to_array(array_to_tensor(np.arange(3, dtype=np.int32))).tolist()
    [0, 1, 2]
    """
    import numpy as np

    shape = tensor.shape[:]  # a list; cheaper than list() over the repeated field
    count = element_count(shape)
    dtype = tensor.dtype
    typed = contents.set_fields(tensor)
    if typed:
        return _typed_to_array(tensor, typed, shape, count)
    np_dtype = _numeric().get(dtype)
    if np_dtype is not None:  # the common case first
        raw = tensor.raw_data  # each read of a bytes field makes a new bytes object: read it once
        if len(raw) != count * np_dtype.itemsize:
            raise CodecError(
                f"{dtype_name(dtype)} tensor of shape {_shape_text(shape)} needs "
                f"{count * np_dtype.itemsize} bytes of raw_data, got {len(raw)}"
            )
        return np.ndarray(shape, np_dtype, raw)  # read-only, over the bytes: no copy
    if dtype in (value_pb2.DATA_TYPE_STRING, value_pb2.DATA_TYPE_BYTES):
        if len(tensor.string_data) != count:
            raise CodecError(
                f"{dtype_name(dtype)} tensor of shape {_shape_text(shape)} needs {count} "
                f"elements in string_data, got {len(tensor.string_data)}"
            )
        if dtype == value_pb2.DATA_TYPE_STRING:
            return _string_array(list(tensor.string_data), shape)
        array = np.empty(count, dtype=object)
        array[:] = list(tensor.string_data)
        return array.reshape(shape)
    if dtype == value_pb2.DATA_TYPE_BFLOAT16:
        expected = count * 2
        if len(tensor.raw_data) != expected:
            raise CodecError(
                f"bfloat16 tensor of shape {_shape_text(shape)} needs {expected} bytes, got "
                f"{len(tensor.raw_data)}"
            )
        halves = np.frombuffer(tensor.raw_data, dtype="<u2").astype(np.uint32) << 16
        return halves.view(np.float32).reshape(shape)
    raise CodecError(f"tensor dtype {dtype} is not set or not supported")


def _typed_to_array(
    tensor: value_pb2.Tensor, typed: list[str], shape: list[int], count: int
) -> np.ndarray[Any, Any]:
    """Decode a tensor in the typed form (its elements in a ``*_contents`` field)."""
    import numpy as np

    dtype = tensor.dtype
    name = dtype_name(dtype) if dtype in DTYPE_NAMES.values() else str(dtype)
    field = contents.FIELD.get(dtype)
    if field is None:
        raise CodecError(f"{name} tensor has no typed form; send its elements in string_data")
    if typed != [field]:
        raise CodecError(
            f"{name} tensor carries its elements in {field} only, got {', '.join(typed)}"
        )
    if len(tensor.raw_data) or len(tensor.string_data):
        other = "raw_data" if len(tensor.raw_data) else "string_data"
        raise CodecError(f"{name} tensor sets both {other} and {field}: send one form only")
    got = len(getattr(tensor, field))
    if got != count:
        raise CodecError(
            f"{name} tensor of shape {_shape_text(shape)} needs {count} elements in {field}, "
            f"got {got}"
        )
    if dtype == value_pb2.DATA_TYPE_STRING:
        return _string_array([item.encode("utf-8") for item in tensor.string_contents], shape)
    target = np.dtype(np.float32) if dtype == value_pb2.DATA_TYPE_BFLOAT16 else _numeric()[dtype]
    try:
        flat = contents.read(tensor, field, target)
    except ValueError as exc:
        raise CodecError(f"{name} tensor: {exc}") from None
    return flat.reshape(shape)


def _string_array(data: list[bytes], shape: list[int]) -> np.ndarray[Any, Any]:
    """UTF-8 elements as a fixed-width str array, refused when padding would blow it up."""
    import numpy as np

    try:
        items = [item.decode("utf-8") for item in data]
    except UnicodeDecodeError as exc:
        raise CodecError(f"string tensor element is not UTF-8: {exc}") from None
    longest = max(map(len, items), default=0)
    padded = 4 * longest * len(items)
    if padded > 8 * sum(map(len, data)) + STRING_PADDING_ALLOWANCE:
        raise CodecError(
            f"string tensor is too large: {len(items)} elements padded to the longest "
            f"({longest} characters) would take {padded} bytes"
        )
    return np.array(items, dtype=str).reshape(shape)


def array_to_tensor(
    array: np.ndarray[Any, Any], dtype: int | None = None, *, typed: bool = False
) -> value_pb2.Tensor:
    """Encode a numpy array; ``dtype`` may ask for BFLOAT16 (from float32/float64 input).

    ``typed`` lists the elements in the ``*_contents`` field of their dtype instead of raw_data
    (BYTES tensors keep string_data).

    >>> list(array_to_tensor(np.arange(2, dtype=np.int8), typed=True).int_contents)
    [0, 1]
    """
    tensor = value_pb2.Tensor()
    write_tensor(tensor, array, dtype, typed=typed)
    return tensor


def write_tensor(
    tensor: value_pb2.Tensor,
    array: np.ndarray[Any, Any],
    dtype: int | None = None,
    *,
    typed: bool = False,
) -> None:
    """Encode ``array`` into the empty ``tensor`` in place (no message is built and copied)."""
    _write_raw(tensor, array, dtype)
    if typed:
        to_typed(tensor)


def to_typed(tensor: value_pb2.Tensor) -> None:
    """Move the elements of a raw-form ``tensor`` into its typed ``*_contents`` field, in place.

    BYTES tensors, which have no typed form, are left as they are.
    """
    field = contents.FIELD.get(tensor.dtype)
    if field is None or contents.set_fields(tensor):
        return
    if field == "string_contents":
        tensor.string_contents.extend(item.decode("utf-8") for item in tensor.string_data)
        del tensor.string_data[:]
        return
    flat = tensor_to_array(tensor).reshape(-1)
    tensor.ClearField("raw_data")
    contents.write(tensor, field, flat)


def _write_raw(
    tensor: value_pb2.Tensor, array: np.ndarray[Any, Any], dtype: int | None = None
) -> None:
    import numpy as np

    array = np.asarray(array)
    code = _by_numpy().get(array.dtype)  # a native numeric dtype: the common case first
    if code is not None and (dtype is None or dtype == code) and array.dtype == _numeric()[code]:
        _fill(tensor, code, array.shape, raw=array)
        return
    if dtype == value_pb2.DATA_TYPE_BFLOAT16:
        floats = np.ascontiguousarray(array, dtype=np.float32)
        bits = floats.view(np.uint32)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
        rounded = np.where(np.isnan(floats), 0x7FC0, rounded)  # rounding must not turn NaN to inf
        _fill(tensor, value_pb2.DATA_TYPE_BFLOAT16, array.shape, raw=rounded.astype("<u2"))
        return
    kind = array.dtype.kind
    if kind == "U" or (kind == "O" and all(isinstance(x, str) for x in array.flat)):
        data = [str(x).encode("utf-8") for x in array.flat]
        _fill(tensor, value_pb2.DATA_TYPE_STRING, array.shape, strings=data)
        return
    if kind == "S" or kind == "O":
        try:
            data = [bytes(x) for x in array.flat]
        except (TypeError, ValueError) as exc:
            raise CodecError(
                f"object array holds values that are not bytes or str: {exc}"
            ) from None
        _fill(tensor, value_pb2.DATA_TYPE_BYTES, array.shape, strings=data)
        return
    code = _by_numpy().get(array.dtype) if array.dtype.isnative else None
    if code is None:
        code = _by_numpy().get(array.dtype.newbyteorder("="))
    if code is None:
        raise CodecError(f"numpy dtype {array.dtype} has no wire dtype")
    if dtype is not None and dtype != code:
        raise CodecError(f"array of {array.dtype} cannot be sent as {dtype_name(dtype)}")
    _fill(tensor, code, array.shape, raw=np.asarray(array, dtype=_numeric()[code]))


def _fill(
    tensor: value_pb2.Tensor,
    dtype: int,
    shape: tuple[int, ...],
    raw: np.ndarray[Any, Any] | None = None,
    strings: list[bytes] | None = None,
) -> None:
    tensor.dtype = dtype  # type: ignore[assignment]
    tensor.shape.extend(shape)
    if raw is not None:
        tensor.raw_data = raw.tobytes()  # C order, whatever the array's layout
    if strings is not None:
        tensor.string_data.extend(strings)


def _ints(obj: Any) -> Any:
    """JSON has one number type: give integral numbers back as int (20.0 -> 20)."""
    if isinstance(obj, float) and obj.is_integer() and abs(obj) <= 2**53:
        return int(obj)
    if isinstance(obj, dict):
        return {k: _ints(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_ints(v) for v in obj]
    return obj


def _message_to_python(message: Any) -> Any:
    try:
        return _ints(json_format.MessageToDict(message))
    except ValueError as exc:  # NaN or infinity: not JSON
        raise CodecError(f"JSON value is not valid: {exc}") from None


def json_to_python(value: struct_pb2.Value) -> Any:
    """A google.protobuf.Value as plain Python; integral numbers come back as int.

    >>> json_to_python(python_to_json({"n": 5, "x": 0.5}))
    {'n': 5, 'x': 0.5}
    """
    return _message_to_python(value)


def python_to_json(obj: Any) -> struct_pb2.Value:
    """Plain Python (JSON-compatible) as a google.protobuf.Value; numpy scalars are accepted."""
    message = struct_pb2.Value()
    try:
        json_format.ParseDict(_plain(obj), message)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise CodecError(f"value is not JSON-compatible: {exc}") from None
    return message


def _plain(obj: Any) -> Any:
    import numpy as np

    def plain(item: Any) -> Any:
        if isinstance(item, Mapping):
            return {str(k): plain(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [plain(v) for v in item]
        if isinstance(item, np.ndarray):
            return item.tolist()
        if isinstance(item, np.generic):
            item = item.item()
        if isinstance(item, float) and not math.isfinite(item):
            raise CodecError(f"{item} is not a JSON number")
        return item

    return plain(obj)


def value_to_python(value: value_pb2.Value) -> Any:
    """Decode a Value: tensor -> ndarray, data -> bytes, text -> str, json -> plain Python."""
    kind = value.WhichOneof("kind")
    if kind == "tensor":
        return tensor_to_array(value.tensor)
    if kind == "data":
        return value.data
    if kind == "text":
        return value.text
    if kind == "json":
        return json_to_python(value.json)
    raise CodecError("value has no payload set (one of tensor, data, text, json)")


def python_to_value(obj: Any, *, typed: bool = False) -> value_pb2.Value:
    """Encode ndarray -> tensor, bytes -> data, str -> text, anything JSON-compatible -> json.

    ``typed`` encodes a tensor in the typed form (see array_to_tensor).
    """
    value = value_pb2.Value()
    write_value(value, obj, typed=typed)
    return value


def write_value(value: value_pb2.Value, obj: Any, *, typed: bool = False) -> None:
    """Encode ``obj`` into the empty ``value`` in place, as python_to_value does.

    >>> response = runtime_pb2.PredictResponse()  # doctest: +SKIP
    >>> write_value(response.outputs["y"], np.zeros(3))  # doctest: +SKIP
    """
    import numpy as np

    if isinstance(obj, np.ndarray):
        write_tensor(value.tensor, obj, typed=typed)
    elif isinstance(obj, bytes | bytearray | memoryview):
        value.data = bytes(obj)
    elif isinstance(obj, str):
        value.text = obj
    else:
        value.json.CopyFrom(python_to_json(obj))


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A google.protobuf.Struct as a dict; integral numbers come back as int."""
    if not struct.fields:  # the common case, and MessageToDict is not cheap
        return {}
    result: dict[str, Any] = _message_to_python(struct)
    return result


def dict_to_struct(mapping: Mapping[str, Any] | None) -> struct_pb2.Struct:
    """A JSON-compatible mapping as a google.protobuf.Struct."""
    struct = struct_pb2.Struct()
    if mapping:
        try:
            json_format.ParseDict(_plain(mapping), struct)
        except (json_format.ParseError, TypeError, ValueError) as exc:
            raise CodecError(f"parameters are not JSON-compatible: {exc}") from None
    return struct
