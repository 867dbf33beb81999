"""Runs: the live list (state counts, filters, keyset pages), a run's page (step timeline, errors,
logs, outputs, artifacts; Retry and Cancel) and a batch's page (progress, artifacts).

Queries are the API's (same tables, same tenant rule: a user of a tenant sees only runs of
batches recorded with that tenant); pages are keyset-paginated on (created, id), like the API.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from aiohttp import web

from paperchain_sdk import InputError, NotFoundError

from ...api.guard import AUDIT_TARGET, STATE
from ...api.routes.common import newest_rows
from ...api.routes.documents import blob_response
from ...api.routes.runs import BY_BATCH, RUN_COLUMNS, tenant_join
from ...store.tables import artifacts as made
from ...store.tables import attempts as tried
from ...store.tables import batches, step_logs, steps, workflow_versions
from ...store.tables import runs as run_table
from ..cache import run_counts
from ..guard import WEB, page
from ..render import render

PAGE_SIZE = 50
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
_PREVIEW_BYTES = 256 * 1024
_TEXT_TYPES = ("text/plain", "text/markdown", "text/html", "text/csv", "application/json")


def _kernel(request):
    return request.app[STATE].kernel


def _seconds(started: str | None, finished: str | None) -> float | None:
    if not started or not finished:
        return None
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


_KEYS = {"batch_id": "batch", "document_id": "document"}  # the page's names for the runs' columns


def _run(row) -> dict:
    run = {_KEYS.get(column, column): value for column, value in row._mapping.items()}
    run["seconds"] = _seconds(run["started"], run["finished"])
    return run


def _tenant(ctx) -> list:
    return [batches.c.tenant == ctx.who.tenant] if ctx.who.tenant else []


def _day(value: str | None, name: str) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise InputError(f"{name} {value!r} is not a date; use the date picker (YYYY-MM-DD).") from None


def filters(request) -> dict:
    q = request.query
    return {"status": q.get("status", ""), "workflow": q.get("workflow", ""), "batch": q.get("batch", "").strip(),
            "since": _day(q.get("since"), "From"), "until": _day(q.get("until"), "To"), "q": q.get("q", "").strip()}


def _like_start(text: str) -> str:
    """A LIKE pattern for what starts with ``text``, its own ``%``, ``_`` and ``\\`` taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_page(request, ctx, chosen: dict, cursor: str | None):
    where = _tenant(ctx)
    for column, key in ((run_table.c.workflow, "workflow"), (run_table.c.batch_id, "batch")):
        if chosen[key]:
            where.append(column == chosen[key])
    if chosen["since"]:
        where.append(run_table.c.created >= chosen["since"])
    if chosen["until"]:  # before the next day begins
        where.append(run_table.c.created < (date.fromisoformat(chosen["until"]) + timedelta(days=1)).isoformat())
    if chosen["q"]:  # a run, batch or document id (or its start, in any case), or a workflow name
        start = _like_start(chosen["q"])
        where.append(sa.or_(*(column.ilike(start, escape="\\")
                              for column in (run_table.c.id, run_table.c.batch_id, run_table.c.document_id)),
                            run_table.c.workflow == chosen["q"]))
    sql = _kernel(request).sql
    # The batch says the tenant; without one to check, runs are read alone (their indexes suffice).
    joined = BY_BATCH if ctx.who.tenant else run_table
    filtered = any(chosen[key] for key in ("batch", "since", "until", "q"))
    if ctx.who.tenant and not filtered:
        joined = await tenant_join(sql, ctx.who.tenant, PAGE_SIZE, chosen["workflow"], chosen["status"])

    async def count():
        # The chips count every state under the other filters, so a chip says what choosing it shows.
        statement = (sa.select(run_table.c.status, sa.func.count().label("n")).select_from(joined).where(*where)
                     .group_by(run_table.c.status))
        return {row.status: row.n for row in await sql.read(statement)}

    if not filtered:  # kept by the database as runs change
        counts = await run_counts(sql, ctx.who.tenant, chosen["workflow"])
    else:
        chips = ("chips", ctx.who.tenant, *(chosen[k] for k in ("workflow", "batch", "since", "until", "q")))
        counts = dict(await request.app[WEB].runs.get(chips, count))
    if chosen["status"]:
        where.append(run_table.c.status == chosen["status"])
    rows, next_cursor = await newest_rows(sql, sa.select(*RUN_COLUMNS).select_from(joined).where(*where),
                                          created=run_table.c.created, key=run_table.c.id, limit=PAGE_SIZE, cursor=cursor)
    return [_run(r) for r in rows], counts, next_cursor


@page
async def runs(request, ctx):
    chosen = filters(request)
    cursor = request.query.get("cursor") or None
    items, counts, next_cursor = await list_page(request, ctx, chosen, cursor)
    workflows = await workflow_names(request, ctx)
    states = list(STATES) + sorted(set(counts) - set(STATES))
    template = "runs_table.html" if request.headers.get("HX-Request") else "runs.html"
    return render(request, ctx, template, runs=items, counts=counts, states=states, chosen=chosen,
                  total=sum(counts.values()), workflows=workflows, cursor=cursor, next_cursor=next_cursor,
                  query=_query(chosen), link=lambda **changes: "/runs?" + _query(chosen, **changes))


