"""Workflows: the list (enabled, triggers, last run, success rate; enable and disable), a
workflow's page (its steps as a graph, settings, triggers, versions with a diff, runs, and a form
to run it), and the TOML editor (validated as you type; saving makes a new version) with a
gallery of the example workflows to start from.

Everything goes through the kernel's ``Workflows`` with the caller's tenant, as the API does:
the same validation, the same sharing rules (a shared workflow is read and run, never changed),
the same ``kernel.submit`` to start runs. Writes are audited by the guard.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from paperchain_sdk import ConfigError, ConflictError, NotFoundError
from paperchain_sdk.contracts import STEP_METHOD

from ...api.guard import AUDIT_DETAILS, AUDIT_TARGET, STATE
from ...api.openapi import settings_schema
from ...engine.workflow import build_workflow
from .. import graph
from ..guard import WEB, PageError, page
from ..render import render
from ..workflow_toml import Problem, check, dumps, name_position
from .documents import load_document

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "workflows"
BLANK = '''name = "my-workflow"
description = "What it does, in a sentence"

[on.manual]

[[steps]]
id = "text"
uses = "document.text"
with = { allow_empty = true }
'''
_FINISHED = ("succeeded", "failed", "cancelled")
_PICKER_SIZE = 20


def _kernel(request):
    return request.app[STATE].kernel


def _tenant(ctx) -> str | None:
    return ctx.who.tenant or None


def url(saved) -> str:
    """A workflow's page: its name, or the operator's ``tenant:name`` ref."""
    return "/workflows/" + quote(saved.ref if not saved.shared else saved.name, safe=":")


async def _saved(request, ctx):
    try:
        return await _kernel(request).workflows.get(request.match_info["name"], tenant=_tenant(ctx))
    except NotFoundError:
        raise NotFoundError(ctx.gettext("There is no workflow %(name)s (or it is not yours to see).")
                            % {"name": request.match_info["name"]}) from None


def _writable(ctx, saved) -> bool:
    return ctx.can("editor") and not saved.shared


# -- figures ----------------------------------------------------------------------------------

async def _figures(request, ctx) -> dict[tuple[str, str], dict]:
    """Runs of each (tenant, workflow) by state, from the counts the database keeps per run
    (``run_counts``): a few rows however many runs there are."""
    where, values = ["n > 0"], []
    if ctx.who.tenant:
        where.append("tenant = ?")
        values.append(ctx.who.tenant)
    sql = f"SELECT tenant, workflow, status, n FROM run_counts WHERE {' AND '.join(where)}"

    async def compute():
        async with _kernel(request).db.execute(sql, values) as cursor:
            return tuple(await cursor.fetchall())

    figures: dict[tuple[str, str], dict] = {}
    for tenant, workflow, status, n in await request.app[WEB].runs.get((sql, tuple(values)), compute):
        entry = figures.setdefault((tenant, workflow), {"runs": 0, "succeeded": 0, "finished": 0})
        entry["runs"] += n
        entry["succeeded"] += n if status == "succeeded" else 0
        entry["finished"] += n if status in _FINISHED else 0
    for entry in figures.values():
        entry["rate"] = entry["succeeded"] / entry["finished"] if entry["finished"] else None
    return figures


def _figures_of(figures: dict, ctx, saved) -> dict:
    # A tenant's runs (of its own or a shared workflow) are recorded with its tenant.
    tenant = ctx.who.tenant or saved.tenant
    return figures.get((tenant, saved.name), {"runs": 0, "succeeded": 0, "finished": 0, "rate": None})


async def _recent_runs(request, ctx, saved, limit: int) -> list[dict]:
    tenant = ctx.who.tenant or saved.tenant
    async with _kernel(request).db.execute(
            "SELECT r.id, r.status, r.created, r.finished, r.error FROM runs r JOIN batches b ON b.id = r.batch_id "
            "WHERE r.workflow = ? AND coalesce(b.tenant, '') = ? AND r.kind != 'batch' "
            "ORDER BY r.created DESC LIMIT ?", (saved.name, tenant, limit)) as cursor:
        return [dict(zip(("id", "status", "created", "finished", "error"), row)) for row in await cursor.fetchall()]


# -- the list ---------------------------------------------------------------------------------

@page
async def workflows(request, ctx):
    saved = await _kernel(request).workflows.list(tenant=_tenant(ctx))
    figures = await _figures(request, ctx)
    rows = []
    for item in saved:
        last = await _recent_runs(request, ctx, item, 1)
        rows.append({"saved": item, "url": url(item), "figures": _figures_of(figures, ctx, item),
                     "last": last[0] if last else None, "writable": _writable(ctx, item)})
    template = "workflows_table.html" if request.headers.get("HX-Request") else "workflows.html"
    return render(request, ctx, template, rows=rows)


async def _set_enabled(request, ctx, enabled: bool):
    saved = await _saved(request, ctx)
    request[AUDIT_TARGET] = f"workflow:{saved.ref}"
    await _kernel(request).workflows.set_enabled(request.match_info["name"], enabled, tenant=_tenant(ctx))
    back = (await request.post()).get("next", "")
    raise web.HTTPSeeOther(back if isinstance(back, str) and back.startswith("/workflows") else "/workflows")


@page
async def enable(request, ctx):
    await _set_enabled(request, ctx, True)


@page
async def disable(request, ctx):
    await _set_enabled(request, ctx, False)


# -- a workflow's page ------------------------------------------------------------------------

def _parsed(saved):
    """The saved definition as an engine Workflow (read for display: no registry, nothing refused
    because a plugin has gone since it was saved)."""
    return build_workflow(saved.definition, origin=f"workflow {saved.ref!r}")


def _next_cron(cron: str, zone: str) -> dt.datetime | None:
    """The next firing of a schedule, as the schedule trigger computes it (croniter comes with it)."""
    try:
        from zoneinfo import ZoneInfo

        from croniter import croniter

        now = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(zone or "UTC"))
        return croniter(cron, now).get_next(dt.datetime).astimezone(dt.UTC)
    except Exception:  # noqa: BLE001 - no triggers plugin, or a schedule its validation would refuse
        return None


def _triggers(request, saved, workflow) -> list[dict]:
    found = []
    for name, settings in workflow.on.items():
        settings = settings if isinstance(settings, dict) else {}
        trigger = {"name": name, "settings": {k: _show(v) for k, v in settings.items() if k != "secret"},
                   "next": None, "every": None, "folder": None, "url": None}
        if name == "schedule" and settings.get("cron"):
            trigger["next"] = _next_cron(str(settings["cron"]), str(settings.get("timezone", "UTC")))
        elif name == "schedule" and settings.get("interval"):
            trigger["every"] = str(settings["interval"])
        elif name == "folder":
            trigger["folder"] = str(settings.get("path", ""))
        elif name == "webhook":
            trigger["url"] = f"{request.scheme}://{request.host}/hooks/{quote(saved.ref, safe=':')}"
        found.append(trigger)
    return found


def _show(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _steps(request, steps) -> list[dict]:
    registry = _kernel(request).registry
    shown = []
    for step in steps:
        summary = registry.get(step.uses).spec.summary if step.uses in registry else ""
        shown.append({"id": step.id, "uses": step.uses, "summary": summary, "needs": step.needs, "if": step.if_,
                      "settings": {k: _show(v) for k, v in step.with_.items()}})
    return shown


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


@page
async def workflow_page(request, ctx):
    saved = await _saved(request, ctx)
    workflow = _parsed(saved)
    versions = await _kernel(request).workflows.versions(request.match_info["name"], tenant=_tenant(ctx))
    figures = _figures_of(await _figures(request, ctx), ctx, saved)
    label = ctx.gettext("Steps of %(name)s") % {"name": saved.name}
    batch_label = ctx.gettext("Batch steps of %(name)s") % {"name": saved.name}
    return render(request, ctx, "workflow.html", saved=saved, url=url(saved), writable=_writable(ctx, saved),
                  description=workflow.description, graph=graph.svg(workflow.steps, label=label),
                  batch_graph=graph.svg(workflow.batch_steps, label=batch_label, graph_id="batch-steps")
                  if workflow.batch_steps else None,
                  steps=_steps(request, workflow.steps), batch_steps=_steps(request, workflow.batch_steps),
                  triggers=_triggers(request, saved, workflow), versions=versions, figures=figures,
                  runs=await _recent_runs(request, ctx, saved, 10), fields=input_fields(workflow.inputs),
                  runs_link="/runs?workflow=" + quote(saved.name))


async def _definition_of(request, ctx, versions: list[dict], version: str) -> dict:
    """A version's definition, only if it is one of this workflow's versions (never any hash)."""
    if version not in {v["hash"] for v in versions}:
        raise PageError(404, ctx.gettext("This workflow has no version %(v)s.") % {"v": version[:12]})
    async with _kernel(request).db.execute("SELECT definition FROM workflow_versions WHERE hash = ?",
                                           (version,)) as cursor:
        row = await cursor.fetchone()
    return json.loads(row[0])


def diff_rows(old: str, new: str) -> list[dict]:
    """The changed lines of two texts with 3 lines of context, as table rows (``None`` separates hunks)."""
    a, b = old.splitlines(), new.splitlines()
    rows: list[dict] = []
    for group in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_grouped_opcodes(3):
        if rows:
            rows.append({"kind": "gap"})
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [{"kind": "same", "old": i + 1, "new": j + 1, "text": a[i]} for i, j in zip(range(i1, i2), range(j1, j2))]
                continue
            rows += [{"kind": "removed", "old": i + 1, "new": None, "text": a[i]} for i in range(i1, i2)]
            rows += [{"kind": "added", "old": None, "new": j + 1, "text": b[j]} for j in range(j1, j2)]
    return rows


@page
async def diff(request, ctx):
    saved = await _saved(request, ctx)
    versions = await _kernel(request).workflows.versions(request.match_info["name"], tenant=_tenant(ctx))
    old_hash, new_hash = request.query.get("a", ""), request.query.get("b", "")
    old = await _definition_of(request, ctx, versions, old_hash)
    new = await _definition_of(request, ctx, versions, new_hash)
    by_hash = {v["hash"]: v for v in versions}
    return render(request, ctx, "workflow_diff.html", saved=saved, url=url(saved), old=by_hash[old_hash],
                  new=by_hash[new_hash], rows=diff_rows(dumps(old), dumps(new)), versions=versions)


# -- running it -------------------------------------------------------------------------------

async def _pickable(request, ctx, search: str) -> list[dict]:
    """The tenant's documents for the run form's picker: newest first, or whose name contains ``search``."""
    where, values = ["deleted IS NULL"], []
    if ctx.who.tenant:
        where.append("tenant = ?")
        values.append(ctx.who.tenant)
    if search:
        where.append("name LIKE ? ESCAPE '\\'")
        values.append("%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    async with _kernel(request).db.execute(
            f"SELECT id, name, media_type, created FROM documents WHERE {' AND '.join(where)} "
            "ORDER BY created DESC, id DESC LIMIT ?", (*values, _PICKER_SIZE)) as cursor:
        return [dict(zip(("id", "name", "media_type", "created"), row)) for row in await cursor.fetchall()]


@page(role="editor")
async def documents_picker(request, ctx):
    await _saved(request, ctx)
    search = request.query.get("q", "").strip()[:200]
    return render(request, ctx, "workflow_documents.html", documents=await _pickable(request, ctx, search),
                  search=search)


@page
async def run(request, ctx):
    saved = await _saved(request, ctx)
    form = await request.post()
    inputs = read_inputs(ctx, input_fields(_parsed(saved).inputs), form)
    documents = list(dict.fromkeys(str(d) for d in form.getall("document", [])))[:500]
    for document_id in documents:  # 404 for an unknown or another tenant's document, before anything starts
        await load_document(request, ctx, document_id)
    k = _kernel(request)
    batch_id = await k.submit(saved.name if ctx.who.tenant else saved.ref, documents=tuple(documents), inputs=inputs,
                              source="web", created_by=ctx.who.name, tenant=_tenant(ctx))
    request[AUDIT_TARGET] = f"batch:{batch_id}"
    request[AUDIT_DETAILS] = {"workflow": saved.ref, "documents": len(documents)}
    async with k.db.execute("SELECT id FROM runs WHERE batch_id = ? AND kind != 'batch' ORDER BY seq", (batch_id,)) as c:
        runs = [row[0] for row in await c.fetchall()]
    raise web.HTTPSeeOther(f"/runs/{runs[0]}" if len(runs) == 1 else f"/batches/{batch_id}")


# -- the editor -------------------------------------------------------------------------------

def components(request) -> list[dict]:
    """What may be inserted: step components and triggers, each with its settings and a snippet."""
    listed = []
    for entry in sorted(_kernel(request).registry.entries(), key=lambda e: (e.kind, e.spec.name)):
        if entry.kind not in STEP_METHOD and entry.kind != "trigger":
            continue
        schema = settings_schema(_settings_class(entry.spec.settings))
        required = set(schema.get("required", []))
        settings = [{"name": name, "type": _type_of(prop), "default": _show(prop["default"]) if "default" in prop else "",
                     "required": name in required} for name, prop in schema.get("properties", {}).items()]
        listed.append({"name": entry.spec.name, "kind": entry.kind, "summary": entry.spec.summary,
                       "settings": settings, "snippet": _snippet(entry, settings)})
    return listed


def _settings_class(settings):
    if isinstance(settings, str):
        from paperchain_sdk.specs import resolve

        return resolve(settings)
    return settings


def _type_of(prop: dict) -> str:
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = "/".join(str(k) for k in kind)
    return str(kind or ("object" if "$ref" in prop else "any"))


_PLACEHOLDERS = {"string": '""', "integer": "0", "number": "0.0", "boolean": "false", "array": "[]", "object": "{}"}


def _snippet(entry, settings: list[dict]) -> str:
    needed = ", ".join(f"{s['name']} = {_PLACEHOLDERS.get(s['type'], chr(34) * 2)}" for s in settings if s["required"])
    if entry.kind == "trigger":
        return f"\n[on.{entry.spec.name}]\n" + "".join(
            f"{s['name']} = {_PLACEHOLDERS.get(s['type'], chr(34) * 2)}\n" for s in settings if s["required"])
    array = "batch-steps" if getattr(entry.spec, "scope", "document") == "batch" else "steps"
    step_id = entry.spec.name.rsplit(".", 1)[-1].replace("_", "-")
    return (f'\n[[{array}]]\nid = "{step_id}"\nuses = "{entry.spec.name}"\n'
            + (f"with = {{ {needed} }}\n" if needed else ""))


def _editor_validation(request):
    """The kernel's validation (the CLI's and API's), its messages naming the editor as the source."""
    return lambda definition: _kernel(request).workflows.validate(definition, origin="the editor")


