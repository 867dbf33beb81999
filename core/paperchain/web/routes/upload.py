"""Upload: files dropped anywhere on the page (or chosen with the button), each sent on its own
by upload.js with its progress shown; the server stores it as the API's upload does and, if asked,
starts a workflow on it. The answer is JSON for upload.js: the document, the run to follow live,
or why it failed."""

from __future__ import annotations

import os
import tempfile

import sqlalchemy as sa
from aiohttp import web

from paperchain_sdk import PaperchainError

from ...api.errors import ApiError, from_paperchain
from ...api.guard import AUDIT_DETAILS, AUDIT_TARGET, STATE
from ...api.routes.documents import _copy_multipart, clean_name, restore
from ...store.tables import runs as runs_table
from ..guard import page
from ..render import render
from .runs import workflow_names

_RUNS_OF_BATCH = sa.select(runs_table.c.id).where(runs_table.c.batch_id == sa.bindparam("batch_id"),
                                                  runs_table.c.kind != "batch").order_by(runs_table.c.seq)


@page(role="editor")
async def upload_page(request, ctx):
    workflows = await workflow_names(request, ctx, enabled=True)
    chosen = request.query.get("workflow") or ("scan" if "scan" in workflows else "")
    return render(request, ctx, "upload.html", workflows=workflows, chosen=chosen)


@page(role="editor")
async def upload_file(request, ctx):
    try:
        return web.json_response(await _store(request, ctx), status=201)
    except ApiError as exc:
        return web.json_response({"error": exc.message}, status=exc.status)
    except PaperchainError as exc:
        return web.json_response({"error": str(exc)}, status=from_paperchain(exc).status)


async def _store(request, ctx) -> dict:
    s = request.app[STATE]
    k, limit = s.kernel, s.settings.max_upload
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", ctx.gettext("The file is too large: the limit is %(n)s.")
                       % {"n": ctx.fmt.size(limit)})
    if not request.content_type.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", ctx.gettext("Send the file as a form upload."))
    workflow = request.query.get("workflow", "")
    fd, tmp = tempfile.mkstemp(dir=k.blobs.spool, prefix="upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            name = clean_name(await _copy_multipart(request, out, limit))
        if os.path.getsize(tmp) == 0:
            raise ApiError(400, "invalid_input", ctx.gettext("%(name)s is empty.") % {"name": name})
        document = await k.documents.ingest(tmp, name=name, move=True, tenant=ctx.who.tenant, created_by=ctx.who.name)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    allowed = s.settings.upload_types
    if allowed and document.media_type not in allowed:
        raise ApiError(415, "unsupported_media_type", ctx.gettext("%(name)s is %(type)s, which this server does not "
                                                                  "accept.") % {"name": name, "type": document.media_type})
    await restore(request, document.id, ctx.who.tenant)
    request[AUDIT_TARGET] = f"document:{document.id}"
    request[AUDIT_DETAILS] = {"name": name, "size": document.size, "workflow": workflow or None}
    answer = {"document": document.id, "name": name, "url": f"/documents/{document.id}"}
    if workflow:
        batch_id = await k.submit(workflow, documents=(document.id,), inputs={}, source="web", created_by=ctx.who.name,
                                  tenant=ctx.who.tenant)
        runs = await k.sql.read(_RUNS_OF_BATCH, {"batch_id": batch_id})
        answer.update(batch=batch_id, run=runs[0].id if runs else None, run_url=f"/runs/{runs[0].id}" if runs else None)
    return answer


PAGES = [
    ("GET", "/upload", upload_page),
    ("POST", "/upload", upload_file),
]
