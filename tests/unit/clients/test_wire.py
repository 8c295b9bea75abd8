"""Request building and response conversion shared by Client and AsyncClient."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import numpy as np
from google.protobuf import struct_pb2

from clients.types import InputSpec
from clients.wire import (
    encode_inputs,
    generate_request,
    model_info_from_proto,
    predict_request,
    prediction_from_proto,
    stream_item_from_proto,
    stream_request,
)
from modelrt.codec import dict_to_struct, python_to_json, python_to_value, struct_to_dict
from modelrt.v1 import model_pb2, runtime_pb2, value_pb2


def test_encode_inputs_by_python_type() -> None:
    encoded = encode_inputs(
        {
            "t": np.ones(2, np.float32),
            "b": b"x",
            "s": "hi",
            "j": [1],
            "v": value_pb2.Value(text="v"),
        }
    )
    kinds = {name: value.WhichOneof("kind") for name, value in encoded.items()}
    assert kinds == {"t": "tensor", "b": "data", "s": "text", "j": "json", "v": "text"}
    assert encode_inputs(None) == {}


def test_predict_and_generate_requests_carry_every_field() -> None:
    for build in (predict_request, generate_request):
        request = build("m", {"x": "1"}, "2", {"k": "v"}, "r")
        assert (request.model, request.version, request.request_id) == ("m", "2", "r")
        assert request.inputs["x"].text == "1"
        assert struct_to_dict(request.parameters) == {"k": "v"}


def test_only_the_first_stream_request_names_model_version_and_id() -> None:
    params = dict_to_struct({"lang": "en"})
    first = stream_request({"a": "1"}, params, first=True, model="m", version="2", request_id="r")
    later = stream_request({"a": "2"}, params, first=False, model="m", version="2", request_id="r")
    assert (first.model, first.version, first.request_id) == ("m", "2", "r")
    assert (later.model, later.version, later.request_id) == ("", "", "")
    assert struct_to_dict(later.parameters) == {"lang": "en"}


def test_prediction_from_proto_decodes_outputs_and_structured() -> None:
    response = runtime_pb2.PredictResponse(
        model="m",
        version="1",
        request_id="r",
        outputs={"y": python_to_value(np.arange(3, dtype=np.int32))},
        structured=python_to_json({"label": "cat"}),
    )
    prediction = prediction_from_proto(response)
    assert prediction.outputs["y"].tolist() == [0, 1, 2]
    assert prediction.structured == {"label": "cat"}
    assert prediction_from_proto(runtime_pb2.PredictResponse()).structured is None


def test_stream_item_from_proto_with_and_without_error() -> None:
    ok = stream_item_from_proto(
        runtime_pb2.GenerateResponse(index=2, structured=python_to_json("tok"))
    )
    assert (ok.index, ok.structured, ok.error, ok.ok) == (2, "tok", None, True)
    failed = stream_item_from_proto(
        runtime_pb2.StreamResponse(
            index=3,
            error=value_pb2.ItemError(code=13, message="boom", reason="MODEL_ERROR", error_id="e"),
        )
    )
    assert failed.error is not None
    assert failed.error.code is grpc.StatusCode.INTERNAL
    assert (failed.error.reason, failed.error.error_id, failed.ok) == ("MODEL_ERROR", "e", False)


def test_model_info_from_proto() -> None:
    schema = struct_pb2.Struct()
    schema.update({"type": "object"})
    message = model_pb2.Model(
        name="clf",
        version="3",
        state=model_pb2.MODEL_STATE_FAILED,
        reason="bad weights",
        card=model_pb2.ModelCard(
            model_type=model_pb2.MODEL_TYPE_CLASSIFICATION,
            framework=model_pb2.FRAMEWORK_ONNX,
            description="d",
            labels=["a", "b"],
        ),
        format=model_pb2.BUNDLE_FORMAT_NATIVE,
        capabilities=["predict"],
        inputs=[
            model_pb2.TensorSpec(
                name="x", dtype=value_pb2.DATA_TYPE_FLOAT32, shape=[-1, 3], kind="tensor"
            ),
            model_pb2.TensorSpec(name="t", kind="text", optional=True),
        ],
        output_schema=schema,
        warnings=["w"],
        max_batch_size=8,
        source="/store/clf",
    )
    message.state_time.FromDatetime(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    info = model_info_from_proto(message)
    assert (info.state, info.reason, info.ready) == ("FAILED", "bad weights", False)
    assert (info.model_type, info.framework, info.format) == ("classification", "onnx", "native")
    assert info.labels == ("a", "b")
    assert info.inputs == (
        InputSpec("x", "tensor", "float32", (-1, 3)),
        InputSpec("t", "text", None, None, optional=True),
    )
    assert info.output_schema == {"type": "object"}
    assert (info.warnings, info.max_batch_size, info.source) == (("w",), 8, "/store/clf")
    assert info.state_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_model_info_defaults_for_an_unset_card() -> None:
    info = model_info_from_proto(model_pb2.Model(name="m", state=model_pb2.MODEL_STATE_READY))
    assert (info.model_type, info.framework, info.format) == ("", "", "")
    assert info.output_schema is None
    assert info.state_time is None
