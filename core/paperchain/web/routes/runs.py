"""Runs: the live list (state counts, filters, keyset pages), a run's page (step timeline, errors,
logs, outputs, artifacts; Retry and Cancel) and a batch's page (progress, artifacts).

Queries are the API's (same tables, same tenant rule: a user of a tenant sees only runs of
batches recorded with that tenant); pages are keyset-paginated on (created, id), like the API.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime

from aiohttp import web

from paperchain_sdk import InputError, NotFoundError

from ...api.guard import AUDIT_TARGET, STATE
from ...api.routes.common import newest_rows
from ...api.routes.documents import blob_response
from ...api.routes.runs import tenant_join
from ..cache import run_counts
from ..guard import WEB, page
from ..render import render

PAGE_SIZE = 50
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
_COLUMNS = ("r.id, r.batch_id, r.workflow, r.kind, r.status, r.document_id, r.source, r.created, r.started, "
            "r.finished, r.error")
_PREVIEW_BYTES = 256 * 1024
_TEXT_TYPES = ("text/plain", "text/markdown", "text/html", "text/csv", "application/json")


def _kernel(request):
    return request.app[STATE].kernel


def _seconds(started: str | None, finished: str | None) -> float | None:
    if not started or not finished:
        return None
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


def _run(row) -> dict:
    keys = ("id", "batch", "workflow", "kind", "status", "document", "source", "created", "started", "finished",
            "error")
    run = dict(zip(keys, row))
    run["seconds"] = _seconds(run["started"], run["finished"])
    return run


def _tenant(ctx) -> tuple[list[str], list]:
    return (["b.tenant = ?"], [ctx.who.tenant]) if ctx.who.tenant else ([], [])


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


async def list_page(request, ctx, chosen: dict, cursor: str | None):
    where, values = _tenant(ctx)
    for column, key in (("r.workflow", "workflow"), ("r.batch_id", "batch")):
        if chosen[key]:
            where.append(f"{column} = ?")
            values.append(chosen[key])
    if chosen["since"]:
        where.append("r.created >= ?")
        values.append(chosen["since"])
    if chosen["until"]:
        where.append("r.created < date(?, '+1 day')")
        values.append(chosen["until"])
    if chosen["q"]:  # a run, batch or document id (or its start), or a workflow name
        where.append("(r.id LIKE ? OR r.batch_id LIKE ? OR r.document_id LIKE ? OR r.workflow = ?)")
        prefix = chosen["q"].replace("%", "").replace("_", "\\_") + "%"
        where[-1] = where[-1].replace("LIKE ?", "LIKE ? ESCAPE '\\'")
        values.extend([prefix, prefix, prefix, chosen["q"]])
    db = _kernel(request).db
    # The batch says the tenant; without one to check, runs are read alone (their indexes suffice).
    join = "FROM runs r JOIN batches b ON b.id = r.batch_id" if ctx.who.tenant else "FROM runs r"
    if ctx.who.tenant and not any(chosen[key] for key in ("batch", "since", "until", "q")):
        join = join.replace("JOIN", await tenant_join(db, ctx.who.tenant, PAGE_SIZE, chosen["workflow"],
                                                      chosen["status"]), 1)
    # The chips count every state under the other filters, so a chip says what choosing it shows.
    sql = f"SELECT r.status, count(*) {join} WHERE {' AND '.join(where) or '1 = 1'} GROUP BY r.status"

    async def count():
        async with db.execute(sql, values) as c:
            return dict(await c.fetchall())

    if not any(chosen[key] for key in ("batch", "since", "until", "q")):  # kept by the database as runs change
        counts = await run_counts(db, ctx.who.tenant, chosen["workflow"])
    else:
        counts = dict(await request.app[WEB].runs.get((sql, tuple(values)), count))
    if chosen["status"]:
        where.append("r.status = ?")
        values.append(chosen["status"])
    rows, next_cursor = await newest_rows(db, select=f"SELECT {_COLUMNS} {join}", where=where, values=values,
                                          created="r.created", key="r.id", limit=PAGE_SIZE, cursor=cursor,
                                          created_at=7)
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
    where, values = _tenant(ctx)
    clause = "".join(f" AND {w}" for w in where)
    async with _kernel(request).db.execute(f"SELECT {_COLUMNS} FROM runs r JOIN batches b ON b.id = r.batch_id "
                                           f"WHERE r.id = ?{clause}", (run_id, *values)) as c:
        row = await c.fetchone()
    if row is None:
        raise NotFoundError(ctx.gettext("There is no run %(id)s (or it is not yours to see).") % {"id": run_id})
    return _run(row)


async def run_details(request, run: dict) -> dict:
    db = _kernel(request).db
    await _kernel(request).journal.flush()
    attempts: dict[str, list] = {}
    async with db.execute("SELECT step_id, attempt, status, started, finished, error FROM attempts WHERE run_id = ? "
                          "ORDER BY step_id, attempt", (run["id"],)) as c:
        async for step_id, number, status, started, finished, error in c:
            attempts.setdefault(step_id, []).append({"attempt": number, "status": status, "started": started,
                                                     "seconds": _seconds(started, finished), "error": error})
    async with db.execute("SELECT step_id, uses, status, started, finished, error, outputs, cached FROM steps "
                          "WHERE run_id = ? ORDER BY started IS NULL, started", (run["id"],)) as c:
        steps = [{"id": r[0], "uses": r[1], "status": r[2], "started": r[3], "finished": r[4], "error": r[5],
                  "seconds": _seconds(r[3], r[4]), "attempts": attempts.get(r[0], []), "cached": bool(r[7]),
                  "outputs": json.dumps(json.loads(r[6] or "{}"), indent=2, ensure_ascii=False)}
                 async for r in c]
    needs = await _needs(db, run["id"])
    finished = {step["id"]: step["finished"] for step in steps}
    for step in steps:
        step["needs"] = needs.get(step["id"], [])
        done = [n for n in step["needs"] if finished.get(n)]
        # The need that finished last is the one this step waited on.
        step["waited_on"] = max(done, key=lambda n: finished[n]) if done else None
    async with db.execute("SELECT step_id, attempt, time, level, message FROM step_logs WHERE run_id = ? "
                          "ORDER BY time, seq", (run["id"],)) as c:
        logs = [{"step": r[0], "attempt": r[1], "time": r[2], "level": r[3], "message": r[4]} async for r in c]
    async with db.execute("SELECT step_id, name, media_type, size FROM artifacts WHERE run_id = ? ORDER BY step_id, "
                          "name", (run["id"],)) as c:
        artifacts = [{"step": r[0], "name": r[1], "media_type": r[2] or "", "size": r[3]} async for r in c]
    return {"steps": steps, "logs": logs, "artifacts": artifacts, "timeline": timeline(run, steps)}


async def _needs(db, run_id: str) -> dict[str, list[str]]:
    """Each step's ``needs`` in the run's own workflow version."""
    async with db.execute("SELECT v.definition FROM runs r JOIN workflow_versions v ON v.hash = r.workflow_hash "
                          "WHERE r.id = ?", (run_id,)) as c:
        row = await c.fetchone()
    try:
        steps = json.loads(row[0]).get("steps", []) if row else []
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
    async with _kernel(request).db.execute("SELECT sha256, media_type FROM artifacts WHERE run_id = ? AND step_id = ? "
                                           "AND name = ?", (run["id"], step, name)) as c:
        row = await c.fetchone()
    if row is None:
        raise NotFoundError(ctx.gettext("Run %(id)s has no file %(name)s from step %(step)s.")
                            % {"id": run["id"], "name": name, "step": step})
    return run, step, row[0], row[1] or "application/octet-stream"


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
    where, values = (["tenant = ?"], [ctx.who.tenant]) if ctx.who.tenant else ([], [])
    db = _kernel(request).db
    async with db.execute("SELECT id, workflow, status, created, finished, total, created_by FROM batches "
                          f"WHERE id = ?{''.join(' AND ' + w for w in where)}", (batch_id, *values)) as c:
        row = await c.fetchone()
    if row is None:
        raise NotFoundError(ctx.gettext("There is no batch %(id)s (or it is not yours to see).") % {"id": batch_id})
    batch = dict(zip(("id", "workflow", "status", "created", "finished", "total", "created_by"), row))
    async with db.execute("SELECT status, count(*) FROM runs WHERE batch_id = ? AND kind != 'batch' GROUP BY status",
                          (batch_id,)) as c:
        counts = dict(await c.fetchall())
    done = sum(n for s, n in counts.items() if s in ("succeeded", "failed", "cancelled"))
    total = max(batch["total"] or 0, sum(counts.values()))
    async with db.execute(f"SELECT {_COLUMNS} FROM runs r WHERE r.batch_id = ? ORDER BY r.seq LIMIT 500",
                          (batch_id,)) as c:
        runs_ = [_run(r) for r in await c.fetchall()]
    async with db.execute("SELECT a.run_id, a.step_id, a.name, a.media_type, a.size FROM artifacts a JOIN runs r "
                          "ON r.id = a.run_id WHERE r.batch_id = ? AND r.kind = 'batch' ORDER BY a.name",
                          (batch_id,)) as c:
        artifacts = [dict(zip(("run", "step", "name", "media_type", "size"), r)) for r in await c.fetchall()]
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
