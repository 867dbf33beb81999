"""Documents: the list (thumbnails, table or cards, filters, full-text search with highlighted
snippets, bulk actions) and a document's page (page previews, text, findings, tags and metadata,
history, runs).

Tenant rule as in the API: a user of a tenant sees only that tenant's documents; deleted ones are
hidden. Writes go through the same statements and events as the API's (document.updated,
document.deleted), so triggers and the live stream see them alike.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import sqlalchemy as sa
from aiohttp import web
from markupsafe import Markup, escape

from paperchain_sdk import InputError, NotFoundError

from ...api.guard import AUDIT_DETAILS, AUDIT_TARGET, STATE
from ...api.routes.common import newest_rows
from ...api.routes.documents import blob_response, delete, write
from ...documents import LISTED
from ...store.portable import json_array_has
from ...store.search import ALL_TENANTS, SearchSyntaxError, marked
from ...store.tables import artifacts, audit, findings, runs
from ...store.tables import documents as documents_table
from .. import thumbnails
from ..guard import WEB, PageError, page
from ..render import render
from .runs import _day, workflow_names

PAGE_SIZE = 48
_SEARCH_BATCH, _SEARCH_ROUNDS = 200, 10
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_d = documents_table.c
_SHA256 = sa.select(_d.sha256).where(_d.id == sa.bindparam("document_id"))
_TEXT = sa.select(_d.text).where(_d.id == sa.bindparam("document_id"))
_FINDINGS = sa.select(findings.c.analyzer, findings.c.data, findings.c.summary).where(
    findings.c.document_id == sa.bindparam("document_id"))
_RUNS = sa.select(runs.c.id, runs.c.workflow, runs.c.status, runs.c.created, runs.c.error).where(
    runs.c.document_id == sa.bindparam("document_id")).order_by(runs.c.created.desc(), runs.c.id.desc()).limit(50)
_FILES = sa.select(artifacts.c.run_id.label("run"), artifacts.c.step_id.label("step"), artifacts.c.name,
                   artifacts.c.media_type, artifacts.c.size).join_from(artifacts, runs, runs.c.id == artifacts.c.run_id).where(
    runs.c.document_id == sa.bindparam("document_id")).order_by(
    artifacts.c.created.desc(), artifacts.c.run_id, artifacts.c.step_id, artifacts.c.name).limit(50)
_HISTORY = sa.select(audit.c.time, audit.c.actor, audit.c.action, audit.c.outcome).where(
    audit.c.target == sa.bindparam("target")).order_by(audit.c.id.desc()).limit(50)
_SET_LABELS = sa.update(documents_table).where(_d.id == sa.bindparam("document_id")).values(
    metadata=sa.bindparam("new_metadata"), tags=sa.bindparam("new_tags"))


def _kernel(request):
    return request.app[STATE].kernel


def _document(row) -> dict:
    doc = {column.name: row._mapping[column.name] for column in LISTED}
    doc["metadata"], doc["tags"] = json.loads(doc["metadata"] or "{}"), json.loads(doc["tags"] or "[]")
    doc["has_text"] = bool(doc["has_text"])
    return doc


def highlight(snippet: str) -> Markup:
    """A search snippet as HTML: the text escaped, the matched words in <mark>."""
    return Markup(marked(str(escape(snippet)), "<mark>", "</mark>"))


def _filters(request) -> dict:
    q = request.query
    view = q.get("view") or request.cookies.get("pc_docview", "table")
    return {"q": q.get("q", "").strip(), "media_type": q.get("media_type", ""), "tag": q.get("tag", "").strip(),
            "since": _day(q.get("since"), "From"), "until": _day(q.get("until"), "To"),
            "view": view if view in ("table", "cards") else "table"}


def _where(ctx, chosen: dict) -> list:
    """The page's filters as conditions on ``documents``."""
    where = [_d.deleted.is_(None)]
    if ctx.who.tenant:
        where.append(_d.tenant == ctx.who.tenant)
    if chosen["media_type"]:
        where.append(_d.media_type == chosen["media_type"])
    if chosen["tag"]:
        where.append(json_array_has(_d.tags, chosen["tag"]))
    if chosen["since"]:
        where.append(_d.created >= chosen["since"])
    if chosen["until"]:  # up to the end of that day: before the next one starts
        where.append(_d.created < (dt.date.fromisoformat(chosen["until"]) + dt.timedelta(days=1)).isoformat())
    return where


