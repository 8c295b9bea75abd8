"""Server reflection on both grpc.reflection.v1 and v1alpha (grpcio-reflection ships v1alpha only).

The two protocols are the same messages under another package name, so v1 is served by the same
servicer, and its descriptor is the v1alpha file renamed into the default pool. The modelrt.v1
files are served with their comments (source info, which generated code drops), read from the
descriptor set scripts/gen_protos.sh writes, so `grpcurl describe` shows the documentation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from importlib import resources
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
V1 = "grpc.reflection.v1.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def _add_v1_descriptor() -> None:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    file_proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file_proto)
    file_proto.name = _V1_FILE
    file_proto.package = "grpc.reflection.v1"
    for message in file_proto.message_type:
        for field in message.field:
            if field.type_name:
                field.type_name = field.type_name.replace(".v1alpha.", ".v1.")
    for service in file_proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(".v1alpha.", ".v1.")
            method.output_type = method.output_type.replace(".v1alpha.", ".v1.")
    file_proto.options.Clear()
    pool.Add(file_proto)


def _documented_files() -> dict[str, bytes]:
    """modelrt.v1's serialized file descriptors, with source info, by file name."""
    data = resources.files("modelrt.v1").joinpath("descriptors.binpb").read_bytes()
    files = descriptor_pb2.FileDescriptorSet.FromString(data).file
    return {file.name: file.SerializeToString() for file in files}


def _with_comments(
    response: reflection_pb2.ServerReflectionResponse, documented: dict[str, bytes]
) -> reflection_pb2.ServerReflectionResponse:
    """``response`` with each modelrt.v1 file swapped for its documented twin."""
    if not response.HasField("file_descriptor_response"):
        return response
    protos = response.file_descriptor_response.file_descriptor_proto
    for index, raw in enumerate(protos):
        name = descriptor_pb2.FileDescriptorProto.FromString(raw).name
        if name in documented:
            protos[index] = documented[name]
    return response


def _resolvable(
    request: reflection_pb2.ServerReflectionRequest,
) -> reflection_pb2.ServerReflectionRequest:
    """A request for a method's file (``pkg.Service.Method``, as `grpcurl describe` asks it) asks
    for its service's file instead: the Python descriptor pool finds services, not methods."""
    symbol = request.file_containing_symbol
    if not symbol:
        return request
    pool = descriptor_pool.Default()
    try:
        pool.FindFileContainingSymbol(symbol)
    except KeyError:
        service, _, method = symbol.rpartition(".")
        try:
            found = pool.FindServiceByName(service).FindMethodByName(method)
        except KeyError:
            return request
        if found is not None:
            request.file_containing_symbol = service
    return request


async def _requests(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _resolvable(request)


def enable_reflection(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    """Serve reflection for ``service_names`` (plus both reflection services) on ``server``."""
    _add_v1_descriptor()
    names = (*service_names, V1, V1ALPHA)
    servicer = ReflectionServicer(names)
    documented = _documented_files()

    async def info(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        async for response in servicer.ServerReflectionInfo(_requests(requests), context):
            yield _with_comments(response, documented)

    handler = grpc.stream_stream_rpc_method_handler(
        info,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    for service in (V1, V1ALPHA):
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler}),)
        )
