"""Workflows: the list (enabled, triggers, last run, success rate; enable and disable) and a
workflow's page (its steps as a graph, each step's settings, the triggers with the next firing,
the versions with a diff between any two, its runs, and the form to run it).

Everything goes through the kernel's ``Workflows`` with the caller's tenant, as the API does
(the same sharing rules: a shared workflow is read and run, never changed); writes are audited
by the guard. The editor is in ``workflow_editor``, running one in ``workflow_run``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from urllib.parse import quote

import sqlalchemy as sa
from aiohttp import web

from ...api.guard import AUDIT_DETAILS, AUDIT_TARGET
from ...store.tables import batches, run_counts, runs, workflow_versions
from .. import graph
from ..guard import WEB, PageError, page
from ..render import render
from ..workflow_toml import dumps
from . import workflow_editor, workflow_run
from .workflow_base import find, kernel, parsed, show, tenant_of, url, writable
from .workflow_run import input_fields

_FINISHED = ("succeeded", "failed", "cancelled")

# -- figures ----------------------------------------------------------------------------------

async def _figures(request, ctx) -> dict[tuple[str, str], dict]:
    """Runs of each (tenant, workflow) by state, from the counts the database keeps per run
    (``run_counts``): a few rows however many runs there are."""
    c = run_counts.c
    query = sa.select(c.tenant, c.workflow, c.status, c.n).where(c.n > 0)
    if ctx.who.tenant:
        query = query.where(c.tenant == ctx.who.tenant)

    async def compute():
        return tuple(tuple(row) for row in await kernel(request).sql.read(query))

    figures: dict[tuple[str, str], dict] = {}
    for tenant, workflow, status, n in await request.app[WEB].runs.get(("run_counts", ctx.who.tenant), compute):
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
    rows = await kernel(request).sql.read(
        sa.select(runs.c.id, runs.c.status, runs.c.created, runs.c.finished, runs.c.error)
        .join(batches, batches.c.id == runs.c.batch_id)
        .where(runs.c.workflow == saved.name, sa.func.coalesce(batches.c.tenant, "") == tenant, runs.c.kind != "batch")
        .order_by(runs.c.created.desc(), runs.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


# -- the list ---------------------------------------------------------------------------------

@page
async def workflows(request, ctx):
    saved = await kernel(request).workflows.list(tenant=tenant_of(ctx))
    figures = await _figures(request, ctx)
    rows = []
    for item in saved:
        last = await _recent_runs(request, ctx, item, 1)
        rows.append({"saved": item, "url": url(item), "figures": _figures_of(figures, ctx, item),
                     "last": last[0] if last else None, "writable": writable(ctx, item)})
    template = "workflows_table.html" if request.headers.get("HX-Request") else "workflows.html"
    return render(request, ctx, template, rows=rows)


async def _set_enabled(request, ctx, enabled: bool):
    saved = await find(request, ctx)
    request[AUDIT_TARGET] = f"workflow:{saved.ref}"
    await kernel(request).workflows.set_enabled(request.match_info["name"], enabled, tenant=tenant_of(ctx))
    back = (await request.post()).get("next", "")
    raise web.HTTPSeeOther(back if isinstance(back, str) and back.startswith("/workflows") else "/workflows")


@page
async def enable(request, ctx):
    await _set_enabled(request, ctx, True)


@page
async def disable(request, ctx):
    await _set_enabled(request, ctx, False)


@page
async def delete(request, ctx):
    """Forget the workflow's name, as the API's DELETE does; its versions stay for past runs."""
    saved = await find(request, ctx)
    if (await request.post()).get("confirm") != "yes":
        raise PageError(400, ctx.gettext("Tick the box to confirm the deletion, then press Delete again."))
    request[AUDIT_TARGET] = f"workflow:{saved.ref}"
    await kernel(request).workflows.delete(request.match_info["name"], tenant=tenant_of(ctx))
    raise web.HTTPSeeOther("/workflows")


# -- a workflow's page ------------------------------------------------------------------------

def _next_cron(cron: str, zone: str) -> dt.datetime | None:
    """The next firing of a schedule, as the schedule trigger computes it (croniter comes with it)."""
    try:
        from zoneinfo import ZoneInfo

        from croniter import croniter

        now = dt.datetime.now(dt.UTC).astimezone(ZoneInfo(zone or "UTC"))
        return croniter(cron, now).get_next(dt.datetime).astimezone(dt.UTC)
    except Exception:  # noqa: BLE001 - no triggers plugin, or a schedule its validation would refuse
        return None


def trigger_facts(request, saved, workflow) -> list[dict]:
    found = []
    for name, settings in workflow.on.items():
        settings = settings if isinstance(settings, dict) else {}
        trigger = {"name": name, "settings": {k: show(v) for k, v in settings.items() if k != "secret"},
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


def _steps(request, steps, *, batch: bool = False) -> list[dict]:
    registry = kernel(request).registry
    shown = []
    for step in steps:
        summary = registry.get(step.uses).spec.summary if step.uses in registry else ""
        shown.append({"id": step.id, "uses": step.uses, "summary": summary, "needs": step.needs, "if": step.if_,
                      "batch": batch, "settings": {k: show(v) for k, v in step.with_.items()}})
    return shown


@page
async def workflow_page(request, ctx):
    saved = await find(request, ctx)
    workflow = parsed(saved)
    versions = await kernel(request).workflows.versions(request.match_info["name"], tenant=tenant_of(ctx))
    figures = _figures_of(await _figures(request, ctx), ctx, saved)
    label = ctx.gettext("Steps of %(name)s") % {"name": saved.name}
    batch_label = ctx.gettext("Batch steps of %(name)s") % {"name": saved.name}
    return render(request, ctx, "workflow.html", saved=saved, url=url(saved), writable=writable(ctx, saved),
                  description=workflow.description, graph=graph.svg(workflow.steps, label=label),
                  batch_graph=graph.svg(workflow.batch_steps, label=batch_label, graph_id="batch-steps")
                  if workflow.batch_steps else None,
                  steps=_steps(request, workflow.steps), batch_steps=_steps(request, workflow.batch_steps, batch=True),
                  triggers=trigger_facts(request, saved, workflow), versions=versions, figures=figures,
                  runs=await _recent_runs(request, ctx, saved, 10), fields=input_fields(workflow.inputs),
                  runs_link="/runs?workflow=" + quote(saved.name),
                  shares=await kernel(request).workflows.shares(saved.ref) if _operator(ctx) else None)


# -- sharing with tenants (the deployment's admins, as the API's share routes) ----------------

def _operator(ctx) -> bool:
    """Sharing crosses tenants: only the deployment's admins (who belong to no tenant) do it."""
    return ctx.who.role == "admin" and not ctx.who.tenant