def _editor(request, ctx, *, text: str, saved=None, problems=(), status: int = 200):
    return render(request, ctx, "workflow_edit.html", status=status, saved=saved, url=url(saved) if saved else "",
                  text=text, problems=list(problems), components=components(request),
                  action=(url(saved) + "/edit") if saved else "/workflows/new")


@page(role="editor")
async def edit_page(request, ctx):
    saved = await _saved(request, ctx)
    if saved.shared:
        raise PageError(403, ctx.gettext("This workflow is shared with your tenant to read and run, not to change."))
    return _editor(request, ctx, text=dumps(saved.definition), saved=saved)


def _templates() -> dict[str, dict]:
    """The example workflows, by file stem: their text and what the first comment says."""
    found = {}
    for path in sorted(EXAMPLES.glob("*.toml")) if EXAMPLES.is_dir() else ():
        text = path.read_text(encoding="utf-8")
        about = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")), "")
        found[path.stem] = {"name": path.stem, "about": about, "text": text}
    return found


@page(role="editor")
async def new_page(request, ctx):
    templates = _templates()
    chosen = request.query.get("template", "")
    if chosen and chosen not in templates:
        raise PageError(404, ctx.gettext("There is no example workflow %(name)s.") % {"name": chosen})
    if not chosen and "blank" not in request.query:
        return render(request, ctx, "workflow_gallery.html", templates=list(templates.values()))
    return _editor(request, ctx, text=templates[chosen]["text"] if chosen else BLANK)


