"""Reads the google.rpc.ErrorInfo that modelrt attaches to every failed call."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def error_info(exc: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo detail of a failed call (fails the test when there is none)."""
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert status is not None, f"no status details on {exc}"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            assert info.domain == "modelrt.dev"
            return info
    raise AssertionError(f"no ErrorInfo in {status}")