async def _share_form(request, ctx) -> tuple:
    if not _operator(ctx):
        raise PageError(403, ctx.gettext("Sharing workflows between tenants is for the deployment's admins (users "
                                         "without a tenant). Ask one of them."), title=ctx.gettext("Not allowed"))
    saved = await find(request, ctx)
    tenant = str((await request.post()).get("tenant", "")).strip()
    if not tenant or len(tenant) > 64:
        raise PageError(400, ctx.gettext("Name the tenant to share with ('*' for every tenant), at most 64 characters."))
    request[AUDIT_TARGET] = f"workflow:{saved.ref}"
    return saved, tenant


@page(role="admin")
async def share(request, ctx):
    saved, tenant = await _share_form(request, ctx)
    request[AUDIT_DETAILS] = {"shared_with": tenant}
    await kernel(request).workflows.share(saved.ref, tenant, by=ctx.who.name)
    raise web.HTTPSeeOther(url(saved) + "#shares")


@page(role="admin")
async def unshare(request, ctx):
    saved, tenant = await _share_form(request, ctx)
    request[AUDIT_DETAILS] = {"unshared_with": tenant}
    await kernel(request).workflows.unshare(saved.ref, tenant)
    raise web.HTTPSeeOther(url(saved) + "#shares")


async def _definition_of(request, ctx, versions: list[dict], version: str) -> dict:
    """A version's definition, only if it is one of this workflow's versions (never any hash)."""
    if version not in {v["hash"] for v in versions}:
        raise PageError(404, ctx.gettext("This workflow has no version %(v)s.") % {"v": version[:12]})
    definition = await kernel(request).sql.scalar(sa.select(workflow_versions.c.definition)
                                                  .where(workflow_versions.c.hash == version))
    return json.loads(definition)


def diff_rows(old: str, new: str) -> list[dict]:
    """The changed lines of two texts with 3 lines of context, as table rows (a ``gap`` row between hunks)."""
    a, b = old.splitlines(), new.splitlines()
    rows: list[dict] = []
    for group in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_grouped_opcodes(3):
        if rows:
            rows.append({"kind": "gap"})
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [{"kind": "same", "old": i + 1, "new": j + 1, "text": a[i]}
                         for i, j in zip(range(i1, i2), range(j1, j2), strict=True)]
                continue
            rows += [{"kind": "removed", "old": i + 1, "new": None, "text": a[i]} for i in range(i1, i2)]
            rows += [{"kind": "added", "old": None, "new": j + 1, "text": b[j]} for j in range(j1, j2)]
    return rows


@page
async def diff(request, ctx):
    saved = await find(request, ctx)
    versions = await kernel(request).workflows.versions(request.match_info["name"], tenant=tenant_of(ctx))
    old_hash, new_hash = request.query.get("a", ""), request.query.get("b", "")
    old = await _definition_of(request, ctx, versions, old_hash)
    new = await _definition_of(request, ctx, versions, new_hash)
    by_hash = {v["hash"]: v for v in versions}
    return render(request, ctx, "workflow_diff.html", saved=saved, url=url(saved), old=by_hash[old_hash],
                  new=by_hash[new_hash], rows=diff_rows(dumps(old), dumps(new)), versions=versions)


# The editor's first: /workflows/new is not a workflow's name.
PAGES = [
    *workflow_editor.PAGES,
    *workflow_run.PAGES,
    ("GET", "/workflows", workflows),
    ("GET", "/workflows/{name}", workflow_page),
    ("GET", "/workflows/{name}/diff", diff),
    ("POST", "/workflows/{name}/enable", enable),
    ("POST", "/workflows/{name}/disable", disable),
    ("POST", "/workflows/{name}/delete", delete),
    ("POST", "/workflows/{name}/shares", share),
    ("POST", "/workflows/{name}/unshare", unshare),
]
