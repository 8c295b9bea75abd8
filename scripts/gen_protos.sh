#!/usr/bin/env bash
# Generates the Python code for protos/modelrt/v1 into the folder given (default modelrt/v1):
# messages (_pb2.py), gRPC stubs (_pb2_grpc.py), their type stubs (.pyi, from mypy-protobuf), and
# descriptors.binpb: the same files' descriptors with their comments, which reflection serves.
set -euo pipefail
out=${1:-modelrt/v1}
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
