"""Analytics: the caller's tenant's figures over the last ``days`` days, aggregated in the database
(``paperchain.analytics``, which the web page reads too). Insight sentences are written in the
language of ``Accept-Language`` (English or Spanish)."""

from __future__ import annotations

import attrs
from aiohttp import web

from paperchain_sdk.web import endpoint

from ... import analytics
from ...analytics import Corpus, DocumentsDay, DuplicatesDay, FailureReason, Insight, Overview, RunsDay, StepDurations
from .common import kernel, query, reply, who

routes = web.RouteTableDef()


@attrs.define
class AnalyticsQuery:
    days: int = analytics.DEFAULT_DAYS  # 1 to 365, ending today (UTC)


@attrs.define
class DocumentsSeries:
    days: int
    since: str
    until: str
    items: list[DocumentsDay]


@attrs.define
class RunsSeries:
    days: int
    since: str
    until: str
    items: list[RunsDay]


@attrs.define
class StepSeries:
    days: int
    since: str
    until: str
    items: list[StepDurations]


@attrs.define
class FailureList:
    days: int
    since: str
    until: str
    items: list[FailureReason]


@attrs.define
class DuplicatesSeries:
    days: int
    since: str
    until: str
    items: list[DuplicatesDay]


@attrs.define
class CorpusFigures:
    days: int
    since: str
    until: str
    corpus: Corpus


@attrs.define
class InsightList:
    """This week (the last 7 days) against the week before, whatever ``days`` says."""

    items: list[Insight]


def _period(request) -> analytics.Period:
    return analytics.period(query(request, AnalyticsQuery).days)


def _scope(request) -> tuple:
    return kernel(request), who(request).tenant


def _dated(p: analytics.Period) -> dict:
    return {"days": p.days, "since": p.start, "until": p.until.isoformat()}


def _worded(request, insights: list[Insight]) -> list[Insight]:
    from ...web import i18n
    from ...web.routes.analytics import describe

    language = i18n.choose(None, request.headers.get("Accept-Language"))
    gettext, fmt = i18n.translations(language).gettext, i18n.Formatter(language)
    return [attrs.evolve(insight, text=describe(insight, gettext, fmt)) for insight in insights]  # kept ones stay bare


@routes.get("/api/v1/analytics")
@endpoint(summary="Every analytics figure of the last `days` days (default 30) for the caller's tenant, and the "
          "insights", role="viewer", query=AnalyticsQuery, response=Overview, tags=("analytics",))
async def overview(request):
    p = _period(request)
    data = await analytics.kept_overview(*_scope(request), p)
    data.insights = _worded(request, data.insights)
    return reply(data)


def _series(path: str, summary: str, answer: type, compute) -> None:
    """A route answering ``answer(days, since, until, items=compute(db, tenant, period))``."""
    @routes.get(path)
    @endpoint(summary=summary, role="viewer", query=AnalyticsQuery, response=answer, tags=("analytics",))
    async def series(request):
        p = _period(request)
        return reply(answer(**_dated(p), items=await analytics.kept(*_scope(request), compute, p)))


_series("/api/v1/analytics/documents", "Documents ingested per day, by media type and source", DocumentsSeries,
        analytics.documents_per_day)
_series("/api/v1/analytics/runs", "Runs per day, by workflow and state", RunsSeries, analytics.runs_per_day)
_series("/api/v1/analytics/steps", "Median and 95th percentile step duration per component and day", StepSeries,
        analytics.step_durations)
_series("/api/v1/analytics/failures", "The most frequent failure reasons, with counts and a link to the failed runs",
        FailureList, analytics.failure_reasons)
_series("/api/v1/analytics/duplicates", "Duplicate uploads per day: the same bytes again, and near-duplicates found",
        DuplicatesSeries, analytics.duplicates_per_day)


@routes.get("/api/v1/analytics/corpus")
@endpoint(summary="The most frequent keywords and entities and the language mix of the documents analyzed",
          role="viewer", query=AnalyticsQuery, response=CorpusFigures, tags=("analytics",))
async def corpus(request):
    p = _period(request)
    return reply(CorpusFigures(**_dated(p), corpus=await analytics.kept(*_scope(request), analytics.corpus, p)))


@routes.get("/api/v1/analytics/insights")
@endpoint(summary="Insights: sentences about this week against the week before, each linked to its evidence",
          role="viewer", response=InsightList, tags=("analytics",))
async def insights(request):
    return reply(InsightList(items=_worded(request, await analytics.kept(*_scope(request), analytics.insights))))
