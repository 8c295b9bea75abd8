"""Tests for runtime.api.auth: loopback rule, RPC classes, token checks, the interceptor's no."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from pydantic import SecretStr

from modelrt.v1 import runtime_pb2, runtime_pb2_grpc
from registry.errors import ErrorCode
from runtime.api.auth import (
    INFERENCE_RPCS,
    MANAGEMENT_RPCS,
    Access,
    AccessPolicy,
    AuthInterceptor,
    access_of,
    is_loopback,
    log_access_policy,
)
from runtime.api.status import rpc_status_of
from runtime.settings import ServerSettings

pytestmark = pytest.mark.timeout(30)

ADMIN, INFERENCE = "admin-s3cret", "infer-s3cret"
RPC = "/modelrt.v1.ModelRuntime/"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LocalHost", "::ffff:127.0.0.1"],
)
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "[::]", "", "10.0.0.7", "192.168.1.2", "fe80::1", "example.com"]
)
def test_wildcard_and_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_every_model_runtime_rpc_is_either_management_or_inference() -> None:
    service = runtime_pb2.DESCRIPTOR.services_by_name["ModelRuntime"]
    names = {method.name for method in service.methods}
    assert names == MANAGEMENT_RPCS | INFERENCE_RPCS
    assert not MANAGEMENT_RPCS & INFERENCE_RPCS
    assert {"Upload", "LoadModel", "UnloadModel", "DeleteModel"} == MANAGEMENT_RPCS


@pytest.mark.parametrize(
    "method",
    [
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ],
)
def test_health_and_reflection_are_never_protected(method: str) -> None:
    assert access_of(method) is Access.OPEN
    policy = AccessPolicy(admin_token=ADMIN, inference_token=INFERENCE, host="0.0.0.0")
    assert policy.check(method, ()) is None


def test_an_unknown_model_runtime_rpc_counts_as_management() -> None:
    assert access_of(RPC + "Train") is Access.MANAGEMENT


def test_loopback_bind_without_tokens_enforces_nothing() -> None:
    policy = AccessPolicy(admin_token=None, inference_token=None, host="127.0.0.1")
    assert not policy.enforces
    for name in MANAGEMENT_RPCS | INFERENCE_RPCS:
        assert policy.check(RPC + name, ()) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "models.internal"])
def test_non_loopback_bind_without_admin_token_denies_management_rpcs(host: str) -> None:
    policy = AccessPolicy(admin_token=None, inference_token=None, host=host)
    assert policy.enforces
    assert policy.management_disabled
    for name in MANAGEMENT_RPCS:
        error = policy.check(RPC + name, bearer("anything"))
        assert error is not None
        assert error.code is ErrorCode.PERMISSION_DENIED
        assert error.reason == "MANAGEMENT_DISABLED"
        assert f"non-loopback bind {host} without an admin token" in error.message
        assert "MODELRT_ADMIN_TOKEN" in error.message
    for name in INFERENCE_RPCS:
        assert policy.check(RPC + name, ()) is None


def test_non_loopback_bind_with_admin_token_accepts_the_token() -> None:
    policy = AccessPolicy(admin_token=ADMIN, inference_token=None, host="0.0.0.0")
    assert not policy.management_disabled
    assert policy.check(RPC + "LoadModel", bearer(ADMIN)) is None
    error = policy.check(RPC + "LoadModel", ())
    assert error is not None
    assert error.code is ErrorCode.UNAUTHENTICATED


def test_missing_malformed_and_wrong_tokens_get_distinct_reasons_and_no_echo() -> None:
    policy = AccessPolicy(admin_token=ADMIN, inference_token=None, host="127.0.0.1")
    sent = "guess-1234"
    cases = {
        "MISSING_TOKEN": (),
        "MALFORMED_TOKEN": (("authorization", f"Basic {sent}"),),
        "INVALID_TOKEN": bearer(sent),
    }
    for reason, metadata in cases.items():
        error = policy.check(RPC + "DeleteModel", metadata)
        assert error is not None
        assert error.code is ErrorCode.UNAUTHENTICATED
        assert error.reason == reason
        assert error.metadata == {"method": "DeleteModel"}
        assert sent not in error.message
        assert ADMIN not in error.message


def test_bearer_scheme_is_case_insensitive() -> None:
    policy = AccessPolicy(admin_token=ADMIN, inference_token=None, host="127.0.0.1")
    assert policy.check(RPC + "LoadModel", (("authorization", f"bearer {ADMIN}"),)) is None


def test_inference_rpcs_open_with_only_an_admin_token() -> None:
    policy = AccessPolicy(admin_token=ADMIN, inference_token=None, host="127.0.0.1")
    for name in INFERENCE_RPCS:
        assert policy.check(RPC + name, ()) is None


def test_inference_token_guards_inference_rpcs_and_admin_token_also_opens_them() -> None:
    policy = AccessPolicy(admin_token=ADMIN, inference_token=INFERENCE, host="127.0.0.1")
    for name in INFERENCE_RPCS:
        assert policy.check(RPC + name, bearer(INFERENCE)) is None
        assert policy.check(RPC + name, bearer(ADMIN)) is None
        missing = policy.check(RPC + name, ())
        assert missing is not None
        assert missing.code is ErrorCode.UNAUTHENTICATED


def test_inference_token_does_not_open_management_rpcs() -> None:
    policy = AccessPolicy(admin_token=ADMIN, inference_token=INFERENCE, host="127.0.0.1")
    error = policy.check(RPC + "UnloadModel", bearer(INFERENCE))
    assert error is not None
    assert (error.code, error.reason) == (ErrorCode.PERMISSION_DENIED, "ADMIN_TOKEN_REQUIRED")
    assert policy.check(RPC + "UnloadModel", bearer(ADMIN)) is None


def test_one_token_for_both_roles_opens_management_too() -> None:
    policy = AccessPolicy(admin_token=ADMIN, inference_token=ADMIN, host="127.0.0.1")
    assert policy.check(RPC + "UnloadModel", bearer(ADMIN)) is None


def test_policy_reads_the_secret_tokens_and_host_from_settings() -> None:
    settings = ServerSettings(
        host="::", admin_token=SecretStr(ADMIN), inference_token=SecretStr(INFERENCE)
    )
    policy = AccessPolicy.from_settings(settings)
    assert (policy.admin_token, policy.inference_token, policy.host) == (ADMIN, INFERENCE, "::")
    assert ADMIN not in repr(settings)


def test_start_up_warns_about_a_non_loopback_bind_without_admin_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="runtime.api.auth"):
        log_access_policy(AccessPolicy(admin_token=None, inference_token=None, host="0.0.0.0"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "0.0.0.0" in warnings[0]
    assert "MODELRT_ADMIN_TOKEN" in warnings[0]


def test_start_up_does_not_warn_on_loopback_or_with_an_admin_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="runtime.api.auth"):
        log_access_policy(AccessPolicy(admin_token=None, inference_token=None, host="127.0.0.1"))
        log_access_policy(AccessPolicy(admin_token=ADMIN, inference_token=None, host="0.0.0.0"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- the interceptor on a bare grpc.aio server on 127.0.0.1, judging as if bound elsewhere ------


async def _calls(policy: AccessPolicy) -> dict[str, tuple[grpc.StatusCode | str, str]]:
    """Each RPC kind against a policy-guarded server whose servicer implements nothing."""
    server = grpc.aio.server(interceptors=[AuthInterceptor(policy)])
    runtime_pb2_grpc.add_ModelRuntimeServicer_to_server(
        runtime_pb2_grpc.ModelRuntimeServicer(), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    results: dict[str, tuple[grpc.StatusCode | str, str]] = {}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = runtime_pb2_grpc.ModelRuntimeStub(channel)

            async def uploads() -> AsyncIterator[runtime_pb2.UploadRequest]:
                yield runtime_pb2.UploadRequest(header=runtime_pb2.UploadHeader(namespace="m"))

            calls = {
                "LoadModel": lambda: stub.LoadModel(runtime_pb2.LoadModelRequest(name="m")),
                "Upload": lambda: stub.Upload(uploads()),
                "Predict": lambda: stub.Predict(runtime_pb2.PredictRequest(model="m")),
                "Generate": lambda: stub.Generate(runtime_pb2.GenerateRequest(model="m")).read(),
            }
            for name, call in calls.items():
                try:
                    await asyncio.wait_for(call(), 10)
                    results[name] = ("OK", "")
                except grpc.aio.AioRpcError as exc:
                    results[name] = (exc.code(), exc.details() or "")
    finally:
        await server.stop(0)
    return results


def test_interceptor_answers_permission_denied_for_management_rpcs_of_every_kind() -> None:
    policy = AccessPolicy(admin_token=None, inference_token=None, host="0.0.0.0")
    results = asyncio.run(_calls(policy))
    assert "MODELRT_ADMIN_TOKEN" in results["Upload"][1]
    # Management RPCs never reach the servicer; inference ones do (and it implements nothing).
    assert {name: code for name, (code, _) in results.items()} == {
        "LoadModel": grpc.StatusCode.PERMISSION_DENIED,
        "Upload": grpc.StatusCode.PERMISSION_DENIED,
        "Predict": grpc.StatusCode.UNIMPLEMENTED,
        "Generate": grpc.StatusCode.UNIMPLEMENTED,
    }


def test_interceptor_answers_unauthenticated_for_unary_and_streaming_inference_rpcs() -> None:
    policy = AccessPolicy(admin_token=None, inference_token=INFERENCE, host="127.0.0.1")
    results = asyncio.run(_calls(policy))
    assert {name: code for name, (code, _) in results.items()} == {
        "LoadModel": grpc.StatusCode.UNIMPLEMENTED,
        "Upload": grpc.StatusCode.UNIMPLEMENTED,
        "Predict": grpc.StatusCode.UNAUTHENTICATED,
        "Generate": grpc.StatusCode.UNAUTHENTICATED,
    }


def test_refusals_carry_error_info_like_every_other_error() -> None:
    policy = AccessPolicy(admin_token=None, inference_token=None, host="0.0.0.0")
    error = policy.check(RPC + "Upload", ())
    assert error is not None
    status = rpc_status_of(error)
    assert status.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert len(status.details) == 1


@pytest.mark.parametrize(
    ("rpc", "access"),
    [
        ("ServerLive", Access.OPEN),
        ("ModelReady", Access.OPEN),
        ("ModelInfer", Access.INFERENCE),
        ("ModelStreamInfer", Access.INFERENCE),
        ("ModelConfig", Access.INFERENCE),
        ("RepositoryModelLoad", Access.MANAGEMENT),
        ("RepositoryModelUnload", Access.MANAGEMENT),
        ("SystemSharedMemoryRegister", Access.MANAGEMENT),
        ("SomeFutureRpc", Access.MANAGEMENT),
    ],
)
def test_open_inference_protocol_rpcs_get_the_access_of_their_modelrt_twins(rpc, access) -> None:
    assert access_of(f"/inference.GRPCInferenceService/{rpc}") is access
