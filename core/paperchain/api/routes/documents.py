"""Documents: streaming upload, download, metadata, list, full-text search, soft delete."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import tempfile
from urllib.parse import unquote

import sqlalchemy as sa
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from paperchain_sdk import InputError, NotFoundError
from paperchain_sdk.web import PRINCIPAL_KEY, endpoint, read_json, to_json

from ...documents import LISTED, now
from ...store.blobcrypt import BlobDamaged
from ...store.portable import json_array_has
from ...store.search import ALL_TENANTS, marked
from ...store.tables import documents as documents_table
from ..errors import ApiError
from ..guard import STATE
from ..schemas import (
    DocumentOut,
    DocumentPatch,
    DocumentQuery,
    SearchHit,
    SearchQuery,
    UploadQuery,
)
from .common import audit_target, kernel, newest_first, page, query, reply, state, who

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
_CHUNK = 256 * 1024
_CHUNK_OUT = 1 << 20
_SAFE_NAME = re.compile(r"[^\w.\- ()+,@]")
_d = documents_table.c
_SHA256 = sa.select(_d.sha256).where(_d.id == sa.bindparam("document_id"))
_TEXT = sa.select(_d.text).where(_d.id == sa.bindparam("document_id"))
# Journal statements, built once (it groups writes by statement).
_RENAME = sa.update(documents_table).where(_d.id == sa.bindparam("document_id")).values(
    name=sa.bindparam("new_name"), metadata=sa.bindparam("new_metadata"), tags=sa.bindparam("new_tags"))
_DELETE = sa.update(documents_table).where(_d.id == sa.bindparam("document_id")).values(
    deleted=sa.bindparam("when"), deleted_by=sa.bindparam("by"))
_RESTORE = sa.update(documents_table).where(
    _d.id == sa.bindparam("document_id"), _d.tenant.is_not_distinct_from(sa.bindparam("owner"))).values(
    deleted=None, deleted_by=None)


def _out(row) -> DocumentOut:
    return DocumentOut(id=row.id, name=row.name, media_type=row.media_type, size=row.size, created=row.created,
                       metadata=json.loads(row.metadata or "{}"), tags=json.loads(row.tags or "[]"),
                       created_by=row.created_by, has_text=bool(row.has_text))


async def _row(request, document_id: str):
    documents = request.app[STATE].kernel.documents
    row = documents.cached(document_id) or await documents.row(document_id)
    tenant = who(request).tenant
    if row is None or row.deleted is not None or (tenant and row.tenant != tenant):
        raise NotFoundError(f"there is no document {document_id}.", hint="GET /api/v1/documents lists them")
    return row


async def write(request, document_id: str, statement, params: dict, *, reindex: bool = False) -> None:
    """A write of one document through the journal (the API's and the web's); ``reindex`` when it
    changes what search finds (name, deletion)."""
    documents = kernel(request).documents
    await kernel(request).journal.execute(statement, params)
    documents.forget(document_id)
    if reindex:
        await documents.reindex([document_id])


async def delete(request, document_id: str, by: str) -> None:
    await write(request, document_id, _DELETE, {"document_id": document_id, "when": now(), "by": by}, reindex=True)


async def restore(request, document_id: str, tenant: str) -> None:
    """Undelete the caller's own copy (an upload of content this tenant deleted brings it back)."""
    await write(request, document_id, _RESTORE, {"document_id": document_id, "owner": tenant or None}, reindex=True)


def clean_name(name: str | None) -> str:
    """A file name a client sent, reduced to its last part with no path tricks."""
    base = os.path.basename(unquote(name or "").replace("\\", "/")).strip()
    base = _SAFE_NAME.sub("_", base).lstrip(".")
    return base[:200] or "upload"


# The routes on one document come first: aiohttp tries a path's routes in the order they were
# added, and reading one document is the most frequent request.
@routes.get("/api/v1/documents/{id}")
@endpoint(summary="A document's metadata", response=DocumentOut, tags=("documents",))
async def get_document(request):
    # The most frequent read: answered from the encoded-JSON cache, which holds live documents only.
    document_id = request.match_info["id"]
    documents = request.app[STATE].kernel.documents
    cached = documents.encoded.get(document_id)
    if cached is None:
        row = await _row(request, document_id)
        cached = documents.encoded[row.id] = (row.tenant, json.dumps(to_json(_out(row))).encode())
    else:
        tenant = request[PRINCIPAL_KEY].tenant
        if tenant and cached[0] != tenant:
            raise NotFoundError(f"there is no document {document_id}.", hint="GET /api/v1/documents lists them")
    return web.Response(body=cached[1], content_type="application/json")


