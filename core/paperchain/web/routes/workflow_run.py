"""Running a workflow from its page: a form made from its ``[inputs]`` (types, defaults,
required), a picker of the tenant's documents, and one click through ``kernel.submit`` (the API's
path) to the live run page, or the batch's page when several documents were picked."""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web

from ...api.guard import AUDIT_DETAILS, AUDIT_TARGET
from ...store.tables import documents, runs
from ..guard import PageError, page
from ..render import render
from .documents import load_document
from .workflow_base import find, kernel, parsed, tenant_of

_PICKER_SIZE = 20


def input_fields(inputs: dict, given: dict | None = None) -> list[dict]:
    """The run form's fields from the workflow's ``[inputs]``: a plain value is a default (its type
    the value's); a table may say ``type``, ``default``, ``required``, ``description``, ``options``."""
    fields = []
    for name, spec in inputs.items():
        table = spec if isinstance(spec, dict) else {"default": spec}
        default = table.get("default")
        kind = str(table.get("type") or "").lower() or (
            "boolean" if isinstance(default, bool) else "integer" if isinstance(default, int) else
            "number" if isinstance(default, float) else "string")
        kind = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(kind, kind)
        options = table.get("options") if isinstance(table.get("options"), list) else None
        value = (given or {}).get(name, default)
        fields.append({"name": name, "kind": kind if kind in ("string", "integer", "number", "boolean") else "string",
                       "default": default, "value": "" if value is None else value,
                       "required": bool(table.get("required", False)), "options": options,
                       "description": str(table.get("description", ""))})
    return fields


def read_inputs(ctx, fields: list[dict], form) -> dict:
    """The form's values, typed by their fields; an error names the field and what it wants."""
    values = {}
    for field in fields:
        name, raw = field["name"], form.get(f"input-{field['name']}")
        if field["kind"] == "boolean":
            values[name] = raw is not None
            continue
        raw = (raw or "").strip() if isinstance(raw, str) else ""
        if not raw:
            if field["required"]:
                raise PageError(400, ctx.gettext("The input %(name)s is required; fill it in and start again.")
                                % {"name": name})
            continue
        try:
            values[name] = int(raw) if field["kind"] == "integer" else float(raw) if field["kind"] == "number" else raw
        except ValueError:
            wanted = ctx.gettext("a whole number") if field["kind"] == "integer" else ctx.gettext("a number")
            raise PageError(400, ctx.gettext("The input %(name)s must be %(wanted)s, not %(value)s.")
                            % {"name": name, "wanted": wanted, "value": raw}) from None
        if field["options"] and values[name] not in [str(o) if field["kind"] == "string" else o for o in field["options"]]:
            raise PageError(400, ctx.gettext("The input %(name)s must be one of: %(options)s.")
                            % {"name": name, "options": ", ".join(map(str, field["options"]))})
    return values


async def _pickable(request, ctx, search: str) -> list[dict]:
    """The tenant's documents for the run form's picker: newest first, or whose name contains ``search``."""
    d = documents.c
    query = (sa.select(d.id, d.name, d.media_type, d.created).where(d.deleted.is_(None))
             .order_by(d.created.desc(), d.id.desc()).limit(_PICKER_SIZE))
    if ctx.who.tenant:
        query = query.where(d.tenant == ctx.who.tenant)
    if search:  # case-insensitive as SQLite's LIKE was; the search's own % and _ match themselves
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(d.name.ilike(f"%{escaped}%", escape="\\"))
    return [dict(row._mapping) for row in await kernel(request).sql.read(query)]


@page(role="editor")
async def documents_picker(request, ctx):
    await find(request, ctx)
    search = request.query.get("q", "").strip()[:200]
    return render(request, ctx, "workflow_documents.html", documents=await _pickable(request, ctx, search),
                  search=search)


@page
async def run(request, ctx):
    saved = await find(request, ctx)
    form = await request.post()
    inputs = read_inputs(ctx, input_fields(parsed(saved).inputs), form)
    documents = list(dict.fromkeys(str(d) for d in form.getall("document", [])))[:500]
    for document_id in documents:  # 404 for an unknown or another tenant's document, before anything starts
        await load_document(request, ctx, document_id)
    k = kernel(request)
    batch_id = await k.submit(saved.name if ctx.who.tenant else saved.ref, documents=tuple(documents), inputs=inputs,
                              source="web", created_by=ctx.who.name, tenant=tenant_of(ctx))
    request[AUDIT_TARGET] = f"batch:{batch_id}"
    request[AUDIT_DETAILS] = {"workflow": saved.ref, "documents": len(documents)}
    started = await k.sql.read(sa.select(runs.c.id).where(runs.c.batch_id == batch_id, runs.c.kind != "batch")
                               .order_by(runs.c.seq, runs.c.id))
    raise web.HTTPSeeOther(f"/runs/{started[0].id}" if len(started) == 1 else f"/batches/{batch_id}")


PAGES = [
    ("GET", "/workflows/{name}/documents", documents_picker),
    ("POST", "/workflows/{name}/run", run),
]
