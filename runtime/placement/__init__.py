"""Devices, GPU placement, planning, venvs; no api/engine/local/server, grpc or protobuf."""