async def _search(request, ctx, chosen: dict) -> list[dict]:
    """The best PAGE_SIZE hits that pass the page's other filters (hits are read in pages until
    enough pass, at most _SEARCH_ROUNDS of them)."""
    where = _where(ctx, chosen)
    search, found = _kernel(request).documents.search, []
    cursor = None
    try:
        for _round in range(_SEARCH_ROUNDS):
            hits, cursor = await search.query(chosen["q"], ctx.who.tenant or ALL_TENANTS, _SEARCH_BATCH, cursor)
            rows = await _rows_of(request, [h.id for h in hits], where)
            for hit in hits:
                if hit.id in rows and len(found) < PAGE_SIZE:
                    doc = _document(rows[hit.id])
                    doc["snippet"] = highlight(hit.snippet)
                    found.append(doc)
            if len(found) >= PAGE_SIZE or cursor is None:
                break
    except SearchSyntaxError as exc:
        raise InputError(ctx.gettext("The search %(q)s is not valid. Use words, \"quoted phrases\", OR, NOT and "
                                     "prefix*.") % {"q": chosen["q"]}) from exc
    return found


async def _rows_of(request, ids: list[str], where: list) -> dict[str, sa.Row]:
    if not ids:
        return {}
    rows = await _kernel(request).sql.read(sa.select(*LISTED).where(_d.id.in_(ids), *where))
    return {row.id: row for row in rows}


def _next_media_type(after, tenant: str | None):
    """The smallest media type above ``after`` (of ``tenant``'s documents when given), as a subquery."""
    statement = sa.select(_d.media_type).where(_d.media_type > after)
    if tenant:
        statement = statement.where(_d.tenant == tenant)
    return statement.order_by(_d.media_type).limit(1).scalar_subquery()


async def distinct_media_types(sql, tenant: str | None) -> tuple[str, ...]:
    """The media types of ``tenant``'s documents (falsy: everyone's), in order, exact at any moment.

    A skip scan: each step seeks the next larger type in the (tenant, media_type) index, or the
    (media_type) one, so it costs one seek per type however many documents there are (a DISTINCT
    read every index entry: 100,000 of them each time a document changed). As before, a type
    whose documents are all deleted still offers its (empty) filter.
    """
    kinds = sa.select(_next_media_type(sa.literal("", sa.Text), tenant).label("kind")).cte("kinds", recursive=True)
    kinds = kinds.union_all(sa.select(_next_media_type(kinds.c.kind, tenant)).where(kinds.c.kind.is_not(None)))
    rows = await sql.read(sa.select(kinds.c.kind).where(kinds.c.kind.is_not(None)))
    return tuple(row.kind for row in rows)


@page
async def documents(request, ctx):
    chosen = _filters(request)
    cursor, next_cursor = request.query.get("cursor") or None, None
    sql = _kernel(request).sql
    if chosen["q"]:
        items = await _search(request, ctx, chosen)
    else:
        rows, next_cursor = await newest_rows(sql, sa.select(*LISTED).where(*_where(ctx, chosen)), created=_d.created,
                                              key=_d.id, limit=PAGE_SIZE, cursor=cursor)
        items = [_document(r) for r in rows]
    media_types = list(await request.app[WEB].documents.get(("media types", ctx.who.tenant),
                                                            lambda: distinct_media_types(sql, ctx.who.tenant)))
    workflows = await workflow_names(request, ctx, enabled=True)
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in chosen.items() if v and k != "view"})
    template = "documents_list.html" if request.headers.get("HX-Request") else "documents.html"
    response = render(request, ctx, template, documents=items, chosen=chosen, media_types=media_types,
                      workflows=workflows, cursor=cursor, next_cursor=next_cursor, query=query)
    if "view" in request.query:
        response.set_cookie("pc_docview", chosen["view"], max_age=365 * 86400, path="/", samesite="Strict",
                            secure=request.secure)
    return response


