"""The playground's files and the API docs page, served by a real server: content types, caching,
no CDN, and nothing outside the page's folder."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from runtime.api.http.routes_playground import ASSETS


@pytest.fixture
def http(start_server: Callable[..., Any]) -> httpx.Client:
    running = start_server()
    with httpx.Client(base_url=f"http://127.0.0.1:{running.server.http_port}", timeout=10) as c:
        yield c


def test_the_page_is_served_at_the_root_and_revalidated(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="/playground/js/main.js">' in page.text
    again = http.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/playground/js/main.js", "text/javascript"),
        ("/playground/js/mic-worklet.js", "text/javascript"),
        ("/playground/style.css", "text/css"),
        ("/playground/favicon.svg", "image/svg+xml"),
        ("/playground/vendor/swagger-ui/swagger-ui-bundle.js", "text/javascript"),
        ("/playground/vendor/swagger-ui/favicon-32x32.png", "image/png"),
    ],
)
def test_static_files_carry_their_content_type(
    http: httpx.Client, path: str, content_type: str
) -> None:
    reply = http.get(path)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith(content_type)
    assert reply.headers["x-content-type-options"] == "nosniff"
    expected = "public, max-age=86400" if "/vendor/" in path else "no-cache"
    assert reply.headers["cache-control"] == expected


@pytest.mark.parametrize(
    "path",
    [
        "/playground/nope.js",
        "/playground/js",
        "/playground/",
        "/playground/..%2F..%2Fapp.py",
        "/playground/js/..%2F..%2Froutes_playground.py",
        "/playground/%2Fetc%2Fpasswd",
    ],
)
def test_paths_outside_the_pages_files_are_not_found(http: httpx.Client, path: str) -> None:
    reply = http.get(path)
    assert reply.status_code == 404
    body = reply.json()
    assert body["code"] == "NOT_FOUND"
    assert "import" not in reply.text  # never a Python file's text


def test_docs_page_uses_local_swagger_ui_over_the_openapi_document(http: httpx.Client) -> None:
    page = http.get("/docs")
    assert page.status_code == 200
    assert "/playground/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "/playground/vendor/swagger-ui/swagger-ui.css" in page.text
    assert "'/openapi.json'" in page.text or '"/openapi.json"' in page.text
    assert "cdn" not in page.text.lower()
    document = http.get("/openapi.json").json()
    assert "/api/v1/server" in document["paths"]
    assert "/" not in document["paths"]  # the page itself is not part of the API


def test_the_page_loads_nothing_from_another_host() -> None:
    for path in ASSETS.rglob("*"):
        if path.suffix not in (".html", ".js", ".css") or "vendor" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        found = re.findall(r"""(?:src|href|import|url)\s*\(?\s*["']?(?:https?:)?//""", text)
        assert found == [], path


def test_head_answers_the_headers_alone(http: httpx.Client) -> None:
    for path in ("/", "/playground/js/main.js"):
        reply = http.head(path)
        assert reply.status_code == 200
        assert reply.headers["etag"] == http.get(path).headers["etag"]
        assert reply.content == b""
