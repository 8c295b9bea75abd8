"""Tests for runtime.instances.wire: requests of all three kinds decoded, answers encoded."""

from __future__ import annotations

from typing import Any

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


def _type_of(field: Any) -> object:
    """A field's type, with a map's entry named by its key and value (entries are per message)."""
    kind = field.message_type
    if kind is None:
        return field.type
    if kind.GetOptions().map_entry:
        return ("map", *(_type_of(entry) for entry in kind.fields))
    return kind.full_name


def _fields(message: type) -> dict[str, tuple[int, object]]:
    fields = message.DESCRIPTOR.fields  # type: ignore[attr-defined]
    return {field.name: (field.number, _type_of(field)) for field in fields}


@pytest.mark.parametrize("message", [runtime_pb2.GenerateRequest, runtime_pb2.StreamRequest])
def test_generate_and_stream_requests_share_the_fields_the_one_decoder_reads(message: type) -> None:
    # decode_request parses every request kind as a PredictRequest: a field renumbered or retyped
    # in one of them would be read wrongly, so the protos must keep them in step.
    assert _fields(message) == _fields(runtime_pb2.PredictRequest)


@pytest.mark.parametrize("message", [runtime_pb2.GenerateRequest, runtime_pb2.StreamRequest])
def test_a_generate_or_stream_request_decodes_like_a_predict(message: type) -> None:
    image = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    sent = message(
        model="m",
        inputs={"image": codec.python_to_value(image)},
        parameters=codec.dict_to_struct({"n": 2}),
        request_id="ignored",
    )
    request = decode_request((sent.SerializeToString(), "r-9"), (IMAGE,))
    np.testing.assert_array_equal(request["image"], image)
    assert (request.parameters, request.id) == ({"n": 2}, "r-9")
