"""Open Inference Protocol descriptions as REST JSON: server and model metadata, the repository
index, Triton's model config and statistics.

The gRPC messages the OipDataPlane builds, written as JSON with their proto field names, every
field, and 64-bit integers as JSON numbers, as Triton's REST answers have them
(``"dims": [-1, 3]``, not protobuf's default ``["-1", "3"]``).

>>> from modelrt.oip import grpc_service_pb2 as oip
>>> proto_json(oip.StatisticDuration(count=2, ns=5))
{'count': 2, 'ns': 5}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format, message

from modelrt.oip import grpc_service_pb2 as oip


def proto_json(found: message.Message) -> dict[str, Any]:
    """``found`` as a JSON object: proto field names, every field (empty ones too), 64-bit
    integers as numbers."""
    document: dict[str, Any] = json_format.MessageToDict(
        found,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
        unquote_int64_if_possible=True,
    )
    return document


def _tensors(tensors: Iterable[Any]) -> list[dict[str, Any]]:
    return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in tensors]


def server_metadata(metadata: oip.ServerMetadataResponse) -> dict[str, Any]:
    return {
        "name": metadata.name,
        "version": metadata.version,
        "extensions": list(metadata.extensions),
    }


def model_metadata(metadata: oip.ModelMetadataResponse) -> dict[str, Any]:
    """Every field, empty ones too: ``outputs`` is ``[]`` before the model has answered."""
    return {
        "name": metadata.name,
        "versions": list(metadata.versions),
        "platform": metadata.platform,
        "inputs": _tensors(metadata.inputs),
        "outputs": _tensors(metadata.outputs),
    }


def repository_index(
    entries: Iterable[oip.RepositoryIndexResponse.ModelIndex],
) -> list[dict[str, str]]:
    return [
        {"name": e.name, "version": e.version, "state": e.state, "reason": e.reason}
        for e in entries
    ]
