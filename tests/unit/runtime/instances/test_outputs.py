"""Tests for runtime.instances.outputs: results split into named outputs, schema-checked JSON."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pydantic
import pydantic.v1
import pytest

from registry.errors import ErrorCode
from runtime.errors import ModelExecutionError, OutputSchemaError
from runtime.instances.outputs import ModelOutput, shape_output

pytestmark = pytest.mark.timeout(10)


class Prediction(pydantic.BaseModel):
    label: str
    score: float


class LegacyPrediction(pydantic.v1.BaseModel):
    label: str
    score: float


def test_none_gives_an_empty_output() -> None:
    assert shape_output(None, Prediction, "m") == ModelOutput()
    assert ModelOutput().outputs == {}
    assert ModelOutput().structured is None


@pytest.mark.parametrize("result", [np.arange(3), b"\x89PNG", bytearray(b"ab")])
def test_a_bare_array_or_blob_becomes_the_output_named_output(result: Any) -> None:
    output = shape_output(result, Prediction, "m")
    assert list(output.outputs) == ["output"]
    assert output.outputs["output"] is result
    assert output.structured is None


def test_a_dict_is_split_into_named_outputs_and_structured_json() -> None:
    mask = np.zeros((2, 2), np.uint8)
    output = shape_output(
        {"mask": mask, "png": b"\x89PNG", "label": "cat", "boxes": [[1, 2, 3, 4]]}, None, "m"
    )
    assert output.outputs == {"mask": mask, "png": b"\x89PNG"}
    assert output.outputs["mask"] is mask
    assert output.structured == {"label": "cat", "boxes": [[1, 2, 3, 4]]}


def test_a_dict_of_only_arrays_has_no_structured_part() -> None:
    output = shape_output({"logits": np.ones(3)}, None, "m")
    assert list(output.outputs) == ["logits"]
    assert output.structured is None


def test_numpy_scalars_tuples_and_small_arrays_in_json_are_converted() -> None:
    output = shape_output(
        {"score": np.float32(0.5), "count": np.int64(3), "ok": np.bool_(True), "pair": (1, 2)},
        None,
        "m",
    )
    assert output.structured == {"score": 0.5, "count": 3, "ok": True, "pair": [1, 2]}
    assert type(output.structured["count"]) is int


def test_a_list_result_becomes_structured_json() -> None:
    output = shape_output([np.int64(1), {"x": np.float64(2.5)}, [np.arange(2)]], None, "m")
    assert output.outputs == {}
    assert output.structured == [1, {"x": 2.5}, [[0, 1]]]


@pytest.mark.parametrize("result", ["done", 7, 0.5, True])
def test_a_plain_value_becomes_structured_json(result: Any) -> None:
    assert shape_output(result, None, "m").structured == result


def test_a_pydantic_instance_is_dumped_as_json() -> None:
    output = shape_output(Prediction(label="cat", score=0.9), None, "m")
    assert output == ModelOutput(structured={"label": "cat", "score": 0.9})


def test_a_pydantic_instance_is_validated_against_the_schema() -> None:
    class Narrow(pydantic.BaseModel):
        label: str

    output = shape_output(Prediction(label="cat", score=0.9), Narrow, "m")
    assert output.structured == {"label": "cat"}


def test_a_pydantic_v1_instance_is_dumped_as_json() -> None:
    output = shape_output(LegacyPrediction(label="dog", score=1), None, "m")
    assert output.structured == {"label": "dog", "score": 1.0}


def test_a_dict_is_validated_against_the_schema_and_extra_keys_are_ignored() -> None:
    output = shape_output({"label": "cat", "score": 1, "debug": "x"}, Prediction, "m")
    assert output.structured == {"label": "cat", "score": 1.0}


def test_a_dict_is_validated_against_a_pydantic_v1_schema() -> None:
    output = shape_output({"label": "cat", "score": "0.5", "debug": 1}, LegacyPrediction, "m")
    assert output.structured == {"label": "cat", "score": 0.5}


def test_named_outputs_are_kept_beside_schema_validated_json() -> None:
    mask = np.ones(2)
    output = shape_output({"mask": mask, "label": "cat", "score": 0.1}, Prediction, "m")
    assert output.outputs == {"mask": mask}
    assert output.structured == {"label": "cat", "score": 0.1}


@pytest.mark.parametrize("schema", [Prediction, LegacyPrediction])
def test_schema_mismatch_is_an_internal_error_with_an_error_id(
    schema: type, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="runtime.instances.outputs"),
        pytest.raises(OutputSchemaError) as caught,
    ):
        shape_output({"label": "cat", "score": "high"}, schema, "clf")

    error = caught.value
    assert isinstance(error, ModelExecutionError)
    assert error.code is ErrorCode.INTERNAL
    assert error.reason == "OUTPUT_SCHEMA_MISMATCH"
    assert error.metadata == {"model": "clf", "error_id": error.error_id}
    assert len(error.error_id) == 16
    message = str(error)
    assert message.startswith(
        f"model 'clf' returned output that does not match its schema {schema.__name__}: score"
    )
    assert message.endswith(f"(error id {error.error_id})")
    assert "Traceback" not in message
    assert error.error_id in caplog.text


def test_a_dict_with_only_named_outputs_must_still_satisfy_the_schema() -> None:
    with pytest.raises(OutputSchemaError, match="Prediction"):
        shape_output({"mask": np.zeros(1)}, Prediction, "m")


def test_a_non_dict_result_is_validated_against_the_schema() -> None:
    with pytest.raises(OutputSchemaError):
        shape_output(["cat", 0.5], Prediction, "m")


def test_each_error_gets_its_own_error_id() -> None:
    ids = set()
    for _ in range(3):
        with pytest.raises(OutputSchemaError) as caught:
            shape_output({}, Prediction, "m")
        ids.add(caught.value.error_id)
    assert len(ids) == 3


@pytest.mark.parametrize("value", [object(), (x for x in [1]), complex(1, 2)])
def test_non_json_compatible_value_is_a_model_execution_error(value: Any) -> None:
    with pytest.raises(ModelExecutionError) as caught:
        shape_output({"what": value}, None, "m")
    assert type(caught.value) is ModelExecutionError
    assert caught.value.code is ErrorCode.INTERNAL
    assert caught.value.reason == "MODEL_ERROR"
    assert "returned a value that is not JSON-compatible" in str(caught.value)
    assert caught.value.metadata["model"] == "m"


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), np.float32("nan"), np.float64("-inf"), [1.0, float("nan")]],
)
def test_nan_and_infinity_are_rejected(value: Any) -> None:
    with pytest.raises(ModelExecutionError, match="not JSON-compatible"):
        shape_output({"score": value}, None, "m")


def test_nan_in_a_pydantic_result_is_rejected() -> None:
    with pytest.raises(ModelExecutionError):
        shape_output(Prediction(label="cat", score=float("nan")), None, "m")
