"""The OpenAPI document says what errors really look like.

FastAPI documents a 422 ``HTTPValidationError`` on every route that reads parameters or a body,
but modelrt answers a request it cannot read with 400 and its one error body (errors.py). A
client generated from ``/openapi.json`` would otherwise expect a status and a shape it never
gets. This rewrites the document once, when it is first asked for: the 422 answers and their
schemas go, every operation lists 400 (and the "default" error) with the ``Error`` schema, or
``OpenAIError`` on the OpenAI-compatible routes, which answer in OpenAI's shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "code", "reason"],
    "properties": {
        "error": {"type": "string", "description": "What went wrong, for a person."},
        "code": {"type": "string", "description": "The google.rpc code, e.g. INVALID_ARGUMENT."},
        "reason": {"type": "string", "description": "modelrt's reason, e.g. INPUT_MISSING."},
        "metadata": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Details: the model, the input, the error id of a server fault.",
        },
    },
}
#: What the OpenAI-compatible routes (/v1) answer instead, in OpenAI's own shape.
OPENAI_ERROR_SCHEMA: dict[str, Any] = {
    "title": "OpenAIError",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_FASTAPI_ONLY = ("HTTPValidationError", "ValidationError")


def _answer(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def describe_errors(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with FastAPI's 422 answers replaced by modelrt's error answers (in place).

    >>> doc = {"paths": {"/x": {"post": {"responses": {"200": {}, "422": {}}}}}}
    >>> sorted(describe_errors(doc)["paths"]["/x"]["post"]["responses"])
    ['200', '400', 'default']
    """
    for path, operations in document.get("paths", {}).items():
        answer = _answer("OpenAIError" if path.startswith("/v1/") else "Error")
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.pop("422", None)
            responses.setdefault("400", {"description": "The request cannot be read", **answer})
            responses.setdefault("default", {"description": "An error", **answer})
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_ONLY:
        schemas.pop(name, None)
    schemas["Error"] = ERROR_SCHEMA
    schemas["OpenAIError"] = OPENAI_ERROR_SCHEMA
    return document


def install(app: FastAPI) -> None:
    """Serve the rewritten document at ``app.openapi_url``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            app.openapi_schema = describe_errors(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
