"""Runs: start, list, get (steps, attempts, timings), cancel, retry, logs, artifacts."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from aiohttp import web

from paperchain_sdk import InputError, NotFoundError
from paperchain_sdk.web import endpoint, read_json

from ...store import tables
from ...store.portable import ordered_join
from ...store.tables import batches, run_counts, runs, step_logs, steps
from ..schemas import ArtifactOut, AttemptOut, BatchStarted, LogLine, RunOut, RunQuery, RunStart, StepOut
from .common import audit_target, kernel, newest_first, page, query, reply, who
from .documents import blob_response

routes = web.RouteTableDef()
RUN_COLUMNS = (runs.c.id, runs.c.batch_id, runs.c.workflow, runs.c.kind, runs.c.status, runs.c.document_id,
               runs.c.source, runs.c.created, runs.c.started, runs.c.finished, runs.c.error)
BY_BATCH = runs.join(batches, batches.c.id == runs.c.batch_id)


def _seconds(started: str | None, finished: str | None) -> float | None:
    if not started or not finished:
        return None
    return round((datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds(), 6)


def _tenant(request) -> list:
    """Users of another tenant never see a run: only batches recorded with the caller's tenant
    (the operator, with no tenant, sees every run)."""
    tenant = who(request).tenant
    return [batches.c.tenant == tenant] if tenant else []


async def tenant_join(sql, tenant: str | None, limit: int, workflow: str = "", status: str = ""):
    """How a tenant's newest runs are read: runs first (``ordered_join``: newest first by index,
    each one's batch looked up for its tenant, stopping after ``limit``) when the tenant owns
    enough of the runs that about ``limit * all / theirs`` rows reach the page; a plain join (the
    tenant's batches first, their runs sorted) when it owns few. SQLite alone takes the batches
    first and sorts every run of the tenant: 10,000 of them for a page of 50. The shares come from
    ``run_counts`` (schema v12), a few rows kept exact by triggers. Returns the join to select from."""
    if not tenant:
        return BY_BATCH
    n = run_counts.c.n
    statement = sa.select(sa.func.coalesce(sa.func.sum(n), 0).label("every"),
                          sa.func.coalesce(sa.func.sum(n).filter(run_counts.c.tenant == tenant), 0).label("theirs"))
    statement = statement.where(n > 0)
    for column, value in ((run_counts.c.workflow, workflow), (run_counts.c.status, status)):
        if value:
            statement = statement.where(column == value)
    counts = await sql.first(statement)
    # Runs first reads about limit * every / theirs rows; batches first reads and sorts theirs.
    if counts.theirs * counts.theirs >= limit * counts.every:
        return ordered_join(runs, batches, batches.c.id == runs.c.batch_id)
    return BY_BATCH


def _run(row) -> RunOut:
    return RunOut(id=row.id, batch=row.batch_id, workflow=row.workflow, kind=row.kind, status=row.status,
                  document=row.document_id, source=row.source, created=row.created, started=row.started,
                  finished=row.finished, error=row.error)


async def _load(request, run_id: str) -> RunOut:
    row = await kernel(request).sql.first(sa.select(*RUN_COLUMNS).select_from(BY_BATCH)
                                          .where(runs.c.id == run_id, *_tenant(request)))
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
    started = await k.sql.read(sa.select(runs.c.id).where(runs.c.batch_id == batch_id, runs.c.kind != "batch")
                               .order_by(runs.c.seq))
    audit_target(request, f"batch:{batch_id}", workflow=body.workflow, documents=len(body.documents))
    return reply(BatchStarted(batch=batch_id, workflow=body.workflow, runs=[row.id for row in started]), 202)


@routes.get("/api/v1/runs")
@endpoint(summary="List runs, newest first, filtered by workflow, status, batch or document", query=RunQuery,
          response=RunOut, many=True, tags=("runs",))
async def list_runs(request):
    q = query(request, RunQuery)
    where = _tenant(request)
    for column, value in ((runs.c.workflow, q.workflow), (runs.c.status, q.status), (runs.c.batch_id, q.batch),
                          (runs.c.document_id, q.document)):
        if value:
            where.append(column == value)
    joined = BY_BATCH
    if not (q.batch or q.document):  # those select few runs by their own index
        joined = await tenant_join(kernel(request).sql, who(request).tenant, q.limit, q.workflow or "", q.status or "")
    return await newest_first(request, sa.select(*RUN_COLUMNS).select_from(joined).where(*where),
                              created=runs.c.created, key=runs.c.id, limit=q.limit, cursor=q.cursor, convert=_run)


@routes.get("/api/v1/runs/{id}")
@endpoint(summary="A run with its steps, every attempt and their timings", response=RunOut, tags=("runs",))
async def get_run(request):
    run = await _load(request, request.match_info["id"])
    sql = kernel(request).sql
    attempts: dict[str, list[AttemptOut]] = {}
    for a in await sql.read(sa.select(tables.attempts).where(tables.attempts.c.run_id == run.id)
                            .order_by(tables.attempts.c.step_id, tables.attempts.c.attempt)):
        attempts.setdefault(a.step_id, []).append(AttemptOut(attempt=a.attempt, status=a.status, started=a.started,
                                                             finished=a.finished, error=a.error,
                                                             seconds=_seconds(a.started, a.finished)))
    s = steps.c
    found = await sql.read(sa.select(s.step_id, s.uses, s.status, s.started, s.finished, s.error, s.outputs, s.cached)
                           .where(s.run_id == run.id).order_by(s.started.nulls_first(), s.step_id))
    run.steps = [StepOut(id=r.step_id, uses=r.uses, status=r.status, attempts=attempts.get(r.step_id, []),
                         started=r.started, finished=r.finished, error=r.error, outputs=json.loads(r.outputs or "{}"),
                         cached=bool(r.cached)) for r in found]
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
    logged = step_logs.c
    lines = [LogLine(step=r.step_id, attempt=r.attempt, seq=r.seq, time=r.time, level=r.level, message=r.message)
             for r in await kernel(request).sql.read(sa.select(step_logs).where(logged.run_id == run.id)
                                                     .order_by(logged.time, logged.seq, logged.step_id,
                                                               logged.attempt))]
    return page(lines, None)


@routes.get("/api/v1/runs/{id}/artifacts")
@endpoint(summary="The files a run produced", response=ArtifactOut, many=True, tags=("runs",))
async def artifacts(request):
    run = await _load(request, request.match_info["id"])
    made = tables.artifacts.c
    items = [ArtifactOut(step=r.step_id, name=r.name, media_type=r.media_type, sha256=r.sha256, size=r.size,
                         document=r.document_id)
             for r in await kernel(request).sql.read(sa.select(tables.artifacts).where(made.run_id == run.id)
                                                     .order_by(made.step_id, made.name))]
    return page(items, None)


@routes.get("/api/v1/runs/{id}/artifacts/{step}/{name}")
@endpoint(summary="Download one artifact (with its own media type)", produces="*/*", tags=("runs",))
async def artifact(request):
    run = await _load(request, request.match_info["id"])
    step, name = request.match_info["step"], request.match_info["name"]
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InputError(f"{name!r} is not an artifact name.")
    made = tables.artifacts.c
    row = await kernel(request).sql.first(sa.select(made.sha256, made.media_type)
                                          .where(made.run_id == run.id, made.step_id == step, made.name == name))
    if row is None:
        raise NotFoundError(f"run {run.id} has no artifact {name!r} from step {step!r}.",
                            hint=f"GET /api/v1/runs/{run.id}/artifacts lists them")
    return await blob_response(request, row.sha256, media_type=row.media_type, filename=name, sha256=row.sha256)
