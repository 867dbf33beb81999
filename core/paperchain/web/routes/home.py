"""Home: what is going on. Runs of the last 24 hours by state, recent failures and why, the queue,
documents and storage, and two charts (uPlot): runs finished per hour and step durations per hour.

The charts' numbers are worked out here, from the runs and steps the engine records as its
events happen (the same moments the event log holds, with the tenant known through the batch),
and handed to home.js as JSON in a non-executable <script type="application/json">.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ...api.guard import STATE
from ...store import tables
from ...store.portable import ordered_join, seconds_between
from ...store.tables import batches, runs, steps
from ..cache import run_counts
from ..guard import WEB, page
from ..render import render

HOURS = 24


def _tenant(ctx) -> list:
    return [batches.c.tenant == ctx.who.tenant] if ctx.who.tenant else []


@page
async def home(request, ctx):
    sql = request.app[STATE].kernel.sql
    scope = _tenant(ctx)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = now - timedelta(hours=HOURS)
    since = start.isoformat()
    # The batch says the tenant; without one to check, runs are read alone (their indexes suffice).
    # ordered_join keeps runs first on SQLite: the last day's (or the failed) runs by index, each
    # batch looked up, rather than every run of the tenant's batches.
    joined = ordered_join(runs, batches, batches.c.id == runs.c.batch_id) if scope else runs
    # Each figure reads an index range (the last day's runs, the failed ones newest first) or the
    # counts the database keeps (run_counts), so it stays cheap while runs change; it is also kept
    # until a run or document event says it changed (see cache.py).

    async def run_figures():
        states = await run_counts(sql, ctx.who.tenant)
        # One range of the (status, created) index per state, not a scan, in one statement.
        counted = {r.status: r.n for r in await sql.read(
            sa.select(runs.c.status, sa.func.count().label("n")).select_from(joined)
            .where(runs.c.status.in_(list(states)), runs.c.created >= since, *scope).group_by(runs.c.status))}
        last_day = {status: counted[status] for status in states if counted.get(status)}
        queue = states.get("queued", 0) + states.get("running", 0)
        failures = [dict(r._mapping) for r in await sql.read(
            sa.select(runs.c.id, runs.c.workflow, runs.c.finished, runs.c.error).select_from(joined)
            .where(runs.c.status == "failed", *scope).order_by(runs.c.finished.desc().nulls_last(), runs.c.id.desc())
            .limit(8))]
        hours = [start + timedelta(hours=h) for h in range(HOURS)]
        slot = {h.strftime("%Y-%m-%dT%H"): i for i, h in enumerate(hours)}
        finished = {"succeeded": [0] * HOURS, "failed": [0] * HOURS}
        hour = sa.func.substr(runs.c.finished, 1, 13).label("hour")
        for r in await sql.read(sa.select(hour, runs.c.status, sa.func.count().label("n")).select_from(joined)
                                .where(runs.c.finished >= since, *scope, runs.c.status.in_(("succeeded", "failed")))
                                .group_by(hour, runs.c.status)):
            if r.hour in slot:
                finished[r.status][slot[r.hour]] = r.n
        durations = [None] * HOURS
        step_hour = sa.func.substr(steps.c.finished, 1, 13).label("hour")
        timed = ordered_join(steps, runs, runs.c.id == steps.c.run_id)
        if scope:
            timed = ordered_join(timed, batches, batches.c.id == runs.c.batch_id)
        seconds = sa.cast(sa.func.avg(seconds_between(steps.c.started, steps.c.finished)), sa.Float).label("seconds")
        for r in await sql.read(sa.select(step_hour, seconds).select_from(timed)
                                .where(steps.c.finished >= since, steps.c.started.is_not(None), *scope)
                                .group_by(step_hour)):
            if r.hour in slot:
                durations[slot[r.hour]] = round(r.seconds, 3)
        return last_day, queue, failures, finished, durations

    async def document_figures():
        stored = tables.documents.c
        live = [stored.deleted.is_(None), *([stored.tenant == ctx.who.tenant] if ctx.who.tenant else [])]
        row = await sql.first(sa.select(sa.func.count().label("n"),
                                        sa.func.coalesce(sa.func.sum(stored.size), 0).label("stored")).where(*live))
        return row.n, row.stored

    web = request.app[WEB]
    last_day, queue, failures, finished, durations = await web.runs.get(("home", ctx.who.tenant, start),
                                                                         run_figures)
    documents, stored = await web.documents.get(("home", ctx.who.tenant), document_figures)
    hours = [start + timedelta(hours=h) for h in range(HOURS)]
    charts = {"x": [int(h.timestamp()) for h in hours], "succeeded": finished["succeeded"],
              "failed": finished["failed"], "step_seconds": durations,
              "labels": {"succeeded": ctx.gettext("succeeded"), "failed": ctx.gettext("failed"),
                         "step_seconds": ctx.gettext("Average step duration (s)")}}
    rows = [{"hour": ctx.fmt.when(h.isoformat()), "succeeded": finished["succeeded"][i],
             "failed": finished["failed"][i], "seconds": durations[i]} for i, h in enumerate(hours)]
    return render(request, ctx, "home.html", last_day=last_day, total=sum(last_day.values()), queue=queue,
                  failures=failures, documents=documents, stored=stored, charts=charts, rows=rows)


PAGES = [("GET", "/", home)]