async def workflow_names(request, ctx, *, enabled: bool | None = None) -> list[str]:
    """The workflows the caller may see: their tenant's own and those shared with it (all, for the operator)."""
    saved = await _kernel(request).workflows.list(enabled=enabled, tenant=ctx.who.tenant or None)
    return sorted({w.name for w in saved})


def _query(chosen: dict, **changes) -> str:
    from urllib.parse import urlencode

    values = {**chosen, **changes}
    return urlencode({k: v for k, v in values.items() if v})


async def load_run(request, ctx, run_id: str) -> dict:
    row = await _kernel(request).sql.first(sa.select(*RUN_COLUMNS).select_from(BY_BATCH)
                                           .where(run_table.c.id == run_id, *_tenant(ctx)))
    if row is None:
        raise NotFoundError(ctx.gettext("There is no run %(id)s (or it is not yours to see).") % {"id": run_id})
    return _run(row)


async def run_details(request, run: dict) -> dict:
    sql = _kernel(request).sql
    await _kernel(request).journal.flush()
    attempts: dict[str, list] = {}
    for a in await sql.read(sa.select(tried).where(tried.c.run_id == run["id"])
                            .order_by(tried.c.step_id, tried.c.attempt)):
        attempts.setdefault(a.step_id, []).append({"attempt": a.attempt, "status": a.status, "started": a.started,
                                                   "seconds": _seconds(a.started, a.finished), "error": a.error})
    s = steps.c
    found = await sql.read(sa.select(s.step_id, s.uses, s.status, s.started, s.finished, s.error, s.outputs, s.cached)
                           .where(s.run_id == run["id"]).order_by(s.started.nulls_last(), s.step_id))
    steps_ = [{"id": r.step_id, "uses": r.uses, "status": r.status, "started": r.started, "finished": r.finished,
               "error": r.error, "seconds": _seconds(r.started, r.finished), "attempts": attempts.get(r.step_id, []),
               "cached": bool(r.cached),
               "outputs": json.dumps(json.loads(r.outputs or "{}"), indent=2, ensure_ascii=False)}
              for r in found]
    needs = await _needs(sql, run["id"])
    finished = {step["id"]: step["finished"] for step in steps_}
    for step in steps_:
        step["needs"] = needs.get(step["id"], [])
        done = [n for n in step["needs"] if finished.get(n)]
        # The need that finished last is the one this step waited on.
        step["waited_on"] = max(done, key=lambda n: finished[n]) if done else None
    logged = step_logs.c
    logs = [{"step": r.step_id, "attempt": r.attempt, "time": r.time, "level": r.level, "message": r.message}
            for r in await sql.read(sa.select(step_logs).where(logged.run_id == run["id"])
                                    .order_by(logged.time, logged.seq, logged.step_id, logged.attempt))]
    artifacts = [{"step": r.step_id, "name": r.name, "media_type": r.media_type or "", "size": r.size}
                 for r in await sql.read(sa.select(made.c.step_id, made.c.name, made.c.media_type, made.c.size)
                                         .where(made.c.run_id == run["id"]).order_by(made.c.step_id, made.c.name))]
    return {"steps": steps_, "logs": logs, "artifacts": artifacts, "timeline": timeline(run, steps_)}


async def _needs(sql, run_id: str) -> dict[str, list[str]]:
    """Each step's ``needs`` in the run's own workflow version."""
    row = await sql.first(sa.select(workflow_versions.c.definition)
                          .select_from(run_table.join(workflow_versions, workflow_versions.c.hash == run_table.c.workflow_hash))
                          .where(run_table.c.id == run_id))
    try:
        steps = json.loads(row.definition).get("steps", []) if row else []
        return {str(s["id"]): [str(n) for n in s.get("needs", [])] for s in steps if isinstance(s, dict) and "id" in s}
    except (ValueError, TypeError, AttributeError):
        return {}


def timeline(run: dict, steps: list[dict], width: int = 1000) -> list[dict]:
    """Each started step as a bar: its offset and length on a ``width``-wide scale from the run's start
    to its end (or the last step's), drawn as SVG (no style attributes: the CSP forbids them)."""
    moments = [datetime.fromisoformat(s["started"]) for s in steps if s["started"]]
    if not moments:
        return []
    start = min(moments)
    ends = [datetime.fromisoformat(s["finished"]) for s in steps if s["finished"]] or moments
    span = max((max(ends) - start).total_seconds(), 1e-6)
    bars = []
    for number, step in enumerate(s for s in steps if s["started"]):
        offset = (datetime.fromisoformat(step["started"]) - start).total_seconds()
        length = step["seconds"] if step["seconds"] is not None else span - offset
        bars.append({"step": step, "row": number, "x": round(offset / span * width, 1),
                     "width": max(round(length / span * width, 1), 2)})
    return bars


