"""Tests for runtime.instances.inputs: request inputs checked against the declared inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from loader.config import InputSpec
from registry.errors import ErrorCode, InvalidInputError
from runtime.instances.inputs import check_inputs

pytestmark = pytest.mark.timeout(10)

IMAGE = InputSpec(name="image", kind="tensor", dtype="uint8", shape=(-1, -1, 3))
PROMPT = InputSpec(name="prompt", kind="text")
HINT = InputSpec(name="hint", kind="json", optional=True)
SPECS = (IMAGE, PROMPT, HINT)


def refused(inputs: dict[str, Any], specs: tuple[InputSpec, ...] = SPECS) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        check_inputs(inputs, specs)
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    return caught.value


def test_inputs_matching_their_specs_are_accepted() -> None:
    check_inputs({"image": np.zeros((4, 5, 3), np.uint8), "prompt": "hi", "hint": {"k": 1}}, SPECS)


def test_optional_inputs_may_be_left_out() -> None:
    check_inputs({"image": np.zeros((1, 1, 3), np.uint8), "prompt": "hi"}, SPECS)


@pytest.mark.parametrize(
    "inputs",
    [{}, {"anything": 1, "else": np.zeros(3)}, {"x": b"raw", "y": "text"}],
)
def test_without_declared_inputs_anything_is_accepted(inputs: dict[str, Any]) -> None:
    check_inputs(inputs, ())


def test_missing_required_input_is_named() -> None:
    error = refused({"image": np.zeros((1, 1, 3), np.uint8)})
    assert str(error) == "missing input 'prompt'"
    assert error.metadata == {"input": "prompt"}


def test_unexpected_input_is_named_with_the_declared_ones() -> None:
    error = refused({"image": np.zeros((1, 1, 3), np.uint8), "prompt": "hi", "extra": 1})
    assert str(error) == "unexpected input 'extra'; this model takes hint, image, prompt"
    assert error.metadata == {"input": "extra"}


@pytest.mark.parametrize(
    ("value", "kind"),
    [("a string", "text"), (b"\x89PNG", "bytes"), ({"a": 1}, "json"), ([1, 2], "json")],
)
def test_wrong_kind_is_named(value: Any, kind: str) -> None:
    error = refused({"image": value, "prompt": "hi"})
    assert str(error) == f"input 'image' must be tensor, got {kind}"
    assert error.metadata == {"input": "image"}


def test_a_tensor_where_text_is_declared_is_the_wrong_kind() -> None:
    error = refused({"image": np.zeros((1, 1, 3), np.uint8), "prompt": np.array(["hi"])})
    assert str(error) == "input 'prompt' must be text, got tensor"


def test_wrong_dtype_is_named() -> None:
    error = refused({"image": np.zeros((2, 2, 3), np.float32), "prompt": "hi"})
    assert str(error) == "input 'image' must have dtype uint8, got float32"


@pytest.mark.parametrize(
    ("dtype", "array"),
    [
        ("string", np.array(["a", "b"])),
        ("bytes", np.array([b"a"], dtype=object)),
        ("bytes", np.array([b"a"])),
        ("bfloat16", np.zeros(2, np.float32)),
        ("bool", np.array([True])),
        ("int64", np.zeros(2, np.int64)),
    ],
)
def test_dtype_names_match_the_arrays_the_codec_produces(dtype: str, array: Any) -> None:
    check_inputs({"x": array}, (InputSpec(name="x", dtype=dtype),))  # type: ignore[arg-type]


def test_string_dtype_refuses_a_bytes_array() -> None:
    spec = InputSpec(name="x", dtype="string")
    with pytest.raises(InvalidInputError, match="must have dtype string"):
        check_inputs({"x": np.array([b"a"], dtype=object)}, (spec,))


@pytest.mark.parametrize("shape", [(1, 1, 3), (480, 640, 3), (0, 7, 3)])
def test_minus_one_dimensions_accept_any_size(shape: tuple[int, ...]) -> None:
    check_inputs({"image": np.zeros(shape, np.uint8), "prompt": "hi"}, SPECS)


@pytest.mark.parametrize(
    ("shape", "got"),
    [((4, 4, 4), "[4, 4, 4]"), ((4, 3), "[4, 3]"), ((1, 4, 4, 3), "[1, 4, 4, 3]")],
)
def test_wrong_shape_is_named_with_wildcards_shown_as_question_marks(
    shape: tuple[int, ...], got: str
) -> None:
    error = refused({"image": np.zeros(shape, np.uint8), "prompt": "hi"})
    assert str(error) == f"input 'image' must have shape [?, ?, 3], got {got}"


def test_a_fixed_shape_must_match_exactly() -> None:
    spec = InputSpec(name="x", shape=(2, 3))
    check_inputs({"x": np.zeros((2, 3))}, (spec,))
    with pytest.raises(InvalidInputError, match=r"must have shape \[2, 3\], got \[3, 2\]"):
        check_inputs({"x": np.zeros((3, 2))}, (spec,))


def test_a_scalar_shape_accepts_only_a_zero_dimensional_array() -> None:
    spec = InputSpec(name="x", shape=())
    check_inputs({"x": np.array(1.0)}, (spec,))
    with pytest.raises(InvalidInputError, match=r"must have shape \[\], got \[1\]"):
        check_inputs({"x": np.array([1.0])}, (spec,))


def test_a_spec_without_dtype_or_shape_checks_only_the_kind() -> None:
    spec = InputSpec(name="x")
    check_inputs({"x": np.zeros((2, 2, 2), np.complex64)}, (spec,))


def test_an_optional_input_that_is_sent_is_still_checked() -> None:
    error = refused({"image": np.zeros((1, 1, 3), np.uint8), "prompt": "hi", "hint": "text"})
    assert str(error) == "input 'hint' must be json, got text"


def test_an_unexpected_input_in_place_of_a_required_one_is_named_first() -> None:
    error = refused({"image": np.zeros((1, 1, 3), np.uint8), "promt": "hi"})
    assert str(error) == "unexpected input 'promt'; this model takes hint, image, prompt"
