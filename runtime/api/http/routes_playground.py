"""The playground and the API docs page: ``/`` (the page), ``/playground/{path}`` (its static files)
and ``/docs`` (Swagger UI over ``/openapi.json``), all served from files inside the package.

Nothing comes from a CDN: the page is plain JavaScript modules, and Swagger UI's built files are
committed under ``playground/vendor/`` (``make playground-vendor`` refreshes them from npm). The
page's own files are revalidated on every load (ETag, ``no-cache``) so an upgraded server never
serves a stale mix; vendored files are cached for a day. The files hold no data, so they need no
token; the API calls the page makes carry the token the user gives it.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path, PurePosixPath

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, HTMLResponse, Response

#: Where the page's files live, inside the installed package.
ASSETS = Path(__file__).resolve().parent / "playground"
SWAGGER_UI = "/playground/vendor/swagger-ui"

#: Content types by suffix; ``mimetypes`` fills in the rest (its table varies by platform, and
#: a module script must be served as JavaScript or the browser refuses to run it).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
NO_CACHE = "no-cache"
VENDOR_CACHE = "public, max-age=86400"

router = APIRouter(tags=["playground"])


class AssetNotFoundError(HTTPException):
    """A playground path that names no file of the page (answered 404, reason NOT_FOUND)."""

    def __init__(self, path: str) -> None:
        super().__init__(404, f"no playground file {path!r}")


def asset_path(relative: str) -> Path:
    """The file ``relative`` names under ASSETS; AssetNotFoundError for anything else (a folder,
    a missing file, a path that climbs out with ``..`` or is absolute)."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or any(p in ("..", ".") or "\\" in p for p in parts):
        raise AssetNotFoundError(relative)
    path = ASSETS.joinpath(*parts).resolve()
    if not path.is_relative_to(ASSETS) or not path.is_file():
        raise AssetNotFoundError(relative)
    return path


def content_type(path: Path) -> str:
    """The Content-Type of a static file, by its suffix."""
    known = CONTENT_TYPES.get(path.suffix.lower())
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _etag(path: Path) -> str:
    stat = path.stat()
    digest = hashlib.sha256(f"{path}:{stat.st_mtime_ns}:{stat.st_size}".encode()).hexdigest()
    return f'"{digest[:32]}"'


def serve_file(request: Request, path: Path, cache_control: str) -> Response:
    """``path`` with its content type, ETag and Cache-Control; 304 when the client's copy
    (If-None-Match) is current."""
    etag = _etag(path)
    headers = {"Cache-Control": cache_control, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    wanted = request.headers.get("if-none-match", "")
    if etag in (tag.strip() for tag in wanted.split(",")):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=content_type(path), headers=headers)


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def playground_page(request: Request) -> Response:
    """The playground: model cards, try it, upload, live view."""
    return serve_file(request, asset_path("index.html"), NO_CACHE)


@router.api_route("/playground/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def playground_asset(request: Request, path: str) -> Response:
    """One static file of the page (scripts, styles, vendored Swagger UI)."""
    cache = VENDOR_CACHE if path.startswith("vendor/") else NO_CACHE
    return serve_file(request, asset_path(path), cache)


@router.get("/docs", include_in_schema=False)
async def api_docs() -> HTMLResponse:
    """Swagger UI over this server's OpenAPI document, from the vendored files."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="modelrt HTTP API",
        swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
    )
