"""The CLI input syntax: every form of -i, -p parameters, stdin lines, and clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from clients.cli.commands import cli
from clients.cli.inputs import (
    InputError,
    parse_input,
    parse_inputs,
    parse_parameters,
    parse_stream_line,
    split_key,
    tensor_value,
)
from modelrt.codec import tensor_to_array, value_to_python
from modelrt.v1 import value_pb2


def _decoded(spec: str) -> object:
    return value_to_python(parse_input(spec)[1])


def test_plain_value_is_text() -> None:
    name, value = parse_input("text=hello=world")
    assert name == "text"
    assert value.WhichOneof("kind") == "text"
    assert value.text == "hello=world"


def test_at_path_reads_bytes_from_a_file(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\x00\xff")
    value = parse_input(f"img=@{photo}")[1]
    assert value.WhichOneof("kind") == "data"
    assert value.data == b"\x89PNG\x00\xff"


def test_double_at_escapes_a_literal_at() -> None:
    assert parse_input("handle=@@modelrt")[1].text == "@modelrt"


def test_json_type_parses_json_even_for_a_string() -> None:
    assert _decoded("x:json=[1,2]") == [1, 2]
    value = parse_input('x:json="hi"')[1]
    assert value.WhichOneof("kind") == "json"
    assert value_to_python(value) == "hi"


def test_json_type_reads_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    path.write_text(json.dumps({"a": {"b": True}}))
    assert _decoded(f"meta:json=@{path}") == {"a": {"b": True}}


def test_text_type_reads_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text("once upon a time\n", encoding="utf-8")
    assert parse_input(f"prompt:text=@{path}")[1].text == "once upon a time\n"
    assert parse_input("prompt:text=@@x")[1].text == "@x"


def test_dtype_builds_a_tensor_from_a_json_list() -> None:
    array = _decoded("x:float32=[[1,2],[3,4]]")
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.float32
    assert array.tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    ("dtype", "data", "expected"),
    [
        ("bool", "[true, false]", np.dtype(bool)),
        ("int8", "[-1, 2]", np.dtype(np.int8)),
        ("uint8", "[0, 255]", np.dtype(np.uint8)),
        ("int64", "7", np.dtype(np.int64)),
        ("float16", "[0.5]", np.dtype(np.float16)),
        ("float64", "[1, 2.5]", np.dtype(np.float64)),
        ("bfloat16", "[1.0, 2.0]", np.dtype(np.float32)),  # bfloat16 decodes to float32
    ],
)
def test_every_numeric_dtype(dtype: str, data: str, expected: np.dtype) -> None:
    array = _decoded(f"x:{dtype}={data}")
    assert isinstance(array, np.ndarray)
    assert array.dtype == expected


def test_bfloat16_travels_as_bfloat16() -> None:
    tensor = parse_input("x:bfloat16=[1.5, -2]")[1].tensor
    assert tensor.dtype == value_pb2.DATA_TYPE_BFLOAT16
    assert tensor_to_array(tensor).tolist() == [1.5, -2.0]


def test_string_and_bytes_tensors() -> None:
    strings = parse_input('x:string=["a", "bc"]')[1].tensor
    assert strings.dtype == value_pb2.DATA_TYPE_STRING
    assert tensor_to_array(strings).tolist() == ["a", "bc"]
    blobs = parse_input('x:bytes=[["a"], ["b"]]')[1].tensor
    assert blobs.dtype == value_pb2.DATA_TYPE_BYTES
    assert list(blobs.shape) == [2, 1]
    assert list(blobs.string_data) == [b"a", b"b"]


def test_dtype_reads_a_npy_file_and_casts_it(tmp_path: Path) -> None:
    path = tmp_path / "arr.npy"
    np.save(path, np.arange(6, dtype=np.float64).reshape(2, 3))
    array = _decoded(f"x:float32=@{path}")
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.float32
    assert array.shape == (2, 3)


def test_dtype_reads_a_json_file_too(tmp_path: Path) -> None:
    path = tmp_path / "arr.json"
    path.write_text("[1, 2, 3]")
    assert _decoded(f"x:int32=@{path}").tolist() == [1, 2, 3]  # type: ignore[attr-defined]


def test_type_names_are_case_insensitive() -> None:
    assert split_key("x:Float32") == ("x", "float32")
    assert split_key("x") == ("x", "")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("novalue", "expected NAME=VALUE"),
        ("=1", "has no name"),
        ("x:float99=[1]", "unknown type 'float99'"),
        ("x:json=[1,", "not valid JSON"),
        ("x:float32=[1,", "not valid JSON"),
        ("x:float32=[[1,2],[3]]", "rectangular"),
        ('x:float32=["a"]', "needs numbers"),
        ("x:int32=[1.5]", "do not fit int32"),
        ("x:uint8=[300]", "do not fit uint8"),
        ("x:bool=[2]", "do not fit bool"),
        ("x:string=[1]", "needs strings"),
        ("x:bytes=[1]", "needs strings"),
        ("x=@/no/such/file", "cannot read '/no/such/file'"),
    ],
)
def test_bad_inputs_raise_input_error(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        parse_input(spec)


def test_a_pickled_npy_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"cannot read the \.npy file"):
        parse_input(f"x:float32=@{path}")


def test_a_name_given_twice_is_an_error() -> None:
    with pytest.raises(InputError, match="more than once"):
        parse_inputs(["a=1", "a:json=2"])


def test_parameters_are_json_when_they_parse_else_strings() -> None:
    assert parse_parameters(["t=0.5", "n=3", 'stop=["."]', "name=bob", "flag=true", "e="]) == {
        "t": 0.5,
        "n": 3,
        "stop": ["."],
        "name": "bob",
        "flag": True,
        "e": "",
    }
    with pytest.raises(InputError, match="expected KEY=VALUE"):
        parse_parameters(["novalue"])


def test_stream_line_json_object_uses_the_key_syntax() -> None:
    inputs = parse_stream_line('{"audio:float32": [0.1, 0.2], "text": "hi", "meta": {"a": 1}}\n')
    assert inputs is not None
    assert inputs["audio"].tensor.dtype == value_pb2.DATA_TYPE_FLOAT32
    assert inputs["text"].text == "hi"
    assert value_to_python(inputs["meta"]) == {"a": 1}


def test_stream_line_that_is_not_a_json_object_is_text() -> None:
    assert parse_stream_line("hello there\n") == {"text": value_pb2.Value(text="hello there")}
    assert parse_stream_line("42\n") == {"text": value_pb2.Value(text="42")}
    assert parse_stream_line("  \n") is None


def test_stream_line_errors_name_the_input() -> None:
    with pytest.raises(InputError, match="input 'x': a text input needs a JSON string"):
        parse_stream_line('{"x:text": 5}')
    with pytest.raises(InputError, match="unknown type"):
        parse_stream_line('{"x:nope": 5}')


def test_tensor_value_accepts_numpy_arrays() -> None:
    value = tensor_value("x", "int16", np.array([1, 2], dtype=np.int64))
    assert value.tensor.dtype == value_pb2.DATA_TYPE_INT16


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("x:float99=[1]", "unknown type 'float99'"),
        ("x:json={", "not valid JSON"),
        ("x=@/no/such/file", "cannot read"),
    ],
)
def test_bad_inputs_are_click_usage_errors(option: str, message: str) -> None:
    result = CliRunner().invoke(cli, ["--address", "127.0.0.1:1", "predict", "m", "-i", option])
    assert result.exit_code == click.UsageError.exit_code
    assert "Invalid value for '-i' / '--input'" in result.stderr
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
