"""The management routes obey the access policy of the HTTP bind: refused outright on a
non-loopback address without an admin token, as the gRPC management RPCs are."""

from __future__ import annotations

from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from runtime.api.auth import AccessPolicy
from runtime.api.http.app import build_app
from runtime.api.http.context import HttpContext

MANAGEMENT = [
    ("POST", "/api/v1/uploads"),
    ("POST", "/api/v1/models/iris/load"),
    ("POST", "/api/v1/models/iris/unload"),
    ("POST", "/api/v1/models/iris/versions/1/load"),
    ("DELETE", "/api/v1/models/iris"),
    ("DELETE", "/api/v1/models/iris/versions/1"),
]


def _client(admin_token: str | None, host: str) -> TestClient:
    # The policy decides before a route runs: the engine and the rest are never reached.
    unused = cast(Any, None)
    context = HttpContext(
        engine=unused,
        uploads=unused,
        health=unused,
        policy=AccessPolicy(admin_token=admin_token, inference_token=None, host=host),
        metrics=None,
        inference=unused,
        max_body_bytes=1 << 20,
        max_upload_bytes=1 << 20,
    )
    return TestClient(build_app(context, []), raise_server_exceptions=False)


@pytest.mark.parametrize(("method", "path"), MANAGEMENT)
def test_management_is_refused_on_a_non_loopback_bind_without_an_admin_token(
    method: str, path: str
) -> None:
    reply = _client(None, "10.1.2.3").request(method, path, content=b"x")
    assert reply.status_code == 403
    assert reply.json()["reason"] == "MANAGEMENT_DISABLED"
    assert reply.json()["code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(("method", "path"), MANAGEMENT)
def test_management_on_a_non_loopback_bind_asks_for_the_admin_token_when_set(
    method: str, path: str
) -> None:
    reply = _client("adm1n", "0.0.0.0").request(method, path, content=b"x")
    assert reply.status_code == 401
    assert reply.json()["reason"] == "MISSING_TOKEN"


def test_the_openapi_document_describes_the_json_api() -> None:
    paths = _client(None, "127.0.0.1").get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/models",
        "/api/v1/models/{name}",
        "/api/v1/models/{name}/image",
        "/api/v1/models/{name}/predict",
        "/api/v1/models/{name}/generate",
        "/api/v1/uploads",
        "/api/v1/models/{name}/load",
        "/api/v1/stats",
    } <= set(paths)
    upload = paths["/api/v1/uploads"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/zip"} <= set(upload)
    assert (
        "text/event-stream"
        in paths["/api/v1/models/{name}/generate"]["post"]["responses"]["200"]["content"]
    )


def test_the_openapi_document_shows_modelrts_errors_not_fastapis_422() -> None:
    document = _client(None, "127.0.0.1").get("/openapi.json").json()
    operations = [op for ops in document["paths"].values() for op in ops.values()]
    assert all("422" not in op["responses"] for op in operations)
    predict = document["paths"]["/api/v1/models/{name}/predict"]["post"]["responses"]
    schema = predict["400"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Error"}
    schemas = document["components"]["schemas"]
    assert set(schemas["Error"]["required"]) == {"error", "code", "reason"}
    assert "HTTPValidationError" not in schemas
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]["400"]
    assert chat["content"]["application/json"]["schema"]["$ref"].endswith("/OpenAIError")
