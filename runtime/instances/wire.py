"""Model inputs and outputs on the wire: requests decoded, answers encoded.

Predict, Generate and Stream requests cross to the instance in wire form; the server process only
routes them. It hands the instance the request's serialized bytes (``decode_request`` is the one
place where any of them is decoded and checked) and answers a Predict with the bytes the instance
encoded, adding the fields it owns (model, version, request id). Turning tensors into arrays,
checking them against the bundle's declared inputs and encoding the outputs happen where the
model runs: in the worker processes, so this work spreads over the instances instead of
queueing on the server's one event loop.

>>> wire = encode_request({"text": "hi"}, {}, "r1")
>>> decode_request(wire, ()).inputs
{'text': 'hi'}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.message import DecodeError

from loader.config import InputSpec
from modelrt import codec
from modelrt.v1 import runtime_pb2, value_pb2
from registry.errors import InvalidInputError
from registry.runner import Request
from runtime.errors import ModelExecutionError
from runtime.instances.inputs import check_inputs
from runtime.instances.outputs import ItemFailure, ModelOutput
from runtime.instances.payload import Answer as Answer
from runtime.instances.payload import Encoded as Encoded
from runtime.instances.payload import WireRequest as WireRequest

logger = logging.getLogger(__name__)
#: The response messages that carry a model's outputs.
OutputMessage = (
    runtime_pb2.PredictResponse | runtime_pb2.GenerateResponse | runtime_pb2.StreamResponse
)


def to_request(
    inputs: Mapping[str, value_pb2.Value], parameters: struct_pb2.Struct, request_id: str
) -> Request:
    """Decode wire inputs; an undecodable one is InvalidInputError naming it."""
    decoded: dict[str, Any] = {}
    for name in inputs:  # cheaper than .items() over a protobuf map
        try:
            decoded[name] = codec.value_to_python(inputs[name])
        except Exception as exc:
            raise _undecodable(name, exc) from None
    try:
        params = codec.struct_to_dict(parameters)
    except Exception as exc:
        raise _undecodable("parameters", exc) from None
    return Request(inputs=decoded, parameters=params, id=request_id)


def _undecodable(name: str, exc: Exception) -> InvalidInputError:
    """A value that cannot be decoded: always the request's error, never the instance's."""
    label = "parameters" if name == "parameters" else f"input {name!r}"
    if isinstance(exc, codec.CodecError):
        return InvalidInputError(f"{label}: {exc}", metadata={"input": name})
    # The codec checks what it knows of; anything else still fails this request alone.
    logger.warning("%s could not be decoded: %s: %.200s", label, type(exc).__name__, exc)
    return InvalidInputError(
        f"{label} cannot be decoded ({type(exc).__name__})", metadata={"input": name}
    )


def write_output(message: OutputMessage, output: ModelOutput, typed: bool = False) -> None:
    """Fill the ``outputs`` and ``structured`` fields of a response message in place; ``typed``
    writes tensors in the typed form (the request's output_form)."""
    for name, value in output.outputs.items():
        codec.write_value(message.outputs[name], value, typed=typed)
    if output.structured is not None:
        message.structured.CopyFrom(codec.python_to_json(output.structured))


def encode_request(
    inputs: Mapping[str, Any], parameters: Mapping[str, Any], request_id: str
) -> WireRequest:
    """Python inputs as the server would forward them (for callers inside the runtime)."""
    message = runtime_pb2.PredictRequest(
        inputs={name: codec.python_to_value(value) for name, value in inputs.items()},
        parameters=codec.dict_to_struct(parameters),
    )
    return message.SerializeToString(), request_id


def decode_request(wire: WireRequest, specs: Sequence[InputSpec]) -> Request:
    """The model's Request; raises InvalidInputError naming an undecodable, missing or mistyped
    input."""
    return decode_request_form(wire, specs)[0]


def decode_request_form(wire: WireRequest, specs: Sequence[InputSpec]) -> tuple[Request, bool]:
    """decode_request, and whether the caller asked for its output tensors in the typed form."""
    import numpy as np

    data, request_id = wire
    try:
        # Generate and Stream requests share PredictRequest's input fields (numbers and types;
        # tests/unit/runtime/instances/test_wire.py holds them to it), so one parser reads all.
        message = runtime_pb2.PredictRequest.FromString(data)  # type: ignore[arg-type]
    except DecodeError:  # the server parsed it already: only a caller inside the runtime errs
        raise InvalidInputError("the request is not a valid request message") from None
    request = to_request(message.inputs, message.parameters, request_id)
    check_inputs(request.inputs, specs)
    inputs = request.inputs
    for name, value in inputs.items():  # the model owns its inputs: it may change them in place
        if isinstance(value, np.ndarray) and not value.flags.writeable:
            inputs[name] = value.copy()  # type: ignore[index]
    return request, message.output_form == value_pb2.TENSOR_FORM_TYPED


def encode_answer(output: ModelOutput | ItemFailure, model: str, typed: bool = False) -> Answer:
    """``output`` as the ``outputs`` and ``structured`` fields of a serialized PredictResponse;
    ``typed`` writes its tensors in the typed form.

    A value the wire cannot carry (a complex array, say) fails this answer, naming the model.
    """
    if isinstance(output, ItemFailure):
        return output
    response = runtime_pb2.PredictResponse()
    try:
        write_output(response, output, typed)
    except Exception as exc:  # the model's answer fails, never the instance
        return ItemFailure(unsendable(model, exc))
    return response.SerializeToString()


def unsendable(model: str, exc: Exception) -> ModelExecutionError:
    """The error for an output of ``model`` that write_output could not encode."""
    known = isinstance(exc, codec.CodecError)
    text = " ".join(str(exc).split())[:200]
    error = ModelExecutionError(
        f"model {model!r} returned an output that cannot be sent: "
        f"{text if known else f'{type(exc).__name__}: {text}'}",
        model=model,
    )
    if not known:  # not a value the codec refused: keep the traceback for whoever debugs it
        logger.error("encoding an answer of %s failed [%s]", model, error.error_id, exc_info=exc)
    return error


def response_bytes(model: str, version: str, request_id: str, answer: Encoded) -> bytes:
    """The whole serialized PredictResponse: the server's fields, then the instance's.

    Serialized protobuf messages concatenate into their merge, so nothing is parsed again.
    """
    head = runtime_pb2.PredictResponse(model=model, version=version, request_id=request_id)
    return b"".join((head.SerializeToString(), answer))


def read_answer(answer: Encoded) -> ModelOutput:
    """An encoded answer back as a ModelOutput (for callers inside the runtime, like run-local)."""
    message = runtime_pb2.PredictResponse.FromString(answer)  # type: ignore[arg-type]
    outputs = {name: codec.value_to_python(value) for name, value in message.outputs.items()}
    if not message.HasField("structured"):
        return ModelOutput(outputs=outputs)
    return ModelOutput(outputs=outputs, structured=codec.json_to_python(message.structured))
