"""Analytics: the period's documents, runs, step durations, failures, corpus and duplicates as
charts (uPlot, drawn by analytics.js from a non-executable JSON block) each with its numbers as a
table, and the insights at the top.

The figures come from ``paperchain.analytics``, the functions the API's analytics routes answer
from; this module also writes the insights' sentences (the API's too), so every string is in the
web catalog.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import attrs
from babel import dates, numbers

from paperchain_sdk import InputError

from ... import analytics
from ...api.guard import STATE
from ..guard import PageError, page
from ..render import render

PERIODS = (7, 14, 30, 90, 365)
MAX_SERIES = 8  # lines per chart; the table keeps every group


def describe(insight: analytics.Insight, gettext, fmt) -> str:
    """The insight as a sentence in the caller's language, numbers written by Babel."""
    def percent(value: float) -> str:
        return numbers.format_percent(value, locale=fmt.locale)

    if insight.kind == "failure_rate_rose":
        return gettext("Workflow %(workflow)s: %(now)s of its finished runs failed this week, up from %(before)s the "
                       "week before (%(count)s failed runs).") % {
            "workflow": insight.subject, "now": percent(insight.now), "before": percent(insight.before),
            "count": fmt.number(insight.count)}
    if insight.kind == "step_slower":
        return gettext("Step %(component)s got slower: its median duration went from %(before)s the week before to "
                       "%(now)s this week (%(count)s steps).") % {
            "component": insight.subject, "before": fmt.seconds(insight.before), "now": fmt.seconds(insight.now),
            "count": fmt.number(insight.count)}
    return gettext("A spike of duplicate uploads: %(now)s this week, against %(before)s the week before.") % {
        "now": fmt.number(int(insight.now)), "before": fmt.number(int(insight.before))}


def chosen_period(request, ctx) -> analytics.Period:
    try:
        return analytics.period(request.query.get("days", analytics.DEFAULT_DAYS))
    except InputError:
        raise PageError(400, ctx.gettext("The period must be a whole number of days from 1 to %(max)s.")
                        % {"max": analytics.MAX_DAYS}) from None


def _series(days: list[str], rows, key, value) -> list[dict]:
    """Per group (``key(row)``), one value per day (None for a day without one), biggest groups first."""
    by_group: dict[str, dict[str, float]] = {}
    for row in rows:
        values = by_group.setdefault(key(row), {})
        values[row.day] = values.get(row.day, 0) + value(row)
    ranked = sorted(by_group.items(), key=lambda item: (-sum(item[1].values()), item[0]))[:MAX_SERIES]
    return [{"label": group, "values": [values.get(day) for day in days]} for group, values in ranked]


def _charts(data: analytics.Overview, p: analytics.Period, ctx) -> dict:
    days = p.day_list()
    moments = [int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) for day in days]
    gettext = ctx.gettext
    duplicates = {d.day: d for d in data.duplicates}
    return {"x": moments, "charts": {
        "documents": {"title": gettext("Documents ingested per day"),
                      "series": _series(days, data.documents, lambda r: r.media_type, lambda r: r.documents)},
        "runs": {"title": gettext("Runs per day"),
                 "series": _series(days, data.runs, lambda r: ctx.state_name(r.state), lambda r: r.runs)},
        "steps-p50": {"title": gettext("Median step duration (s)"),
                      "series": _series(days, data.steps, lambda r: r.component, lambda r: r.p50)},
        "steps-p95": {"title": gettext("95th percentile step duration (s)"),
                      "series": _series(days, data.steps, lambda r: r.component, lambda r: r.p95)},
        "duplicates": {"title": gettext("Duplicate uploads per day"), "series": [
            {"label": gettext("Same bytes again"), "values": [duplicates[d].exact if d in duplicates else 0 for d in days]},
            {"label": gettext("Near-duplicates found"),
             "values": [duplicates[d].near if d in duplicates else 0 for d in days]}]},
    }}


def _entity_kinds(gettext) -> dict[str, str]:
    return {"emails": gettext("Email address"), "urls": gettext("Web address"), "phone_numbers": gettext("Phone number"),
            "dates": gettext("Date"), "money": gettext("Amount of money"), "ibans": gettext("IBAN"),
            "vat_numbers": gettext("VAT number"), "people": gettext("Person"),
            "organizations": gettext("Organization"), "places": gettext("Place")}


@page
async def analytics_page(request, ctx):
    p = chosen_period(request, ctx)
    data = await analytics.kept_overview(request.app[STATE].kernel, ctx.who.tenant, p)  # the API's kept figures
    data.insights = [attrs.evolve(i, text=describe(i, ctx.gettext, ctx.fmt)) for i in data.insights]
    periods = sorted({*PERIODS, p.days})
    language_names = ctx.fmt.locale.languages
    return render(request, ctx, "analytics.html", data=data, period=p, periods=periods, charts=_charts(data, p, ctx),
                  number=functools.cache(ctx.fmt.number),  # a table's counts repeat: Babel once per value
                  kinds=_entity_kinds(ctx.gettext), language_name=lambda code: language_names.get(code, code),
                  since=dates.format_date(p.since, "medium", locale=ctx.fmt.locale),
                  until=dates.format_date(p.until, "medium", locale=ctx.fmt.locale))


PAGES = [("GET", "/analytics", analytics_page)]