@routes.patch("/api/v1/documents/{id}")
@endpoint(summary="Change a document's name, metadata (merged) or tags (replaced)", role="editor",
          request=DocumentPatch, response=DocumentOut, tags=("documents",))
async def update_document(request):
    row = await _row(request, request.match_info["id"])
    body = await read_json(request, DocumentPatch)
    name, metadata, tags = row.name, json.loads(row.metadata or "{}"), json.loads(row.tags or "[]")
    changed = []
    if body.name is not None:
        if not body.name.strip():
            raise InputError("the name must not be empty.")
        if clean_name(body.name) != name:
            name = clean_name(body.name)
            changed.append("name")
    if body.metadata is not None:
        before = metadata
        metadata = {k: v for k, v in {**metadata, **body.metadata}.items() if v is not None}  # null removes a key
        changed.extend(f"metadata.{k}" for k in sorted(body.metadata) if before.get(k) != metadata.get(k))
    if body.tags is not None:
        new_tags = sorted({str(t).strip() for t in body.tags if str(t).strip()})
        if new_tags != tags:
            changed.append("tags")
        tags = new_tags
    await write(request, row.id, _RENAME, {"document_id": row.id, "new_name": name, "new_metadata": json.dumps(metadata),
                                           "new_tags": json.dumps(tags)}, reindex="name" in changed)
    audit_target(request, f"document:{row.id}", fields=changed)
    if changed:
        # The data-change trigger reacts to this event: which fields changed, and the tags now.
        await kernel(request).emit("document.updated", row.id, {"fields": changed, "tags": tags, "by": who(request).name})
    return reply(_out(await _row(request, row.id)))


@routes.delete("/api/v1/documents/{id}")
@endpoint(summary="Delete a document (soft: hidden, kept for the audit trail)", role="editor", status=204,
          tags=("documents",))
async def delete_document(request):
    row = await _row(request, request.match_info["id"])
    await delete(request, row.id, who(request).name)
    audit_target(request, f"document:{row.id}", name=row.name)
    await kernel(request).emit("document.deleted", row.id, {"by": who(request).name})
    return web.Response(status=204)


@routes.post("/api/v1/documents")
@endpoint(summary="Upload a document: multipart/form-data (field 'file') or the raw bytes as the body "
                  "(name it with ?name=). Streamed to disk, never held in memory.",
          role="editor", query=UploadQuery, body="multipart/form-data,application/octet-stream",
          response=DocumentOut, status=201, tags=("documents",))
async def upload(request):
    s = state(request)
    limit = s.settings.max_upload
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"the upload is {request.content_length} bytes; the limit is {limit}",
                       {"limit": limit})
    params = query(request, UploadQuery)
    if request.content_type == "application/x-www-form-urlencoded":
        raise ApiError(415, "unsupported_media_type", "a document upload is multipart/form-data (field 'file') "
                       "or the raw bytes (e.g. application/octet-stream), not a url-encoded form")
    # Spooled in the store's private folder: the plaintext never sits where the encrypted blobs do.
    fd, tmp = tempfile.mkstemp(dir=kernel(request).blobs.spool, prefix="upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            if request.content_type.startswith("multipart/"):
                name = await _copy_multipart(request, out, limit)
            else:
                name = params.name
                await _copy_stream(request.content, out, limit)
        name = clean_name(name)
        if os.path.getsize(tmp) == 0:
            raise InputError(f"{name} is empty (0 bytes).", hint="send the file's bytes")
        p = who(request)
        document = await kernel(request).documents.ingest(tmp, name=name, move=True, tenant=p.tenant,
                                                          created_by=p.name)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    allowed = s.settings.upload_types
    if allowed and document.media_type not in allowed:
        raise ApiError(415, "unsupported_media_type", f"{name} is {document.media_type}, which this server does not accept",
                       {"accepted": allowed})
    # The id is keyed by the caller's tenant, so this is the caller's own copy: uploading content
    # this tenant deleted brings its document back; another tenant's copy is a different document.
    await restore(request, document.id, p.tenant)
    audit_target(request, f"document:{document.id}", name=name, size=document.size)
    return reply(_out(await _row(request, document.id)), 201)


async def _copy_stream(stream, out, limit: int) -> None:
    size = 0
    while chunk := await stream.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "payload_too_large", f"the upload is over the limit of {limit} bytes", {"limit": limit})
        out.write(chunk)


