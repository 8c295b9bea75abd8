"""Refuses calls a web page of another site makes through a visitor's browser.

A browser sends a form POST (multipart, url-encoded, text/plain) and opens a WebSocket to any
site without asking it first, and a server on 127.0.0.1 answers them with the visitor's access:
an unknown page could upload a bundle, unload a model or run one. Such a call carries the page's
``Origin``; one that is neither this server's own origin nor one of ``cors_origins`` is
refused (403 CROSS_SITE_REQUEST). Calls without ``Origin`` (curl, the SDKs) are not browsers'.

>>> foreign_origin("http://evil.test", "127.0.0.1:8000", [])
True
>>> foreign_origin("http://127.0.0.1:8000", "127.0.0.1:8000", [])
False
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Depends
from starlette.requests import HTTPConnection

from registry.errors import ErrorCode, ModelrtError


class CrossSiteRequestError(ModelrtError):
    """A browser call from a page of another site than this server or its cors_origins."""

    code = ErrorCode.PERMISSION_DENIED
    reason = "CROSS_SITE_REQUEST"


def foreign_origin(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Whether a call with ``Origin: origin`` to ``Host: host`` comes from another site."""
    if origin is None:
        return False
    if "*" in allowed or origin in allowed:
        return False
    return urlsplit(origin).netloc.lower() != (host or "").lower()


def check_origin(connection: HTTPConnection) -> None:
    """Raise CrossSiteRequestError for a foreign page's call (see the module's docstring)."""
    origin = connection.headers.get("origin")
    allowed: list[str] = getattr(connection.app.state, "cors_origins", [])
    if foreign_origin(origin, connection.headers.get("host"), allowed):
        raise CrossSiteRequestError(
            f"calls from pages of {origin} are refused: add it to cors_origins to allow them",
            metadata={"origin": str(origin)[:200]},
        )


#: A route dependency: ``dependencies=[same_site]``.
same_site = Depends(check_origin)
