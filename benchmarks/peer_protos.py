"""The peers' gRPC messages, described here so the load generator needs neither peer installed.

Only the fields the benchmark sends or checks are declared (a parser keeps the others as unknown
fields): the Open Inference Protocol's ModelInfer (MLServer) and TorchServe's Predictions. The
classes come from the protobuf runtime the project uses, so encoding and parsing cost the same
kind of work as for modelrt's own PredictRequest.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

OIP_PACKAGE = "inference"
OIP_METHOD = "/inference.GRPCInferenceService/ModelInfer"
TORCHSERVE_PACKAGE = "org.pytorch.serve.grpc.inference"
TORCHSERVE_METHOD = f"/{TORCHSERVE_PACKAGE}.InferenceAPIsService/Predictions"

_Field = descriptor_pb2.FieldDescriptorProto
# name, number, type, repeated, message type (for TYPE_MESSAGE)
FieldSpec = tuple[str, int, int, bool, str]

_CONTENTS: list[FieldSpec] = [("fp32_contents", 6, _Field.TYPE_FLOAT, True, "")]


def _tensor(contents: str) -> list[FieldSpec]:
    return [
        ("name", 1, _Field.TYPE_STRING, False, ""),
        ("datatype", 2, _Field.TYPE_STRING, False, ""),
        ("shape", 3, _Field.TYPE_INT64, True, ""),
        ("contents", 5, _Field.TYPE_MESSAGE, False, contents),
    ]


OIP_MESSAGES: dict[str, list[FieldSpec]] = {
    "InferTensorContents": _CONTENTS,
    "InferInputTensor": _tensor(".inference.InferTensorContents"),
    "InferOutputTensor": _tensor(".inference.InferTensorContents"),
    "ModelInferRequest": [
        ("model_name", 1, _Field.TYPE_STRING, False, ""),
        ("model_version", 2, _Field.TYPE_STRING, False, ""),
        ("inputs", 5, _Field.TYPE_MESSAGE, True, ".inference.InferInputTensor"),
        ("raw_input_contents", 7, _Field.TYPE_BYTES, True, ""),
    ],
    "ModelInferResponse": [
        ("model_name", 1, _Field.TYPE_STRING, False, ""),
        ("outputs", 5, _Field.TYPE_MESSAGE, True, ".inference.InferOutputTensor"),
        ("raw_output_contents", 6, _Field.TYPE_BYTES, True, ""),
    ],
}

_INPUT_ENTRY = f".{TORCHSERVE_PACKAGE}.PredictionsRequest.InputEntry"
TORCHSERVE_MESSAGES: dict[str, list[FieldSpec]] = {
    "PredictionsRequest": [
        ("model_name", 1, _Field.TYPE_STRING, False, ""),
        ("model_version", 2, _Field.TYPE_STRING, False, ""),
        ("input", 3, _Field.TYPE_MESSAGE, True, _INPUT_ENTRY),
    ],
    "PredictionResponse": [("prediction", 1, _Field.TYPE_BYTES, False, "")],
}
# map<string, bytes> fields: (message, map entry type nested in it) -> the entry's fields
MAP_ENTRIES: dict[tuple[str, str], list[FieldSpec]] = {
    ("PredictionsRequest", "InputEntry"): [
        ("key", 1, _Field.TYPE_STRING, False, ""),
        ("value", 2, _Field.TYPE_BYTES, False, ""),
    ],
}


def file_descriptor(
    name: str, package: str, messages: dict[str, list[FieldSpec]]
) -> descriptor_pb2.FileDescriptorProto:
    """A proto3 file holding ``messages``, with the map entry types MAP_ENTRIES nests in them.

    >>> file_descriptor("t.proto", "t", {"M": [("a", 1, 9, False, "")]}).message_type[0].name
    'M'
    """
    proto = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
    for message_name, fields in messages.items():
        message = proto.message_type.add(name=message_name)
        _add_fields(message, fields)
        for (parent, entry_name), entry_fields in MAP_ENTRIES.items():
            if parent == message_name:
                entry = message.nested_type.add(name=entry_name)
                entry.options.map_entry = True
                _add_fields(entry, entry_fields)
    return proto


def _add_fields(message: descriptor_pb2.DescriptorProto, fields: list[FieldSpec]) -> None:
    for field_name, number, kind, repeated, type_name in fields:
        label = _Field.LABEL_REPEATED if repeated else _Field.LABEL_OPTIONAL
        field = message.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name


def message_classes() -> dict[str, Any]:
    """Every message class by full name, e.g. ``classes["inference.ModelInferRequest"]``."""
    pool = descriptor_pool.DescriptorPool()  # a pool of its own: no clash with other protos
    files = [
        file_descriptor("bench_oip.proto", OIP_PACKAGE, OIP_MESSAGES),
        file_descriptor("bench_torchserve.proto", TORCHSERVE_PACKAGE, TORCHSERVE_MESSAGES),
    ]
    classes: dict[str, Any] = {}
    for proto in files:
        pool.Add(proto)
        for message in proto.message_type:
            full = f"{proto.package}.{message.name}"
            classes[full] = message_factory.GetMessageClass(pool.FindMessageTypeByName(full))
    return classes
