"""Server reflection answers on both grpc.reflection.v1 and grpc.reflection.v1alpha."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

RUNTIME = "modelrt.v1.ModelRuntime"


def _reflect(channel: grpc.Channel, version: str, request: reflection_pb2.ServerReflectionRequest):
    # v1 and v1alpha messages are identical on the wire; only the method path differs.
    call = channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    return next(iter(call(iter([request]), timeout=10)))


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_lists_every_service(start_server, version: str) -> None:
    server = start_server()
    reply = _reflect(
        server.channel(), version, reflection_pb2.ServerReflectionRequest(list_services="")
    )
    names = {service.name for service in reply.list_services_response.service}
    assert names == {
        RUNTIME,
        "inference.GRPCInferenceService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_describes_the_runtime_service(start_server, version: str) -> None:
    server = start_server()
    reply = _reflect(
        server.channel(),
        version,
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=RUNTIME),
    )
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in reply.file_descriptor_response.file_descriptor_proto
    ]
    runtime_file = next(f for f in files if f.name == "modelrt/v1/runtime.proto")
    methods = {m.name for m in runtime_file.service[0].method}
    assert {"Predict", "Generate", "Stream", "Upload", "ListModels", "GetModel"} <= methods


def test_reflection_describes_the_v1_reflection_service_itself(start_server) -> None:
    server = start_server()
    reply = _reflect(
        server.channel(),
        "v1",
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="grpc.reflection.v1.ServerReflection"
        ),
    )
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in reply.file_descriptor_response.file_descriptor_proto
    ]
    assert files[0].package == "grpc.reflection.v1"


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_describes_the_open_inference_protocol(start_server, version: str) -> None:
    server = start_server()
    reply = _reflect(
        server.channel(),
        version,
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="inference.GRPCInferenceService"
        ),
    )
    files = {
        f.name: f
        for f in (
            descriptor_pb2.FileDescriptorProto.FromString(raw)
            for raw in reply.file_descriptor_response.file_descriptor_proto
        )
    }
    assert set(files) == {"grpc_service.proto", "model_config.proto"}
    methods = {m.name for m in files["grpc_service.proto"].service[0].method}
    assert {"ModelInfer", "ModelStreamInfer", "ModelMetadata", "ModelConfig"} <= methods


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_serves_the_proto_comments(start_server, version: str) -> None:
    server = start_server()
    reply = _reflect(
        server.channel(),
        version,
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=RUNTIME),
    )
    files = {
        proto.name: proto
        for proto in map(
            descriptor_pb2.FileDescriptorProto.FromString,
            reply.file_descriptor_response.file_descriptor_proto,
        )
    }
    comments = " ".join(
        location.leading_comments
        for location in files["modelrt/v1/runtime.proto"].source_code_info.location
    )
    assert "Predict sends one request and gets one response." in comments
    assert files["modelrt/v1/value.proto"].source_code_info.location
