"""Tensors in the typed form: elements listed in the ``*_contents`` field of their dtype.

The JSON-friendly twin of ``raw_data`` (see value.proto): decoded to the same numpy arrays, and
encoded when a caller asks for its response tensors as TENSOR_FORM_TYPED.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelrt.v1 import value_pb2

if TYPE_CHECKING:
    import numpy as np

V = value_pb2
#: dtype -> the contents field carrying its elements in the typed form.
FIELD: dict[int, str] = {
    V.DATA_TYPE_BOOL: "bool_contents",
    V.DATA_TYPE_INT8: "int_contents",
    V.DATA_TYPE_INT16: "int_contents",
    V.DATA_TYPE_INT32: "int_contents",
    V.DATA_TYPE_INT64: "int64_contents",
    V.DATA_TYPE_UINT8: "uint_contents",
    V.DATA_TYPE_UINT16: "uint_contents",
    V.DATA_TYPE_UINT32: "uint_contents",
    V.DATA_TYPE_UINT64: "uint64_contents",
    V.DATA_TYPE_FLOAT16: "fp32_contents",
    V.DATA_TYPE_BFLOAT16: "fp32_contents",
    V.DATA_TYPE_FLOAT32: "fp32_contents",
    V.DATA_TYPE_FLOAT64: "fp64_contents",
    V.DATA_TYPE_STRING: "string_contents",
}
FIELDS = tuple(dict.fromkeys(FIELD.values()))
#: The numpy dtype a contents field's elements are read as before they are cast to the dtype.
_READ_AS = {
    "bool_contents": "bool",
    "int_contents": "int64",
    "int64_contents": "int64",
    "uint_contents": "uint64",
    "uint64_contents": "uint64",
    "fp32_contents": "float32",
    "fp64_contents": "float64",
}


def set_fields(tensor: value_pb2.Tensor) -> list[str]:
    """The names of the contents fields that hold elements."""
    return [name for name in FIELDS if len(getattr(tensor, name))]


def read(
    tensor: value_pb2.Tensor, field: str, target: np.dtype[Any] | None
) -> np.ndarray[Any, Any]:
    """The elements of ``field`` as a flat array of ``target`` (None: a list of str, as objects).

    Raises ValueError naming an element that does not fit ``target`` (an int8 of 300, say).
    """
    import numpy as np

    items = getattr(tensor, field)
    if target is None:
        array = np.empty(len(items), dtype=object)
        array[:] = list(items)
        return array
    values = np.array(items, dtype=_READ_AS[field])
    if target.kind in "iu" and values.size:
        info = np.iinfo(target)
        low, high = values.min(), values.max()
        if int(low) < info.min or int(high) > info.max:
            bad = int(low) if int(low) < info.min else int(high)
            raise ValueError(f"{field} element {bad} does not fit {target.name}")
    return values.astype(target)


def write(tensor: value_pb2.Tensor, field: str, flat: np.ndarray[Any, Any]) -> None:
    """Append ``flat`` (C order) to the contents ``field`` of ``tensor``."""
    if field == "string_contents":
        getattr(tensor, field).extend(str(x) for x in flat)
        return
    if field in ("fp32_contents", "fp64_contents") or field == "bool_contents":
        getattr(tensor, field).extend(flat.tolist())
        return
    getattr(tensor, field).extend(int(x) for x in flat.tolist())
