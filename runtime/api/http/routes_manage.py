"""modelrt's JSON management routes: Upload (multipart or a raw body), load, unload, delete.

An upload goes through the same Uploads use case as the Upload RPC: the size cap, the sha256
check, staging that vanishes whatever happens. The body is streamed in chunks, never held
whole: a raw body that announces its size and sha256 goes straight to staging; otherwise (and
for a multipart form, whose file is read as it streams by multipart_upload) it is first spooled
to an anonymous temporary file, hashed on the way, in the server's unpack folder next to the
store (never the system's temp folder, often RAM).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
from collections.abc import AsyncIterator
from typing import IO, Any

from fastapi import APIRouter, Request

from runtime.api.http.context import Ctx, management_access
from runtime.api.http.multipart_upload import UploadForm, bundle_pieces
from runtime.api.http.origin import same_site
from runtime.api.http.routes_models import card
from runtime.engine.models import ModelRecord, check_model_ref
from runtime.engine.uploads import UploadHeader, Uploads
from runtime.errors import BadRequestError

logger = logging.getLogger(__name__)
router = APIRouter(
    prefix="/api/v1", tags=["management"], dependencies=[same_site, management_access]
)
CHUNK = 1 << 20
RAW_TYPES = ("application/zip", "application/octet-stream", "application/x-zip-compressed")
_TRUE = ("1", "true", "yes", "on")


def _header(fields: dict[str, str], size: int, sha256: str) -> UploadHeader:
    namespace = fields.get("namespace", "")
    if namespace:  # else the bundle's own name, checked with its config
        check_model_ref(namespace, fields.get("version", ""), field="namespace")
    return UploadHeader(
        namespace=namespace,
        version=fields.get("version", ""),
        format=fields.get("format", ""),
        total_size=size,
        sha256=sha256.lower(),
        skip_load=fields.get("skip_load", "").lower() in _TRUE,
    )


async def _receive(
    uploads: Uploads, header: UploadHeader, chunks: AsyncIterator[bytes]
) -> ModelRecord:
    """Feed ``chunks`` to a new upload and commit it, exactly as the Upload RPC does."""
    async with uploads.receive(header) as upload:
        async for chunk in chunks:
            await upload.write(chunk)
        record, _ = await uploads.commit(upload)
    return record


async def _file_chunks(file: IO[bytes]) -> AsyncIterator[bytes]:
    await asyncio.to_thread(file.seek, 0)
    while chunk := await asyncio.to_thread(file.read, CHUNK):
        yield chunk


async def _spool(chunks: AsyncIterator[bytes], file: IO[bytes]) -> tuple[int, str]:
    """Write ``chunks`` to ``file``; their total size and sha256."""
    digest, size = hashlib.sha256(), 0
    async for chunk in chunks:
        size += len(chunk)
        digest.update(chunk)
        await asyncio.to_thread(file.write, chunk)
    return size, digest.hexdigest()


async def _raw(ctx: Ctx, request: Request) -> ModelRecord:
    fields = dict(request.query_params.items())
    length = request.headers.get("content-length", "")
    sha256 = fields.get("sha256", "")
    logger.info("upload of %s over HTTP", fields.get("filename") or "a bundle")
    if length.isdigit() and sha256:  # size and digest known up front: straight to staging
        return await _receive(ctx.uploads, _header(fields, int(length), sha256), request.stream())
    with await _spool_file(ctx) as spooled:
        size, digest = await _spool(request.stream(), spooled)
        header = _header(fields, size, sha256 or digest)
        return await _receive(ctx.uploads, header, _file_chunks(spooled))


async def _spool_file(ctx: Ctx) -> IO[bytes]:
    """An anonymous file in the server's unpack folder (the system's temp folder without one)."""
    if ctx.spool_dir is not None:
        await asyncio.to_thread(ctx.spool_dir.mkdir, parents=True, exist_ok=True)
    return await asyncio.to_thread(tempfile.TemporaryFile, dir=ctx.spool_dir)


async def _multipart(ctx: Ctx, request: Request) -> ModelRecord:
    with await _spool_file(ctx) as spooled:
        form = UploadForm()
        content_type = request.headers.get("content-type", "")
        pieces = bundle_pieces(content_type, request.stream(), form)
        size, digest = await _spool(pieces, spooled)
        logger.info("upload of %s over HTTP", form.filename or "a bundle")
        header = _header(form.fields, size, form.fields.get("sha256") or digest)
        return await _receive(ctx.uploads, header, _file_chunks(spooled))


@router.post(
    "/uploads",
    status_code=201,
    summary="Upload a bundle (multipart field 'bundle', or a raw zip body): the new model's card",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["bundle"],
                        "properties": {
                            "bundle": {"type": "string", "format": "binary"},
                            "namespace": {"type": "string"},
                            "version": {"type": "string"},
                            "sha256": {"type": "string"},
                            "skip_load": {"type": "boolean"},
                        },
                    }
                },
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
async def upload(request: Request, ctx: Ctx) -> dict[str, Any]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        record = await _multipart(ctx, request)
    elif kind in RAW_TYPES:
        record = await _raw(ctx, request)
    else:
        raise BadRequestError(
            f"an upload is multipart/form-data or a raw {' or '.join(RAW_TYPES[:2])} body, "
            f"not {kind or 'a body without a content type'}"
        )
    return card(record, ctx.engine)


@router.post("/models/{name}/load", summary="(Re)load a model's newest version")
async def load(name: str, ctx: Ctx) -> dict[str, Any]:
    return card(await ctx.engine.load(name), ctx.engine)


@router.post("/models/{name}/versions/{version}/load", summary="(Re)load one version")
async def load_version(name: str, version: str, ctx: Ctx) -> dict[str, Any]:
    check_model_ref(name, version)
    return card(await ctx.engine.load(name, version), ctx.engine)


@router.post("/models/{name}/unload", summary="Unload every version of a model")
async def unload(name: str, ctx: Ctx) -> dict[str, Any]:
    check_model_ref(name)
    records = await ctx.engine.unload(name)
    return {"models": [card(record, ctx.engine) for record in records]}


@router.post("/models/{name}/versions/{version}/unload", summary="Unload one version")
async def unload_version(name: str, version: str, ctx: Ctx) -> dict[str, Any]:
    check_model_ref(name, version)
    records = await ctx.engine.unload(name, version)
    return {"models": [card(record, ctx.engine) for record in records]}


@router.delete("/models/{name}", summary="Delete every version of a model from the store")
async def delete(name: str, ctx: Ctx) -> dict[str, Any]:
    check_model_ref(name)
    return {"deleted": await ctx.engine.delete(name)}


@router.delete("/models/{name}/versions/{version}", summary="Delete one version")
async def delete_version(name: str, version: str, ctx: Ctx) -> dict[str, Any]:
    check_model_ref(name, version)
    return {"deleted": await ctx.engine.delete(name, version)}