async def _text(request, ctx) -> str:
    text = (await request.post()).get("toml", "")
    if not isinstance(text, str) or len(text) > 256 * 1024:
        raise PageError(400, ctx.gettext("Send the workflow as text of at most 256 KiB."))
    return text


async def _save(request, ctx, saved=None):
    """Validate and save the posted text (a new version, or a new workflow); an error re-renders
    the editor with each problem at its line."""
    text = await _text(request, ctx)
    workflows = _kernel(request).workflows
    definition, _, problems = check(text, _editor_validation(request))
    if not problems:
        try:
            stored = await workflows.save(definition, origin="web", created_by=ctx.who.name,
                                          name=saved.name if saved else None, create_only=saved is None,
                                          tenant=(ctx.who.tenant or saved.tenant) if saved else _tenant(ctx))
        except (ConfigError, ConflictError) as exc:  # a name other than the URL's, or one already taken
            line, column = name_position(text)
            problems = [Problem(message=exc.message, hint=exc.hint or "", line=line, column=column)]
        else:
            request[AUDIT_TARGET] = f"workflow:{stored.ref}"
            request[AUDIT_DETAILS] = {"hash": stored.hash}
            raise web.HTTPSeeOther(url(stored))
    return _editor(request, ctx, text=text, saved=saved, problems=problems, status=400)


