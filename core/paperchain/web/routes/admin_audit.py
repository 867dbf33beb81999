"""The audit log for admins: filters (who, action, target, outcome, time range), keyset pages
newest first, the same filters exported as CSV, and the form for the compliance report.

Entries are read with ``Audit.query`` under the API's tenant rule: a tenant's admin reads its
tenant's entries, the deployment's admin every entry (the refusal counts included).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from ...api.guard import STATE
from ..guard import PAGE_HEADERS, page
from ..render import render
from . import admin_compliance

PAGE_SIZE = 50
CSV_BATCH = 1000
OUTCOMES = ("success", "denied", "failed")
CSV_COLUMNS = ("id", "time", "actor", "tenant", "action", "target", "ip", "outcome", "status", "details")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def today() -> date:
    return datetime.now(UTC).date()  # entries' times are UTC, and so are the days of the filters


def scope(ctx) -> str | None:
    """The tenant whose entries this admin reads (None: every entry, for the deployment's admin)."""
    return ctx.who.tenant or None


def day(ctx, value: str, errors: dict, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[field] = ctx.gettext("%(value)s is not a date; use the date picker (YYYY-MM-DD).") % {"value": value}
        return None


def read_filters(request, ctx) -> tuple[dict, dict, dict]:
    """The form's values, the query's arguments and each field's error."""
    q = request.query
    form = {f: q.get(f, "").strip() for f in ("actor", "action", "target", "outcome", "since", "until")}
    errors: dict = {}
    if form["outcome"] and form["outcome"] not in OUTCOMES:
        errors["outcome"] = ctx.gettext("%(value)s is not an outcome; choose success, denied or failed.") % {
            "value": form["outcome"]}
    since, until = day(ctx, form["since"], errors, "since"), day(ctx, form["until"], errors, "until")
    if since and until and until < since:
        errors["until"] = ctx.gettext("The end date is before the start date.")
    args = {"actor": form["actor"] or None, "action": form["action"] or None, "target": form["target"] or None,
            "outcome": form["outcome"] or None, "since": since.isoformat() if since else None,
            # The end day is included: entries before the next day's start.
            "until": (until + timedelta(days=1)).isoformat() if until else None}
    return form, args, errors


def _before(request) -> int | None:
    value = request.query.get("before", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def audit_page(request, ctx, *, status: int = 200, report_errors: dict | None = None,
               report_form: dict | None = None, entries=None, form=None, errors=None, more=None) -> web.Response:
    day_now = today()
    return render(request, ctx, "admin_audit.html", status=status, entries=entries or [], form=form or {},
                  errors=errors or {}, more=more, outcomes=OUTCOMES, query=request.query_string,
                  report_form=report_form or {"since": day_now.replace(day=1).isoformat(), "until": day_now.isoformat()},
                  report_errors=report_errors or {}, export=admin_compliance.exporter_installed(request),
                  ledger=admin_compliance.ledger_installed(request))


@page(role="admin")
async def audit(request, ctx):
    form, args, errors = read_filters(request, ctx)
    if errors:
        return audit_page(request, ctx, status=400, form=form, errors=errors)
    entries = await request.app[STATE].audit.query(**args, tenant=scope(ctx), before=_before(request),
                                                   newest_first=True, limit=PAGE_SIZE + 1)
    more = entries[PAGE_SIZE - 1]["id"] if len(entries) > PAGE_SIZE else None
    return audit_page(request, ctx, entries=entries[:PAGE_SIZE], form=form, more=more)


def safe_cell(value) -> str:
    """A cell a spreadsheet will not run as a formula: text starting with = + - @ (or a tab or
    carriage return) gets a leading apostrophe (OWASP's advice against CSV injection)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


@page(role="admin", audit=True)
async def audit_csv(request, ctx):
    """Every entry the filters select, oldest first, written a thousand at a time."""
    form, args, errors = read_filters(request, ctx)
    if errors:
        return audit_page(request, ctx, status=400, form=form, errors=errors)
    headers = {**PAGE_HEADERS, "Content-Type": "text/csv; charset=utf-8",
               "Content-Disposition": f'attachment; filename="audit-{today().isoformat()}.csv"'}
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    query, after = request.app[STATE].audit.query, 0
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    while True:
        rows = await query(**args, tenant=scope(ctx), after=after, limit=CSV_BATCH)
        for row in rows:
            writer.writerow([safe_cell(row[c]) for c in CSV_COLUMNS])
        await response.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < CSV_BATCH:
            break
        after = rows[-1]["id"]
    await response.write_eof()
    return response


@page(role="admin", audit=True)
async def compliance_pdf(request, ctx):
    """The compliance report for the period in ``since`` and ``until``, as a download."""
    gettext, errors = ctx.gettext, {}
    form = {f: request.query.get(f, "").strip() for f in ("since", "until")}
    since, until = day(ctx, form["since"], errors, "since"), day(ctx, form["until"], errors, "until")
    for field in ("since", "until"):
        if not form[field]:
            errors[field] = gettext("Choose the first and the last day of the period.")
    if since and until and until < since:
        errors["until"] = gettext("The end date is before the start date.")
    if not admin_compliance.exporter_installed(request):
        errors["report"] = gettext("The compliance report is drawn by the export plugin (paperchain-export), "
                                   "which is not installed. Install it and restart Paperchain.")
    if not errors:
        try:
            pdf = await admin_compliance.report(request, ctx, since, until, scope(ctx))
        except admin_compliance.TooManyEntries:
            errors["report"] = gettext("The period holds more than %(n)s entries; choose a shorter one and make "
                                       "one report per part.") % {"n": admin_compliance.MAX_ENTRIES}
    if errors:
        return audit_page(request, ctx, status=400, report_form=form, report_errors=errors)
    name = f"compliance-{since.isoformat()}-{until.isoformat()}.pdf"
    return web.Response(body=pdf, content_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


PAGES = [
    ("GET", "/admin/audit", audit),
    ("GET", "/admin/audit.csv", audit_csv),
    ("GET", "/admin/audit/compliance.pdf", compliance_pdf),
]
