"""Running a workflow from its page: a form made from its ``[inputs]`` (types, defaults,
required), a picker of the tenant's documents, and one click through ``kernel.submit`` (the API's
path) to the live run page, or the batch's page when several documents were picked."""

from __future__ import annotations

from aiohttp import web

from ...api.guard import AUDIT_DETAILS, AUDIT_TARGET
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
    where, values = ["deleted IS NULL"], []
    if ctx.who.tenant:
        where.append("tenant = ?")
        values.append(ctx.who.tenant)
    if search:
        where.append("name LIKE ? ESCAPE '\\'")
        values.append("%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    async with kernel(request).db.execute(
            f"SELECT id, name, media_type, created FROM documents WHERE {' AND '.join(where)} "
            "ORDER BY created DESC, id DESC LIMIT ?", (*values, _PICKER_SIZE)) as cursor:
        return [dict(zip(("id", "name", "media_type", "created"), row)) for row in await cursor.fetchall()]


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
    async with k.db.execute("SELECT id FROM runs WHERE batch_id = ? AND kind != 'batch' ORDER BY seq", (batch_id,)) as c:
        runs = [row[0] for row in await c.fetchall()]
    raise web.HTTPSeeOther(f"/runs/{runs[0]}" if len(runs) == 1 else f"/batches/{batch_id}")


PAGES = [
    ("GET", "/workflows/{name}/documents", documents_picker),
    ("POST", "/workflows/{name}/run", run),
]
