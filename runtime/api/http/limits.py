"""Request size limits for the HTTP front door (ASGI middleware).

A body larger than the limit is refused with 413 and the JSON error body, whether it announces
its length (Content-Length) or arrives chunked; uploads (``/api/v1/uploads``) have the larger
upload limit, every other route the message limit the gRPC side uses.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.errors import ErrorCode, ModelrtError
from runtime.api.http.errors import error_response

UPLOAD_PREFIX = "/api/v1/uploads"


class BodyTooLargeError(ModelrtError):
    """A request body over the front door's limit (answered with HTTP 413)."""

    code = ErrorCode.RESOURCE_EXHAUSTED
    reason = "BODY_TOO_LARGE"


def _too_large(limit: int) -> BodyTooLargeError:
    return BodyTooLargeError(
        f"the request body is larger than this server's limit of {limit} bytes",
        metadata={"limit": str(limit)},
    )


class LimitBody:
    """Refuses request bodies over ``max_bytes`` (``max_upload_bytes`` for uploads) with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes if max_upload_bytes is not None else max_bytes

    def _limit(self, scope: Scope) -> int:
        path = str(scope.get("path", ""))
        return self.max_upload_bytes if path.startswith(UPLOAD_PREFIX) else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        for key, value in scope.get("headers", ()):
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                response = error_response(_too_large(limit))
                response.status_code = 413
                await response(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)
            return message

        await self.app(scope, counted, send)