async def load_document(request, ctx, document_id: str) -> dict:
    row = await _kernel(request).documents.row(document_id)
    if row is None or row.deleted is not None or (ctx.who.tenant and row.tenant != ctx.who.tenant):
        raise NotFoundError(ctx.gettext("There is no document %(id)s (or it is not yours to see).")
                            % {"id": document_id})
    return _document(row)


@page
async def thumbnail(request, ctx):
    doc = await load_document(request, ctx, request.match_info["id"])
    data = await thumbnails.thumbnail(_kernel(request), doc["id"], doc["media_type"], ctx.who.tenant)
    if data is None:
        raise PageError(404, ctx.gettext("This kind of document has no picture."))
    return web.Response(body=data, content_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


@page
async def download(request, ctx):
    doc = await load_document(request, ctx, request.match_info["id"])
    sha256 = await _kernel(request).sql.scalar(_SHA256, {"document_id": doc["id"]})
    return await blob_response(request, doc["id"], media_type=doc["media_type"], filename=doc["name"], sha256=sha256)


@page
async def page_image(request, ctx):
    doc = await load_document(request, ctx, request.match_info["id"])
    number = request.match_info["page"]
    if not number.isdigit() or not 1 <= int(number) <= thumbnails.MAX_PAGES:
        raise PageError(404, ctx.gettext("There is no such page."))
    data = await thumbnails.page_image(_kernel(request), doc["id"], doc["media_type"], int(number) - 1)
    if data is None:
        raise PageError(404, ctx.gettext("There is no such page."))
    return web.Response(body=data, content_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


def readable_findings(findings: dict[str, dict]) -> list[dict]:
    """Each analyzer's findings in a shape the template shows readably (see _findings.html)."""
    shown = []
    for analyzer, (data, summary) in sorted(findings.items()):
        item = {"analyzer": analyzer, "summary": summary or "", "data": data,
                "raw": json.dumps(data, indent=2, ensure_ascii=False)}
        if analyzer.endswith(".entities"):
            item["groups"] = {kind: [e.get("text", e) if isinstance(e, dict) else e for e in items]
                              for kind, items in data.items() if isinstance(items, list) and items}
        if analyzer.endswith(".colors"):
            item["swatches"] = [c for p in data.get("pages", [])[:1] for c in p.get("colors", [])
                                if _HEX.match(str(c.get("hex", "")))]
        if analyzer.endswith(".summary"):
            item["sentences"] = [s.get("text", "") if isinstance(s, dict) else str(s)
                                 for s in data.get("sentences", [])]
        shown.append(item)
    return shown


@page
async def document_page(request, ctx):
    return await _document_page(request, ctx)


async def _document_page(request, ctx, error: str = "", status: int = 200):
    doc = await load_document(request, ctx, request.match_info["id"])
    k = _kernel(request)
    one = {"document_id": doc["id"]}
    text = await k.sql.scalar(_TEXT, one) or ""
    found = {r.analyzer: (json.loads(r.data or "{}"), r.summary) for r in await k.sql.read(_FINDINGS, one)}
    runs_of = [dict(r._mapping) for r in await k.sql.read(_RUNS, one)]
    files = [dict(r._mapping) for r in await k.sql.read(_FILES, one)]
    for item in files:  # the ledger plugin's notarize step leaves the document's receipt as <name>.receipt.json
        item["receipt"] = item["name"].endswith(".receipt.json")
    await k.journal.flush()
    history = [dict(r._mapping) for r in await k.sql.read(_HISTORY, {"target": f"document:{doc['id']}"})]
    pages = await thumbnails.pages(k, doc["id"], doc["media_type"])
    template = "document_body.html" if request.headers.get("HX-Request") else "document.html"
    return render(request, ctx, template, status=status, doc=doc, text=text, files=files, findings=readable_findings(found), runs=runs_of,
                  history=history, pages=min(pages, 5),
                  metadata_text="\n".join(f"{key} = {json.dumps(value, ensure_ascii=False)}"
                                          for key, value in sorted(doc["metadata"].items())),
                  error=error)


def _parse_metadata(ctx, text: str) -> dict:
    """``key = value`` lines (a value is JSON, or else taken as text); an empty value removes the key."""
    metadata = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InputError(ctx.gettext("Metadata line %(n)s should look like key = value.") % {"n": number})
        value = value.strip()
        try:
            metadata[key.strip()] = json.loads(value) if value else None
        except ValueError:
            metadata[key.strip()] = value
    return metadata


async def _save(request, ctx, doc: dict, *, tags: list[str] | None = None, metadata: dict | None = None,
                replace_metadata: bool = False) -> None:
    changed = []
    new_tags, new_meta = doc["tags"], dict(doc["metadata"])
    if tags is not None:
        new_tags = sorted({t.strip() for t in tags if t.strip()})
        if new_tags != doc["tags"]:
            changed.append("tags")
    if metadata is not None:
        merged = {**({} if replace_metadata else new_meta), **metadata}
        merged = {k: v for k, v in merged.items() if v is not None}
        changed.extend(f"metadata.{k}" for k in sorted(set(merged) | set(new_meta)) if merged.get(k) != new_meta.get(k))
        new_meta = merged
    k = _kernel(request)
    await write(request, doc["id"], _SET_LABELS, {"document_id": doc["id"], "new_metadata": json.dumps(new_meta),
                                                  "new_tags": json.dumps(new_tags)})
    if changed:
        await k.emit("document.updated", doc["id"], {"fields": changed, "tags": new_tags, "by": ctx.who.name})


@page(role="editor")
async def edit_document(request, ctx):
    doc = await load_document(request, ctx, request.match_info["id"])
    form = await request.post()
    request[AUDIT_TARGET] = f"document:{doc['id']}"
    tags = [t for t in str(form.get("tags", "")).split(",")]
    try:
        metadata = _parse_metadata(ctx, str(form.get("metadata", "")))
    except InputError as exc:
        return await _document_page(request, ctx, error=str(exc), status=400)
    await _save(request, ctx, doc, tags=tags, metadata=metadata, replace_metadata=True)
    raise web.HTTPSeeOther(f"/documents/{doc['id']}")


@page(role="editor")
async def bulk(request, ctx):
    """Selected documents: run a workflow on them, add a tag, or delete them."""
    form = await request.post()
    ids = [str(i) for i in form.getall("id", [])][:500]
    if not ids:
        raise PageError(400, ctx.gettext("Select at least one document first."))
    docs = [await load_document(request, ctx, i) for i in ids]
    action = form.get("action")
    k = _kernel(request)
    request[AUDIT_DETAILS] = {"action": action, "documents": len(docs)}
    if action == "tag":
        tag = str(form.get("tag", "")).strip()
        if not tag:
            raise PageError(400, ctx.gettext("Write the tag to add."))
        for doc in docs:
            await _save(request, ctx, doc, tags=[*doc["tags"], tag])
        raise web.HTTPSeeOther("/documents")
    if action == "delete":
        for doc in docs:
            await delete(request, doc["id"], ctx.who.name)
            await k.emit("document.deleted", doc["id"], {"by": ctx.who.name})
        raise web.HTTPSeeOther("/documents")
    if action == "run":
        workflow = str(form.get("workflow", ""))
        if not workflow:
            raise PageError(400, ctx.gettext("Choose the workflow to run."))
        batch_id = await k.submit(workflow, documents=tuple(d["id"] for d in docs), inputs={}, source="web",
                                  created_by=ctx.who.name, tenant=ctx.who.tenant)
        request[AUDIT_TARGET] = f"batch:{batch_id}"
        raise web.HTTPSeeOther(f"/batches/{batch_id}")
    raise PageError(400, ctx.gettext("Choose what to do with the selected documents."))


PAGES = [
    ("GET", "/documents", documents),
    ("POST", "/documents/bulk", bulk),
    ("GET", "/documents/{id}", document_page),
    ("POST", "/documents/{id}", edit_document),
    ("GET", "/documents/{id}/thumbnail", thumbnail),
    ("GET", "/documents/{id}/content", download),
    ("GET", "/documents/{id}/pages/{page}", page_image),
]
