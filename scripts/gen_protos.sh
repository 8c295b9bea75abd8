#!/usr/bin/env bash
# Generates the Python code for protos/modelrt/v1 into the folder given (default modelrt/v1), and
# for the vendored Open Inference Protocol protos (protos-vendor/, package inference) into the
# second folder given (default: modelrt/oip beside the first): messages (_pb2.py), gRPC stubs
# (_pb2_grpc.py), their type stubs (.pyi, from mypy-protobuf), and modelrt/v1's
# descriptors.binpb: its files' descriptors with their comments, which reflection serves.
set -euo pipefail
out=${1:-modelrt/v1}
oip_out=${2:-$(dirname "$out")/oip}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
cd "$(dirname "$0")/.."
python -m grpc_tools.protoc -Iprotos \
  --python_out="$root" --grpc_python_out="$root" \
  --mypy_out="$root" --mypy_grpc_out="$root" \
  --include_source_info --descriptor_set_out="$root/descriptors.binpb" \
  protos/modelrt/v1/*.proto
mkdir -p "$out"
find "$out" -maxdepth 1 -name '*_pb2*' -delete
cp "$root"/modelrt/v1/*_pb2* "$root/descriptors.binpb" "$out"/
printf '"""Code generated from protos/modelrt/v1 by scripts/gen_protos.sh; do not edit."""\n' >"$out/__init__.py"

# The vendored files import each other by bare name ("model_config.proto"), as upstream has
# them; the generated modules are made to import each other from modelrt.oip instead, so they
# never shadow (or are shadowed by) tritonclient's own top-level modules.
mkdir -p "$root/oip"
python -m grpc_tools.protoc -Iprotos-vendor \
  --python_out="$root/oip" --grpc_python_out="$root/oip" \
  --mypy_out="$root/oip" --mypy_grpc_out="$root/oip" \
  protos-vendor/grpc_service.proto protos-vendor/model_config.proto
sed -i -E 's/^import (grpc_service|model_config)_pb2( |$)/from modelrt.oip import \1_pb2\2/' \
  "$root"/oip/*_pb2*
mkdir -p "$oip_out"
find "$oip_out" -maxdepth 1 -name '*_pb2*' -delete
cp "$root"/oip/*_pb2* "$oip_out"/
printf '"""Code generated from protos-vendor (the Open Inference Protocol) by scripts/gen_protos.sh; do not edit."""\n' >"$oip_out/__init__.py"