@page(role="editor")
async def save(request, ctx):
    saved = await _saved(request, ctx)
    if saved.shared:
        raise PageError(403, ctx.gettext("This workflow is shared with your tenant to read and run, not to change."))
    return await _save(request, ctx, saved)


@page(role="editor")
async def create(request, ctx):
    return await _save(request, ctx)


@page(role="editor", audit=False)
async def validate(request, ctx):
    """The editor's check as you type: the same validation as saving, nothing saved."""
    _, workflow, problems = check(await _text(request, ctx), _editor_validation(request))
    return render(request, ctx, "workflow_problems.html", problems=problems, workflow=workflow)


PAGES = [
    ("GET", "/workflows", workflows),
    ("GET", "/workflows/new", new_page),
    ("POST", "/workflows/new", create),
    ("POST", "/workflows/validate", validate),
    ("GET", "/workflows/{name}", workflow_page),
    ("GET", "/workflows/{name}/diff", diff),
    ("GET", "/workflows/{name}/edit", edit_page),
    ("POST", "/workflows/{name}/edit", save),
    ("POST", "/workflows/{name}/enable", enable),
    ("POST", "/workflows/{name}/disable", disable),
    ("GET", "/workflows/{name}/documents", documents_picker),
    ("POST", "/workflows/{name}/run", run),
]
