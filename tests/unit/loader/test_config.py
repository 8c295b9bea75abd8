"""Tests for loader.config: the strict modelrt.yaml model and its YAML reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loader.config import BundleConfig, InputSpec, parse_config, read_yaml
from loader.errors import BundleError
from registry.errors import ErrorCode

pytestmark = pytest.mark.timeout(10)


def config_error(data: dict[str, Any], source: str = "modelrt.yaml") -> str:
    with pytest.raises(BundleError) as caught:
        parse_config(data, source)
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    return str(caught.value)


def test_minimal_config_gets_the_defaults() -> None:
    config = parse_config({"name": "echo"})
    assert config == BundleConfig(name="echo")
    assert config.version == "1"
    assert config.inputs == ()
    assert config.batching.max_batch_size == 0
    assert config.batching.max_queue_size == 1024
    assert [(group.count, group.kind) for group in config.instances] == [(1, "auto")]
    assert config.parameters == {}


def test_full_config_is_parsed() -> None:
    config = parse_config(
        {
            "name": "clf",
            "version": "2024-01",
            "description": "colours",
            "model_type": "classification",
            "framework": "onnx",
            "labels": ["red", "green"],
            "inputs": [
                {"name": "image", "dtype": "uint8", "shape": [-1, -1, 3]},
                {"name": "hint", "kind": "text", "optional": True},
            ],
            "batching": {"max_batch_size": 8, "max_queue_delay_ms": 2.5},
            "instances": [{"count": 2, "kind": "gpu", "gpus": [0, 1]}],
            "parameters": {"threshold": 0.5, "nested": {"a": [1]}},
        }
    )
    assert config.labels == ("red", "green")
    assert config.inputs == (
        InputSpec(name="image", dtype="uint8", shape=(-1, -1, 3)),
        InputSpec(name="hint", kind="text", optional=True),
    )
    assert config.batching.max_batch_size == 8
    assert config.instances[0].gpus == (0, 1)
    assert config.parameters == {"threshold": 0.5, "nested": {"a": [1]}}


def test_unknown_top_level_key_is_named() -> None:
    assert config_error({"name": "a", "colour": "red"}) == "modelrt.yaml: unknown key 'colour'"


def test_unknown_nested_key_is_named_with_its_path() -> None:
    message = config_error({"name": "a", "batching": {"max_batch_sz": 4}})
    assert message == "modelrt.yaml: unknown key 'batching.max_batch_sz'"


def test_unknown_key_in_an_input_is_named_with_its_index() -> None:
    message = config_error({"name": "a", "inputs": [{"name": "x", "shpe": [1]}]}, "config.yaml")
    assert message == "config.yaml: unknown key 'inputs.0.shpe'"


def test_every_problem_is_named_in_one_error() -> None:
    message = config_error({"batching": {"max_batch_size": "lots"}, "extra": 1})
    assert "name: Field required" in message
    assert "batching.max_batch_size: Input should be a valid integer" in message
    assert "unknown key 'extra'" in message
    assert message.count("; ") == 2


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"name": 5}, "name"),
        ({"name": "a", "labels": "red"}, "labels"),
        ({"name": "a", "batching": {"max_batch_size": -1}}, "batching.max_batch_size"),
        ({"name": "a", "instances": [{"count": 0}]}, "instances.0.count"),
        ({"name": "a", "instances": [{"kind": "tpu"}]}, "instances.0.kind"),
        ({"name": "a", "framework": "jax"}, "framework"),
        ({"name": "a", "inputs": [{"name": "x", "kind": "video"}]}, "inputs.0.kind"),
        ({"name": "a", "inputs": [{"name": "x", "dtype": "float128"}]}, "inputs.0.dtype"),
        ({"name": "a", "parameters": [1, 2]}, "parameters"),
    ],
)
def test_wrong_types_and_values_are_named(data: dict[str, Any], where: str) -> None:
    assert config_error(data).startswith(f"modelrt.yaml: {where}: ")


@pytest.mark.parametrize(("version", "text"), [(3, "3"), (1.5, "1.5"), ("v2", "v2")])
def test_version_numbers_become_text(version: Any, text: str) -> None:
    assert parse_config({"name": "a", "version": version}).version == text


@pytest.mark.parametrize("shape", [[-2], [3, -5, 1]])
def test_shape_dimensions_below_minus_one_are_rejected(shape: list[int]) -> None:
    message = config_error({"name": "a", "inputs": [{"name": "x", "shape": shape}]})
    assert "inputs.0.shape" in message
    assert "-1 for any size" in message


def test_shape_with_wildcards_and_zero_is_accepted() -> None:
    config = parse_config({"name": "a", "inputs": [{"name": "x", "shape": [-1, 0, 3]}]})
    assert config.inputs[0].shape == (-1, 0, 3)


def test_an_input_declared_twice_is_named() -> None:
    inputs = [{"name": "x"}, {"name": "y"}, {"name": "x", "kind": "text"}]
    message = config_error({"name": "a", "inputs": inputs})
    assert "inputs" in message
    assert "input 'x' is declared more than once" in message


def test_config_is_frozen() -> None:
    config = parse_config({"name": "a"})
    with pytest.raises(ValueError, match="frozen"):
        config.name = "b"  # type: ignore[misc]


def test_read_yaml_returns_the_mapping(tmp_path: Path) -> None:
    path = tmp_path / "modelrt.yaml"
    path.write_text("name: echo\nversion: 2\nlabels: [a, b]\n", encoding="utf-8")
    assert read_yaml(path) == {"name": "echo", "version": 2, "labels": ["a", "b"]}


def test_read_yaml_of_an_empty_file_is_an_empty_mapping(tmp_path: Path) -> None:
    path = tmp_path / "modelrt.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert read_yaml(path) == {}


def test_read_yaml_with_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "modelrt.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(BundleError, match=r"^modelrt\.yaml: cannot read: "):
        read_yaml(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_read_yaml_of_a_non_mapping_names_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BundleError, match=r"^config\.yaml: must be a mapping"):
        read_yaml(path)


def test_read_yaml_of_non_utf8_bytes_is_a_bundle_error(tmp_path: Path) -> None:
    path = tmp_path / "modelrt.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(BundleError, match=r"modelrt\.yaml: cannot read"):
        read_yaml(path)


def test_read_yaml_of_a_missing_file_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"modelrt\.yaml: cannot read"):
        read_yaml(tmp_path / "modelrt.yaml")