async def _copy_multipart(request, out, limit: int) -> str:
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if part.name == "file":
                size = 0
                while chunk := await part.read_chunk(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(413, "payload_too_large", f"the upload is over the limit of {limit} bytes",
                                       {"limit": limit})
                    out.write(chunk)
                return part.filename or "upload"
            await part.release()
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        raise InputError(f"the multipart body is malformed: {exc}.", hint="send a form with a 'file' field") from None
    raise InputError("the form has no 'file' field.", hint="send the document as the form field 'file'")


@routes.get("/api/v1/documents")
@endpoint(summary="List documents, newest first, with filters and cursor pagination", query=DocumentQuery,
          response=DocumentOut, many=True, tags=("documents",))
async def list_documents(request):
    q = query(request, DocumentQuery)
    statement = sa.select(*LISTED).where(_d.deleted.is_(None))
    tenant = who(request).tenant
    if tenant:
        statement = statement.where(_d.tenant == tenant)
    if q.media_type:
        statement = statement.where(_d.media_type == q.media_type)
    if q.created_after:
        statement = statement.where(_d.created >= q.created_after)
    if q.created_before:
        statement = statement.where(_d.created < q.created_before)
    if q.name:  # a part of the name, in any case, its % and _ taken literally
        statement = statement.where(_d.name.icontains(q.name, autoescape=True))
    if q.tag:
        statement = statement.where(json_array_has(_d.tags, q.tag))
    return await newest_first(request, statement, created=_d.created, key=_d.id, limit=q.limit, cursor=q.cursor,
                              convert=_out)


@routes.get("/api/v1/documents/search")
@endpoint(summary='Full-text search over names and text: words, "phrases", OR, -word, prefix*; best match first',
          query=SearchQuery, response=SearchHit, many=True, tags=("documents",))
async def search(request):
    q = query(request, SearchQuery)
    documents = kernel(request).documents
    hits, next_cursor = await documents.search.query(q.q, who(request).tenant or ALL_TENANTS, q.limit, q.cursor)
    rows = await documents.named([h.id for h in hits])
    return page([SearchHit(id=h.id, name=rows[h.id][0], media_type=rows[h.id][1], snippet=marked(h.snippet, "[", "]"),
                           rank=h.rank) for h in hits if h.id in rows], next_cursor)


@routes.get("/api/v1/documents/{id}/content")
@endpoint(summary="Download a document's bytes (with its own media type)", produces="*/*", tags=("documents",))
async def download(request):
    row = await _row(request, request.match_info["id"])
    sha256 = await kernel(request).sql.scalar(_SHA256, {"document_id": row.id})
    return await blob_response(request, row.id, media_type=row.media_type, filename=row.name, sha256=sha256)


async def blob_response(request, name: str, *, media_type: str, filename: str, sha256: str | None = None):
    """Stream a blob's plaintext (decrypted chunk by chunk off the event loop, checked against its
    SHA-256); a blob found damaged part-way ends the response early, so the client sees a short body."""
    blobs = kernel(request).blobs
    try:
        reader = await asyncio.to_thread(blobs.open, name, sha256=sha256)
    except NotFoundError:
        raise NotFoundError(f"the bytes of {name} are missing from the blob store.",
                            hint="restore the data directory from a backup") from None
    try:
        response = web.StreamResponse(headers={
            "Content-Type": media_type, "Content-Disposition": f'attachment; filename="{clean_name(filename)}"',
        })
        response.content_length = reader.size
        await response.prepare(request)
        try:
            while chunk := await asyncio.to_thread(reader.read, _CHUNK_OUT):
                await response.write(chunk)
        except BlobDamaged as exc:
            # The status line has gone out: all that is left is to end the connection early, so
            # the client sees a short body instead of waiting for the rest.
            log.error("download of %s stopped: %s", name, exc.message)
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response
    finally:
        reader.close()


@routes.get("/api/v1/documents/{id}/text")
@endpoint(summary="A document's extracted text", produces="text/plain", tags=("documents",))
async def document_text(request):
    document_id = (await _row(request, request.match_info["id"])).id
    text = await kernel(request).sql.scalar(_TEXT, {"document_id": document_id})
    if not text:
        raise NotFoundError(f"document {document_id} has no text yet.", hint="run a workflow with a text or OCR step")
    return web.Response(text=text, content_type="text/plain")
