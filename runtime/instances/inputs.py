"""Checks a request's inputs against the bundle's declared inputs before the model sees them."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loader.config import InputSpec
from registry.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np

#: Declared input dtype -> numpy dtype name (bfloat16 tensors arrive decoded to float32).
_DTYPE_NAMES = {
    "bool": "bool", "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "float16": "float16", "float32": "float32", "float64": "float64", "bfloat16": "float32",
}  # fmt: skip


@functools.cache
def _numpy_dtypes() -> dict[str, np.dtype[Any]]:
    """Declared input dtype -> numpy dtype, built on the first check (numpy is not imported
    with this module: the server, which only passes requests on, never needs it)."""
    import numpy as np

    return {name: np.dtype(numpy_name) for name, numpy_name in _DTYPE_NAMES.items()}


def _kind_of(value: Any) -> str:
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, str):
        return "text"
    import numpy as np

    return "tensor" if isinstance(value, np.ndarray) else "json"


def _dtype_matches(array: np.ndarray[Any, Any], dtype: str) -> bool:
    if dtype == "string":
        return bool(array.dtype.kind == "U")
    if dtype == "bytes":
        return bool(array.dtype.kind in "OS")
    return bool(array.dtype == _numpy_dtypes()[dtype])


def _shape_matches(shape: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    if shape == expected:  # the common case: a fixed shape, sent as declared
        return True
    return len(shape) == len(expected) and all(
        want in (-1, got) for got, want in zip(shape, expected, strict=True)
    )


def _check_one(spec: InputSpec, value: Any) -> None:
    kind = _kind_of(value)
    if kind != spec.kind:
        raise InvalidInputError(
            f"input {spec.name!r} must be {spec.kind}, got {kind}", metadata={"input": spec.name}
        )
    if kind != "tensor":
        return
    if spec.dtype and not _dtype_matches(value, spec.dtype):
        raise InvalidInputError(
            f"input {spec.name!r} must have dtype {spec.dtype}, got {value.dtype}",
            metadata={"input": spec.name},
        )
    if spec.shape is not None and not _shape_matches(value.shape, spec.shape):
        want = "[" + ", ".join("?" if d == -1 else str(d) for d in spec.shape) + "]"
        raise InvalidInputError(
            f"input {spec.name!r} must have shape {want}, got {list(value.shape)}",
            metadata={"input": spec.name},
        )


def check_inputs(inputs: Mapping[str, Any], specs: Sequence[InputSpec]) -> None:
    """Raise InvalidInputError naming the first missing, unexpected or mistyped input.

    With no declared inputs, any inputs are accepted.
    """
    if not specs:
        return
    if sum(spec.name in inputs for spec in specs) != len(inputs):  # checked per request: cheap
        declared = sorted(spec.name for spec in specs)
        unexpected = sorted(set(inputs) - set(declared))
        raise InvalidInputError(
            f"unexpected input {unexpected[0]!r}; this model takes {', '.join(declared)}",
            metadata={"input": unexpected[0]},
        )
    for spec in specs:
        if spec.name not in inputs:
            if not spec.optional:
                raise InvalidInputError(
                    f"missing input {spec.name!r}", metadata={"input": spec.name}
                )
            continue
        _check_one(spec, inputs[spec.name])
