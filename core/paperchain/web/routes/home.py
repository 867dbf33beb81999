"""Home: what is going on. Runs of the last 24 hours by state, recent failures and why, the queue,
documents and storage, and two charts (uPlot): runs finished per hour and step durations per hour.

The charts' numbers are worked out here, from the runs and steps the engine records as its
events happen (the same moments the event log holds, with the tenant known through the batch),
and handed to home.js as JSON in a non-executable <script type="application/json">.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ...api.guard import STATE
from ..cache import run_counts
from ..guard import WEB, page
from ..render import render

HOURS = 24


def _tenant(ctx) -> tuple[str, list]:
    return (" AND b.tenant = ?", [ctx.who.tenant]) if ctx.who.tenant else ("", [])


@page
async def home(request, ctx):
    db = request.app[STATE].kernel.db
    clause, values = _tenant(ctx)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = now - timedelta(hours=HOURS)
    # The batch says the tenant; without one to check, runs are read alone (their indexes suffice).
    # CROSS JOIN keeps runs first: the last day's (or the failed) runs by index, each batch looked
    # up, rather than every run of the tenant's batches.
    join = "FROM runs r CROSS JOIN batches b ON b.id = r.batch_id" if ctx.who.tenant else "FROM runs r"
    # Each figure reads an index range (the last day's runs, the failed ones newest first) or the
    # counts the database keeps (run_counts), so it stays cheap while runs change; it is also kept
    # until a run or document event says it changed (see cache.py).

    async def run_figures():
        states = await run_counts(db, ctx.who.tenant)
        last_day = {}
        for status in states:  # one range of the (status, created) index per state, not a scan
            async with db.execute(f"SELECT count(*) {join} WHERE r.status = ? AND r.created >= ?{clause}",
                                  [status, start.isoformat(), *values]) as c:
                last_day[status] = (await c.fetchone())[0]
        last_day = {status: n for status, n in last_day.items() if n}
        queue = states.get("queued", 0) + states.get("running", 0)
        async with db.execute(f"SELECT r.id, r.workflow, r.finished, r.error {join} WHERE r.status = 'failed'{clause} "
                              "ORDER BY r.finished DESC LIMIT 8", values) as c:
            failures = [dict(zip(("id", "workflow", "finished", "error"), r)) for r in await c.fetchall()]
        hours = [start + timedelta(hours=h) for h in range(HOURS)]
        slot = {h.strftime("%Y-%m-%dT%H"): i for i, h in enumerate(hours)}
        finished = {"succeeded": [0] * HOURS, "failed": [0] * HOURS}
        async with db.execute(f"SELECT substr(r.finished, 1, 13), r.status, count(*) {join} WHERE r.finished >= ?"
                              f"{clause} AND r.status IN ('succeeded', 'failed') GROUP BY 1, 2",
                              [start.isoformat(), *values]) as c:
            for hour, status, n in await c.fetchall():
                if hour in slot:
                    finished[status][slot[hour]] = n
        durations = [None] * HOURS
        async with db.execute(f"SELECT substr(s.finished, 1, 13), avg((julianday(s.finished) - julianday(s.started)) "
                              f"* 86400) FROM steps s CROSS JOIN runs r ON r.id = s.run_id "
                              f"{'CROSS JOIN batches b ON b.id = r.batch_id ' if clause else ''}"
                              f"WHERE s.finished >= ? AND s.started IS NOT NULL{clause} GROUP BY 1",
                              [start.isoformat(), *values]) as c:
            for hour, seconds in await c.fetchall():
                if hour in slot:
                    durations[slot[hour]] = round(seconds, 3)
        return last_day, queue, failures, finished, durations

    async def document_figures():
        doc_where, doc_values = ("deleted IS NULL AND tenant = ?", [ctx.who.tenant]) if ctx.who.tenant else (
            "deleted IS NULL", [])
        async with db.execute(f"SELECT count(*), coalesce(sum(size), 0) FROM documents WHERE {doc_where}",
                              doc_values) as c:
            documents, stored = await c.fetchone()
        return documents, stored

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
