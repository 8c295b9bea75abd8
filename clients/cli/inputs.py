"""The CLI's input syntax: ``name[:type]=value`` options, ``-p key=value`` and JSON lines on stdin.

``type`` is ``text``, ``json`` or a tensor dtype (``float32``, ``int64``, ``string``, ...); a value
``@path`` reads a file (bytes when untyped, a .npy or JSON file for a tensor); ``@@`` escapes ``@``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelrt.codec import DTYPE_NAMES, CodecError, array_to_tensor, python_to_json
from modelrt.v1 import value_pb2

if TYPE_CHECKING:
    import numpy as np

_NPY_MAGIC = b"\x93NUMPY"
_VALUE_KINDS = ("text", "json")


class InputError(ValueError):
    """An input or parameter given on the command line or stdin cannot be understood."""


def split_key(key: str) -> tuple[str, str]:
    """Split ``name[:type]`` into the name and the type ("" when untyped).

    >>> split_key("x:float32")
    ('x', 'float32')
    """
    name, _, kind = key.partition(":")
    name, kind = name.strip(), kind.strip().lower()
    if not name:
        raise InputError(f"{key!r}: the input has no name")
    if kind and kind not in _VALUE_KINDS and kind not in DTYPE_NAMES:
        dtypes = ", ".join(DTYPE_NAMES)
        raise InputError(f"input {name!r}: unknown type {kind!r} (use text, json or {dtypes})")
    return name, kind


def _read_file(name: str, path: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise InputError(f"input {name!r}: cannot read {path!r}: {exc.strerror or exc}") from None


def _parse_json(name: str, text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"input {name!r}: not valid JSON: {exc}") from None


def _decode_text(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"input {name!r}: the file is not UTF-8 text") from None


def _numeric(name: str, dtype: str, data: Any) -> np.ndarray[Any, Any]:
    import numpy as np

    target = np.dtype(dtype)
    try:
        array = np.asarray(data)
    except ValueError:
        raise InputError(f"input {name!r}: a {dtype} tensor needs a rectangular array") from None
    if array.size == 0:
        return array.astype(target)
    if array.dtype.kind not in "biuf":
        raise InputError(f"input {name!r}: a {dtype} tensor needs numbers, got {array.dtype}")
    cast = array.astype(target)
    # Integer and bool targets must hold every value exactly: no 1.5 as int32, no 300 as uint8.
    if target.kind in "biu" and not np.array_equal(cast.astype(array.dtype), array):
        raise InputError(f"input {name!r}: values do not fit {dtype} exactly")
    return cast


def _strings(name: str, dtype: str, data: Any) -> np.ndarray[Any, Any]:
    import numpy as np

    array = np.asarray(data, dtype=object) if not isinstance(data, np.ndarray) else data
    items = list(array.flat)
    if dtype == "string":
        if not all(isinstance(item, str) for item in items):
            raise InputError(f"input {name!r}: a string tensor needs strings")
        return np.asarray(data, dtype=str)
    encoded = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        if not isinstance(item, str | bytes):
            raise InputError(f"input {name!r}: a bytes tensor needs strings")
        encoded[index] = item.encode("utf-8") if isinstance(item, str) else item
    return encoded.reshape(array.shape)


def tensor_value(name: str, dtype: str, data: Any) -> value_pb2.Value:
    """A tensor Value of ``dtype`` from nested JSON lists (or a numpy array).

    >>> tensor_value("x", "float32", [[1, 2], [3, 4]]).tensor.shape
    [2, 2]
    """
    if dtype in ("string", "bytes"):
        array = _strings(name, dtype, data)
        return value_pb2.Value(tensor=array_to_tensor(array))
    if dtype == "bfloat16":
        array = _numeric(name, "float32", data)
        return value_pb2.Value(tensor=array_to_tensor(array, value_pb2.DATA_TYPE_BFLOAT16))
    return value_pb2.Value(tensor=array_to_tensor(_numeric(name, dtype, data)))


def json_value(name: str, data: Any) -> value_pb2.Value:
    """A JSON Value (even for a string, which untyped would travel as text).

    >>> json_value("x", [1, 2]).json.list_value.values[0].number_value
    1.0
    """
    try:
        return value_pb2.Value(json=python_to_json(data))
    except CodecError as exc:
        raise InputError(f"input {name!r}: {exc}") from None


def _tensor_from_file(name: str, dtype: str, data: bytes) -> value_pb2.Value:
    import numpy as np

    if data.startswith(_NPY_MAGIC):
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"input {name!r}: cannot read the .npy file: {exc}") from None
        return tensor_value(name, dtype, array)
    return tensor_value(name, dtype, _parse_json(name, data))


def parse_input(spec: str) -> tuple[str, value_pb2.Value]:
    """Parse one ``-i`` option: ``text=hello``, ``img=@photo.png``, ``x:json=[1,2]``,
    ``x:float32=[[1,2],[3,4]]`` or ``x:float32=@arr.npy``.

    >>> parse_input("text=hello")[1].text
    'hello'
    """
    key, sep, raw = spec.partition("=")
    if not sep:
        raise InputError(f"{spec!r}: expected NAME=VALUE or NAME:TYPE=VALUE")
    name, kind = split_key(key)
    path = raw[1:] if raw.startswith("@") and not raw.startswith("@@") else None
    literal = raw[1:] if raw.startswith("@@") else raw
    if not kind:
        if path is not None:
            return name, value_pb2.Value(data=_read_file(name, path))
        return name, value_pb2.Value(text=literal)
    if kind == "text":
        text = literal if path is None else _decode_text(name, _read_file(name, path))
        return name, value_pb2.Value(text=text)
    if kind == "json":
        source = literal if path is None else _read_file(name, path)
        return name, json_value(name, _parse_json(name, source))
    if path is not None:
        return name, _tensor_from_file(name, kind, _read_file(name, path))
    return name, tensor_value(name, kind, _parse_json(name, literal))


def parse_inputs(specs: tuple[str, ...] | list[str]) -> dict[str, value_pb2.Value]:
    """Parse every ``-i`` option; a name given twice is an error.

    >>> sorted(parse_inputs(["a=1", "b:json=2"]))
    ['a', 'b']
    """
    inputs: dict[str, value_pb2.Value] = {}
    for spec in specs:
        name, value = parse_input(spec)
        if name in inputs:
            raise InputError(f"input {name!r} is given more than once")
        inputs[name] = value
    return inputs


def parse_parameters(specs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Parse ``-p key=value`` options; a value is JSON when it parses as JSON, else a string.

    >>> parse_parameters(["temperature=0.5", "stop=end"])
    {'temperature': 0.5, 'stop': 'end'}
    """
    parameters: dict[str, Any] = {}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{spec!r}: expected KEY=VALUE")
        try:
            parameters[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            parameters[key.strip()] = raw
    return parameters


def _typed_value(name: str, kind: str, data: Any) -> value_pb2.Value:
    if not kind:
        if isinstance(data, str):
            return value_pb2.Value(text=data)
        return json_value(name, data)
    if kind == "text":
        if not isinstance(data, str):
            raise InputError(f"input {name!r}: a text input needs a JSON string")
        return value_pb2.Value(text=data)
    if kind == "json":
        return json_value(name, data)
    return tensor_value(name, kind, data)


def parse_stream_line(line: str) -> dict[str, value_pb2.Value] | None:
    """The inputs of one stdin line: a JSON object keyed ``name[:type]``, else ``{"text": line}``.

    Returns None for a blank line.

    >>> parse_stream_line('{"audio:float32": [0.1, 0.2]}')["audio"].tensor.shape
    [2]
    """
    text = line.rstrip("\r\n")
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return {"text": value_pb2.Value(text=text)}
    inputs: dict[str, value_pb2.Value] = {}
    for key, value in data.items():
        name, kind = split_key(key)
        inputs[name] = _typed_value(name, kind, value)
    return inputs