@page
async def run_page(request, ctx):
    await _kernel(request).journal.flush()  # the engine's writes so far, so the page is not behind its events
    run = await load_run(request, ctx, request.match_info["id"])
    details = await run_details(request, run)
    template = "run_body.html" if request.headers.get("HX-Request") else "run.html"
    return render(request, ctx, template, run=run, **details)


@page(role="editor")
async def retry(request, ctx):
    run = await load_run(request, ctx, request.match_info["id"])
    request[AUDIT_TARGET] = f"run:{run['id']}"
    k = _kernel(request)
    batch_id = await k.engine.retry_run(run["id"])
    k.start_batch(batch_id)
    raise web.HTTPSeeOther(f"/runs/{run['id']}")


@page(role="editor")
async def cancel(request, ctx):
    run = await load_run(request, ctx, request.match_info["id"])
    request[AUDIT_TARGET] = f"run:{run['id']}"
    await _kernel(request).engine.cancel_run(run["id"])
    raise web.HTTPSeeOther(f"/runs/{run['id']}")


async def _artifact(request, ctx) -> tuple[dict, str, str, str]:
    run = await load_run(request, ctx, request.match_info["id"])
    step, name = request.match_info["step"], request.match_info["name"]
    row = await _kernel(request).sql.first(sa.select(made.c.sha256, made.c.media_type).where(
        made.c.run_id == run["id"], made.c.step_id == step, made.c.name == name))
    if row is None:
        raise NotFoundError(ctx.gettext("Run %(id)s has no file %(name)s from step %(step)s.")
                            % {"id": run["id"], "name": name, "step": step})
    return run, step, row.sha256, row.media_type or "application/octet-stream"


@page
async def artifact_download(request, ctx):
    run, step, sha256, media_type = await _artifact(request, ctx)
    name = request.match_info["name"]
    return await blob_response(request, sha256, media_type=media_type, filename=name, sha256=sha256)


@page
async def artifact_preview(request, ctx):
    """A page showing an artifact: text as text (HTML as its source: never run), images inline."""
    run, step, sha256, media_type = await _artifact(request, ctx)
    name = request.match_info["name"]
    text = None
    if media_type.split(";")[0] in _TEXT_TYPES or media_type.startswith("text/"):
        text = (await asyncio.to_thread(_head, _kernel(request).blobs, sha256)).decode("utf-8", "replace")
    return render(request, ctx, "artifact.html", run=run, step=step, name=name, media_type=media_type, text=text,
                  image=media_type.startswith("image/") and media_type != "image/svg+xml")


def _head(blobs, sha256: str) -> bytes:
    reader = blobs.open(sha256, sha256=None)  # a part is read: the whole-file hash cannot be checked
    try:
        return reader.read(_PREVIEW_BYTES)
    finally:
        reader.close()


@page
async def batch_page(request, ctx):
    batch_id = request.match_info["id"]
    scope = [batches.c.tenant == ctx.who.tenant] if ctx.who.tenant else []
    sql = _kernel(request).sql
    row = await sql.first(sa.select(batches.c.id, batches.c.workflow, batches.c.status, batches.c.created,
                                    batches.c.finished, batches.c.total, batches.c.created_by)
                          .where(batches.c.id == batch_id, *scope))
    if row is None:
        raise NotFoundError(ctx.gettext("There is no batch %(id)s (or it is not yours to see).") % {"id": batch_id})
    batch = dict(row._mapping)
    counts = {r.status: r.n for r in await sql.read(
        sa.select(run_table.c.status, sa.func.count().label("n")).where(run_table.c.batch_id == batch_id, run_table.c.kind != "batch")
        .group_by(run_table.c.status))}
    done = sum(n for s, n in counts.items() if s in ("succeeded", "failed", "cancelled"))
    total = max(batch["total"] or 0, sum(counts.values()))
    runs_ = [_run(r) for r in await sql.read(sa.select(*RUN_COLUMNS).where(run_table.c.batch_id == batch_id)
                                             .order_by(run_table.c.seq, run_table.c.id).limit(500))]
    artifacts = [{"run": r.run_id, "step": r.step_id, "name": r.name, "media_type": r.media_type, "size": r.size}
                 for r in await sql.read(
                     sa.select(made.c.run_id, made.c.step_id, made.c.name, made.c.media_type, made.c.size)
                     .select_from(made.join(run_table, run_table.c.id == made.c.run_id))
                     .where(run_table.c.batch_id == batch_id, run_table.c.kind == "batch")
                     .order_by(made.c.name, made.c.run_id, made.c.step_id))]
    template = "batch_body.html" if request.headers.get("HX-Request") else "batch.html"
    return render(request, ctx, template, batch=batch, counts=counts, done=done, total=total, runs=runs_,
                  artifacts=artifacts)


PAGES = [
    ("GET", "/runs", runs),
    ("GET", "/runs/{id}", run_page),
    ("POST", "/runs/{id}/retry", retry),
    ("POST", "/runs/{id}/cancel", cancel),
    ("GET", "/runs/{id}/artifacts/{step}/{name}", artifact_download),
    ("GET", "/runs/{id}/artifacts/{step}/{name}/preview", artifact_preview),
    ("GET", "/batches/{id}", batch_page),
]
