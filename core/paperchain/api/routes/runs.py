"""Runs: start, list, get (steps, attempts, timings), cancel, retry, logs, artifacts."""

from __future__ import annotations

import json
from datetime import datetime

from aiohttp import web

from paperchain_sdk import InputError, NotFoundError
from paperchain_sdk.web import endpoint, read_json

from ..schemas import ArtifactOut, AttemptOut, BatchStarted, LogLine, RunOut, RunQuery, RunStart, StepOut
from .common import audit_target, kernel, newest_first, page, query, reply, who
from .documents import blob_response

routes = web.RouteTableDef()
_RUN_COLUMNS = ("r.id, r.batch_id, r.workflow, r.kind, r.status, r.document_id, r.source, r.created, r.started, "
                "r.finished, r.error")


def _seconds(started: str | None, finished: str | None) -> float | None:
    if not started or not finished:
        return None
    return round((datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds(), 6)


def _tenant(request) -> tuple[str, tuple]:
    """Users of another tenant never see a run: only batches recorded with the caller's tenant
    (the operator, with no tenant, sees every run)."""
    tenant = who(request).tenant
    return (" AND b.tenant = ?", (tenant,)) if tenant else ("", ())


async def tenant_join(db, tenant: str | None, limit: int, workflow: str = "", status: str = "") -> str:
    """How a tenant's newest runs are read: ``CROSS JOIN`` (runs first, newest first by index, each
    one's batch looked up for its tenant, stopping after ``limit``) when the tenant owns enough of
    the runs that about ``limit * all / theirs`` rows reach the page; plain ``JOIN`` (the tenant's
    batches first, their runs sorted) when it owns few. SQLite alone takes the batches first and
    sorts every run of the tenant: 10,000 of them for a page of 50. The shares come from
    ``run_counts`` (schema v12), a few rows kept exact by triggers."""
    if not tenant:
        return "JOIN"
    where, values = ["n > 0"], []
    for column, value in (("workflow", workflow), ("status", status)):
        if value:
            where.append(f"{column} = ?")
            values.append(value)
    async with db.execute(f"SELECT coalesce(sum(n), 0), coalesce(sum(n) FILTER (WHERE tenant = ?), 0) FROM run_counts "
                          f"WHERE {' AND '.join(where)}", (tenant, *values)) as cursor:
        every, theirs = await cursor.fetchone()
    # Runs first reads about limit * every / theirs rows; batches first reads and sorts theirs.
    return "CROSS JOIN" if theirs * theirs >= limit * every else "JOIN"


def _run(row) -> RunOut:
    return RunOut(id=row[0], batch=row[1], workflow=row[2], kind=row[3], status=row[4], document=row[5],
                  source=row[6], created=row[7], started=row[8], finished=row[9], error=row[10])


async def _load(request, run_id: str) -> RunOut:
    clause, params = _tenant(request)
    db = kernel(request).db
    async with db.execute(f"SELECT {_RUN_COLUMNS} FROM runs r JOIN batches b ON b.id = r.batch_id "
                          f"WHERE r.id = ?{clause}", (run_id, *params)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise NotFoundError(f"there is no run {run_id}.", hint="GET /api/v1/runs lists them")
    return _run(row)


@routes.post("/api/v1/runs")
@endpoint(summary="Start a workflow for stored documents (one run each) or for inputs alone; answers at once",
          role="editor", request=RunStart, response=BatchStarted, status=202, tags=("runs",))
async def start(request):
    body = await read_json(request, RunStart)
    k = kernel(request)
    for document_id in body.documents:  # refuse unknown or invisible documents before anything is recorded
        from .documents import _row

        await _row(request, document_id)
    tenant = who(request).tenant
    # Keys are per tenant: another tenant's equal key neither returns nor reveals that batch.
    key = f"{len(tenant)}:{tenant}:{body.idempotency_key}" if tenant and body.idempotency_key else body.idempotency_key
    batch_id = await k.submit(body.workflow, documents=tuple(body.documents), inputs=body.inputs,
                              idempotency_key=key, source="api", created_by=who(request).name, tenant=tenant)
    async with k.db.execute("SELECT id FROM runs WHERE batch_id = ? AND kind != 'batch' ORDER BY seq", (batch_id,)) as c:
        runs = [row[0] for row in await c.fetchall()]
    audit_target(request, f"batch:{batch_id}", workflow=body.workflow, documents=len(body.documents))
    return reply(BatchStarted(batch=batch_id, workflow=body.workflow, runs=runs), 202)


@routes.get("/api/v1/runs")
@endpoint(summary="List runs, newest first, filtered by workflow, status, batch or document", query=RunQuery,
          response=RunOut, many=True, tags=("runs",))
async def list_runs(request):
    q = query(request, RunQuery)
    clause, params = _tenant(request)
    where, values = ["1 = 1"], []
    if clause:
        where.append(clause.removeprefix(" AND "))
        values.extend(params)
    for column, value in (("r.workflow", q.workflow), ("r.status", q.status), ("r.batch_id", q.batch),
                          ("r.document_id", q.document)):
        if value:
            where.append(f"{column} = ?")
            values.append(value)
    join = "JOIN"
    if not (q.batch or q.document):  # those select few runs by their own index
        join = await tenant_join(kernel(request).db, who(request).tenant, q.limit, q.workflow or "", q.status or "")
    return await newest_first(request, select=f"SELECT {_RUN_COLUMNS} FROM runs r {join} batches b ON b.id = r.batch_id",
                              where=where, values=values, created="r.created", key="r.id", limit=q.limit,
                              cursor=q.cursor, created_at=7, convert=_run)


@routes.get("/api/v1/runs/{id}")
@endpoint(summary="A run with its steps, every attempt and their timings", response=RunOut, tags=("runs",))
async def get_run(request):
    run = await _load(request, request.match_info["id"])
    db = kernel(request).db
    attempts: dict[str, list[AttemptOut]] = {}
    async with db.execute("SELECT step_id, attempt, status, started, finished, error FROM attempts WHERE run_id = ? "
                          "ORDER BY step_id, attempt", (run.id,)) as cursor:
        async for step_id, number, status, started, finished, error in cursor:
            attempts.setdefault(step_id, []).append(AttemptOut(attempt=number, status=status, started=started,
                                                               finished=finished, error=error,
                                                               seconds=_seconds(started, finished)))
    async with db.execute("SELECT step_id, uses, status, started, finished, error, outputs, cached FROM steps "
                          "WHERE run_id = ? ORDER BY started", (run.id,)) as cursor:
        run.steps = [StepOut(id=r[0], uses=r[1], status=r[2], attempts=attempts.get(r[0], []), started=r[3],
                             finished=r[4], error=r[5], outputs=json.loads(r[6] or "{}"), cached=bool(r[7]))
                     async for r in cursor]
    return reply(run)


@routes.post("/api/v1/runs/{id}/cancel")
@endpoint(summary="Cancel a queued or running run", role="editor", response=RunOut, tags=("runs",))
async def cancel(request):
    run = await _load(request, request.match_info["id"])
    audit_target(request, f"run:{run.id}")
    await kernel(request).engine.cancel_run(run.id)
    return reply(await _load(request, run.id))


@routes.post("/api/v1/runs/{id}/retry")
@endpoint(summary="Retry a failed or cancelled run from its failed steps (finished steps are kept)", role="editor",
          response=RunOut, status=202, tags=("runs",))
async def retry(request):
    run = await _load(request, request.match_info["id"])
    audit_target(request, f"run:{run.id}")
    k = kernel(request)
    batch_id = await k.engine.retry_run(run.id)
    k.start_batch(batch_id)
    return reply(await _load(request, run.id), 202)


@routes.get("/api/v1/runs/{id}/logs")
@endpoint(summary="A run's step logs: the engine's notes on each attempt and what components logged",
          response=LogLine, many=True, tags=("runs",))
async def logs(request):
    run = await _load(request, request.match_info["id"])
    await kernel(request).journal.flush()
    async with kernel(request).db.execute(
        "SELECT step_id, attempt, seq, time, level, message FROM step_logs WHERE run_id = ? ORDER BY time, seq", (run.id,),
    ) as cursor:
        lines = [LogLine(step=r[0], attempt=r[1], seq=r[2], time=r[3], level=r[4], message=r[5]) async for r in cursor]
    return page(lines, None)


@routes.get("/api/v1/runs/{id}/artifacts")
@endpoint(summary="The files a run produced", response=ArtifactOut, many=True, tags=("runs",))
async def artifacts(request):
    run = await _load(request, request.match_info["id"])
    async with kernel(request).db.execute(
        "SELECT step_id, name, media_type, sha256, size, document_id FROM artifacts WHERE run_id = ? ORDER BY step_id, name",
        (run.id,),
    ) as cursor:
        items = [ArtifactOut(step=r[0], name=r[1], media_type=r[2], sha256=r[3], size=r[4], document=r[5])
                 async for r in cursor]
    return page(items, None)


@routes.get("/api/v1/runs/{id}/artifacts/{step}/{name}")
@endpoint(summary="Download one artifact (with its own media type)", produces="*/*", tags=("runs",))
async def artifact(request):
    run = await _load(request, request.match_info["id"])
    step, name = request.match_info["step"], request.match_info["name"]
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InputError(f"{name!r} is not an artifact name.")
    async with kernel(request).db.execute(
        "SELECT sha256, media_type FROM artifacts WHERE run_id = ? AND step_id = ? AND name = ?", (run.id, step, name),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise NotFoundError(f"run {run.id} has no artifact {name!r} from step {step!r}.",
                            hint=f"GET /api/v1/runs/{run.id}/artifacts lists them")
    return await blob_response(request, row[0], media_type=row[1], filename=name, sha256=row[0])
