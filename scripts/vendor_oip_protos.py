"""Writes protos-vendor/ from the Open Inference Protocol descriptors tritonclient ships.

The .proto sources of Triton's GRPCInferenceService (package ``inference``) are not in any wheel,
but tritonclient's generated modules carry their exact descriptors. This renders those
descriptors back to .proto text under the upstream license header, so the service we serve is
the one tritonclient speaks, message for message. Run it with the peers venv's python
(``make peers``); tests/unit/runtime/api/test_oip_vendor.py checks the result against it.

    .venv-peers/bin/python scripts/vendor_oip_protos.py protos-vendor
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

#: The upstream files' copyright lines (triton-inference-server/common, protobuf/), then their
#: BSD-3-Clause license text.
_NVIDIA = "NVIDIA CORPORATION & AFFILIATES. All rights reserved.\n"
COPYRIGHT = {
    "grpc_service.proto": f"// Copyright 2020-2023, {_NVIDIA}",
    "model_config.proto": f"// Copyright 2018-2023, {_NVIDIA}",
}
TENSORFLOW = "//\n// Copyright (c) 2018, TensorFlow Authors. All rights reserved.\n"
LICENSE = """\
//
// Redistribution and use in source and binary forms, with or without
// modification, are permitted provided that the following conditions
// are met:
//  * Redistributions of source code must retain the above copyright
//    notice, this list of conditions and the following disclaimer.
//  * Redistributions in binary form must reproduce the above copyright
//    notice, this list of conditions and the following disclaimer in the
//    documentation and/or other materials provided with the distribution.
//  * Neither the name of NVIDIA CORPORATION nor the names of its
//    contributors may be used to endorse or promote products derived
//    from this software without specific prior written permission.
//
// THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS ``AS IS'' AND ANY
// EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
// IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR
// PURPOSE ARE DISCLAIMED.  IN NO EVENT SHALL THE COPYRIGHT OWNER OR
// CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL,
// EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO,
// PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR
// PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY
// OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
// (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
// OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""
F = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    getattr(F, f"TYPE_{name.upper()}"): name
    for name in (
        "double",
        "float",
        "int64",
        "uint64",
        "int32",
        "fixed64",
        "fixed32",
        "bool",
        "string",
        "bytes",
        "uint32",
        "sfixed32",
        "sfixed64",
        "sint32",
        "sint64",
    )
}


def _type(field: Any, package: str) -> str:
    if field.type in SCALARS:
        return SCALARS[field.type]
    return str(field.type_name).removeprefix(f".{package}.")


def _field(field: Any, package: str, maps: dict[str, Any]) -> str:
    entry = maps.get(field.type_name)
    if entry is not None:
        key, value = entry.field
        return f"map<{_type(key, package)}, {_type(value, package)}> {field.name} = {field.number};"
    label = "repeated " if field.label == F.LABEL_REPEATED else ""
    return f"{label}{_type(field, package)} {field.name} = {field.number};"


def _enum(enum: Any, indent: str) -> list[str]:
    lines = [f"{indent}enum {enum.name}", f"{indent}{{"]
    lines += [f"{indent}  {value.name} = {value.number};" for value in enum.value]
    return [*lines, f"{indent}}}"]


def _message(message: Any, scope: str, package: str, indent: str) -> list[str]:
    full = f"{scope}.{message.name}"
    maps = {
        f"{full}.{nested.name}": nested
        for nested in message.nested_type
        if nested.options.map_entry
    }
    lines = [f"{indent}message {message.name}", f"{indent}{{"]
    inner = indent + "  "
    for enum in message.enum_type:
        lines += _enum(enum, inner)
    for nested in message.nested_type:
        if not nested.options.map_entry:
            lines += _message(nested, full, package, inner)
    oneofs: dict[int, list[str]] = {}
    for field in message.field:
        text = _field(field, package, maps)
        if field.HasField("oneof_index"):
            if field.oneof_index not in oneofs:
                oneofs[field.oneof_index] = []
                lines.append(f"\0oneof{field.oneof_index}")
            oneofs[field.oneof_index].append(text)
        else:
            lines.append(inner + text)
    rendered: list[str] = []
    for line in lines:
        if line.startswith("\0oneof"):
            index = int(line.removeprefix("\0oneof"))
            rendered += [f"{inner}oneof {message.oneof_decl[index].name}", f"{inner}{{"]
            rendered += [f"{inner}  {text}" for text in oneofs[index]]
            rendered.append(f"{inner}}}")
        else:
            rendered.append(line)
    return [*rendered, f"{indent}}}"]


def render(file: Any) -> str:
    """A FileDescriptorProto as .proto text (proto3, no options beyond empty method bodies)."""
    package = file.package
    header = COPYRIGHT[file.name] + LICENSE
    if file.name == "model_config.proto":
        header += TENSORFLOW
    notice = (
        "// Rendered by scripts/vendor_oip_protos.py from the descriptor tritonclient ships;\n"
        "// the upstream documentation comments are not carried.\n"
    )
    lines = [header, notice, f'syntax = "{file.syntax}";', "", f"package {package};", ""]
    lines += [f'import "{dependency}";' for dependency in file.dependency]
    for service in file.service:
        lines += ["", f"service {service.name}", "{"]
        for method in service.method:
            request = ("stream " if method.client_streaming else "") + method.input_type
            response = ("stream " if method.server_streaming else "") + method.output_type
            request = request.replace(f".{package}.", "")
            response = response.replace(f".{package}.", "")
            lines.append(f"  rpc {method.name}({request}) returns ({response}) {{}}")
        lines.append("}")
    for enum in file.enum_type:
        lines += ["", *_enum(enum, "")]
    for message in file.message_type:
        lines += ["", *_message(message, f".{package}", package, "")]
    return "\n".join(lines) + "\n"


def main(out: Path) -> None:
    from tritonclient.grpc import model_config_pb2, service_pb2

    out.mkdir(parents=True, exist_ok=True)
    for module in (model_config_pb2, service_pb2):
        file = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file)
        (out / file.name).write_text(render(file))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "protos-vendor"))
