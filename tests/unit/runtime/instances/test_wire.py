"""Tests for runtime.instances.wire: Predict requests decoded and checked, answers encoded."""

from __future__ import annotations

import numpy as np
import pytest

from loader.config import InputSpec
from modelrt import codec
from modelrt.v1 import runtime_pb2, value_pb2
from registry.errors import ErrorCode, InvalidInputError
from runtime.errors import ModelExecutionError
from runtime.instances.outputs import ItemFailure, ModelOutput
from runtime.instances.wire import (
    decode_request,
    encode_answer,
    encode_request,
    read_answer,
    response_bytes,
)

pytestmark = pytest.mark.timeout(10)

IMAGE = InputSpec(name="image", kind="tensor", dtype="uint8", shape=(-1, -1, 3))


def test_a_request_decodes_to_what_the_model_sees() -> None:
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    request = decode_request(encode_request({"image": image}, {"top_k": 3}, "r-1"), (IMAGE,))
    np.testing.assert_array_equal(request["image"], image)
    assert request["image"].flags.writeable  # the model may change its inputs in place
    assert request.parameters == {"top_k": 3}
    assert request.id == "r-1"


def test_inputs_failing_their_check_name_the_input() -> None:
    wrong = encode_request({"image": np.zeros((2, 2, 4), np.uint8)}, {}, "r")
    with pytest.raises(InvalidInputError, match=r"input 'image' must have shape \[\?, \?, 3\]"):
        decode_request(wrong, (IMAGE,))
    with pytest.raises(InvalidInputError, match="missing input 'image'"):
        decode_request(encode_request({}, {}, "r"), (IMAGE,))


def test_an_undecodable_tensor_is_invalid_input_naming_it() -> None:
    short = value_pb2.Tensor(dtype=value_pb2.DATA_TYPE_UINT8, shape=[1, 1, 3], raw_data=b"ab")
    message = runtime_pb2.PredictRequest(inputs={"image": value_pb2.Value(tensor=short)})
    with pytest.raises(InvalidInputError) as caught:
        decode_request((message.SerializeToString(), "r"), (IMAGE,))
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    assert caught.value.metadata["input"] == "image"
    assert "needs 3 bytes" in caught.value.message


def test_an_answer_round_trips_outputs_and_structured_json() -> None:
    mask = np.ones((2, 3), np.float32)
    answer = encode_answer(ModelOutput(outputs={"mask": mask}, structured={"label": "cat"}), "m")
    assert isinstance(answer, bytes)
    back = read_answer(answer)
    np.testing.assert_array_equal(back.outputs["mask"], mask)
    assert back.structured == {"label": "cat"}
    assert read_answer(encode_answer(ModelOutput(), "m")) == ModelOutput()


def test_an_output_the_wire_cannot_carry_fails_that_answer_naming_the_model() -> None:
    answer = encode_answer(ModelOutput(outputs={"z": np.zeros(2, np.complex64)}), "spectra")
    assert isinstance(answer, ItemFailure)
    assert isinstance(answer.error, ModelExecutionError)
    assert "model 'spectra' returned an output that cannot be sent" in answer.error.message
    failure = ItemFailure(InvalidInputError("bad"))
    assert encode_answer(failure, "m") is failure


def test_the_response_is_the_servers_fields_merged_with_the_answer() -> None:
    answer = encode_answer(ModelOutput(outputs={"y": np.arange(3)}, structured=[1, 2]), "m")
    assert isinstance(answer, bytes)
    response = runtime_pb2.PredictResponse.FromString(response_bytes("m", "2", "r-9", answer))
    assert (response.model, response.version, response.request_id) == ("m", "2", "r-9")
    assert codec.value_to_python(response.outputs["y"]).tolist() == [0, 1, 2]
    assert codec.json_to_python(response.structured) == [1, 2]
