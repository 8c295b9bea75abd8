"""The vendored Open Inference Protocol protos are the ones tritonclient speaks, field for field."""

from __future__ import annotations

import base64
import json
import subprocess
from types import ModuleType

from google.protobuf import descriptor_pb2

from modelrt.oip import grpc_service_pb2, model_config_pb2
from tests.peers import peers_python

_COMPARE = """
import base64, json, sys
from google.protobuf import descriptor_pb2
from tritonclient.grpc import model_config_pb2, service_pb2
ours = json.loads(sys.stdin.read())
for module in (service_pb2, model_config_pb2):
    theirs = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(theirs)
    mine = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(ours[theirs.name]))
    print(theirs.name, mine == theirs)
"""


def _serialized(module: ModuleType) -> str:
    file = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(file)
    return base64.b64encode(file.SerializeToString()).decode()


def test_vendored_protos_match_tritonclients_descriptors() -> None:
    python = peers_python("tritonclient.grpc")
    ours = {
        "grpc_service.proto": _serialized(grpc_service_pb2),
        "model_config.proto": _serialized(model_config_pb2),
    }
    result = subprocess.run(
        [str(python), "-c", _COMPARE],
        input=json.dumps(ours),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["grpc_service.proto", "True", "model_config.proto", "True"]


def test_service_keeps_upstream_package_and_name() -> None:
    service = grpc_service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == "inference.GRPCInferenceService"
