"""Analytics: what happened over a period, aggregated in SQL and scoped to one tenant.

The API (``api/routes/analytics.py``) and the page (``web/routes/analytics.py``) both answer from
these functions, so their numbers are the same. Every query groups in the database and returns
one row per (day, group): no document, run or step row ever leaves it. A caller with a tenant
sees only its own: runs through the tenant their batch recorded, documents and their findings
through the document's tenant, events through the document they name. The operator (no tenant)
sees the whole deployment, as on every other page.

Days are UTC calendar days, read from the ISO timestamps the kernel writes (``substr(t, 1, 10)``).

At scale (100,000 documents) parsing every finding's JSON per request took seconds, so the corpus
and near-duplicate figures read ``finding_terms``, which triggers fill as each finding is written
(schema v14), and the routes answer through ``kept``: each figure computed once per tenant and
period and kept until a document, run, batch or step event (or KEPT_SECONDS).

Insights compare the last 7 days with the 7 before them, whatever the chosen period; each rule's
thresholds are the constants below, so a sentence only appears when the evidence is large enough
to mean something.
"""

from __future__ import annotations

import weakref
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import attrs
import sqlalchemy as sa

from paperchain_sdk import InputError

from .store.portable import seconds_between
from .store.tables import batches, documents, events, finding_terms, runs, steps

DEFAULT_DAYS = 30
MAX_DAYS = 365
TOP = 20  # keywords, entities and failure reasons listed

# Analyzers whose findings feed the corpus figures (plugins/text: their ``data`` shapes).
LANGUAGE, KEYWORDS, ENTITIES, NEAR_DUPLICATES = "text.language", "text.keywords", "text.entities", "text.near_duplicates"

# -- insight thresholds (this week = the last 7 days; the week before = the 7 days before that) --
# A workflow's failure rate "rose": at least FAILURE_MIN_RUNS finished runs in each week, and the
# share that failed went up by at least FAILURE_RISE (0.2 = 20 percentage points).
FAILURE_MIN_RUNS = 5
FAILURE_RISE = 0.2
# A component's median step duration "doubled": at least STEP_MIN_SAMPLES finished steps in each
# week, this week's median at least STEP_FACTOR times the week before's and at least
# STEP_FLOOR_SECONDS (a step going from 10 ms to 20 ms is noise, not news).
STEP_MIN_SAMPLES = 5
STEP_FACTOR = 2.0
STEP_FLOOR_SECONDS = 1.0
# A "spike" of duplicate uploads (the same bytes stored again, or a near-duplicate found): at least
# DUPLICATE_MIN this week and at least DUPLICATE_FACTOR times the week before's count.
DUPLICATE_MIN = 5
DUPLICATE_FACTOR = 2.0


@attrs.frozen
class Period:
    """The UTC days ``since`` .. ``until`` (both included): the last ``days`` days up to today."""

    days: int
    since: date
    until: date

    @property
    def start(self) -> str:
        return self.since.isoformat()

    def day_list(self) -> list[str]:
        return [(self.since + timedelta(days=i)).isoformat() for i in range(self.days)]


def period(days: object = DEFAULT_DAYS, *, today: date | None = None) -> Period:
    """The period of the last ``days`` days (1 to MAX_DAYS); anything else is a clear InputError."""
    if isinstance(days, str):
        text = days.strip()
        days = int(text) if text.isascii() and text.isdigit() and len(text) < 5 else None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InputError(f"days must be a whole number of days from 1 to {MAX_DAYS}.",
                         hint=f"e.g. days={DEFAULT_DAYS} for the last {DEFAULT_DAYS} days")
    today = today or datetime.now(UTC).date()
    return Period(days=days, since=today - timedelta(days=days - 1), until=today)


# -- answers (the API's response classes too) ---------------------------------------------------


@attrs.define
class DocumentsDay:
    """Documents ingested on one day, of one media type, from one source ('upload' for a person's
    upload; otherwise the source of the run that ingested it: cli, api, trigger:<name> …)."""

    day: str
    media_type: str
    source: str
    documents: int


@attrs.define
class RunsDay:
    """Runs created on one day, of one workflow, now in one state."""

    day: str
    workflow: str
    state: str
    runs: int


@attrs.define
class StepDurations:
    """The finished steps of one component on one day: how many, and their median and 95th
    percentile duration in seconds (nearest rank)."""

    day: str
    component: str
    steps: int
    p50: float
    p95: float


@attrs.define
class FailureReason:
    """Failed runs of one workflow with one error, the latest of them, and where to see them all."""

    reason: str
    workflow: str
    runs: int
    latest_run: str
    latest: str | None
    link: str


@attrs.define
class TermCount:
    """A keyword, and how many documents it is a key phrase of."""

    term: str
    documents: int


@attrs.define
class EntityCount:
    """An entity (kind: emails, urls, phone_numbers, dates, money, ibans, vat_numbers) and how many
    documents mention it."""

    kind: str
    text: str
    documents: int


@attrs.define
class LanguageCount:
    """A detected language ('' when the text had none) and how many documents are in it."""

    language: str
    documents: int


@attrs.define
class DuplicatesDay:
    """Duplicate uploads on one day: the same bytes stored again (``exact``, from the event log) and
    documents the near-duplicate analyzer found a match for (``near``)."""

    day: str
    exact: int
    near: int


@attrs.define
class Insight:
    """A finding about this week against the week before; ``text`` is the sentence (in the
    caller's language), ``link`` its evidence."""

    kind: str  # failure_rate_rose | step_slower | duplicate_spike
    subject: str  # the workflow or component ('' for the duplicates)
    before: float
    now: float
    count: int  # this week's failed runs, timed steps or duplicate uploads
    link: str
    text: str = ""


@attrs.define
class Corpus:
    keywords: list[TermCount]
    entities: list[EntityCount]
    languages: list[LanguageCount]


@attrs.define
class Overview:
    """Every figure of the analytics page for the last ``days`` days (``since`` .. ``until``)."""

    days: int
    since: str
    until: str
    documents: list[DocumentsDay]
    runs: list[RunsDay]
    steps: list[StepDurations]
    failures: list[FailureReason]
    keywords: list[TermCount]
    entities: list[EntityCount]
    languages: list[LanguageCount]
    duplicates: list[DuplicatesDay]
    insights: list[Insight]


# -- scoping ----------------------------------------------------------------------------------
# Grouped columns are labelled with names no table here has, since PostgreSQL reads a GROUP BY
# name as an input column first.


def _runs_from(tenant: str) -> tuple[Any, list]:
    """What to select runs the tenant may see from (its batches'; all for the operator), and the condition."""
    if tenant:
        return runs.join(batches, batches.c.id == runs.c.batch_id), [batches.c.tenant == tenant]
    return runs, []


def _documents_scope(tenant: str) -> list:
    return [documents.c.tenant == tenant] if tenant else []


def _day(column) -> sa.ColumnElement:
    """The UTC calendar day of an ISO timestamp column."""
    return sa.func.substr(column, 1, 10)


# -- series -----------------------------------------------------------------------------------


async def documents_per_day(sql, tenant: str, p: Period) -> list[DocumentsDay]:
    d = documents.c
    # A person's upload records who made it; a document a workflow ingested from a path takes the
    # source of a run that names it (one index lookup: runs(document_id); a batch's runs share it).
    ingesting = sa.select(runs.c.source).where(runs.c.document_id == d.id).limit(1).scalar_subquery()
    day = _day(d.created).label("on_day")
    source = sa.case((d.created_by.is_not(None), "upload"),
                     else_=sa.func.coalesce(ingesting, "unknown")).label("came_from")
    rows = await sql.read(sa.select(day, d.media_type, source, sa.func.count().label("n"))
                          .where(d.created >= p.start, d.deleted.is_(None), *_documents_scope(tenant))
                          .group_by(day, d.media_type, source).order_by(day, d.media_type, source))
    return [DocumentsDay(r.on_day, r.media_type, r.came_from, r.n) for r in rows]


async def runs_per_day(sql, tenant: str, p: Period) -> list[RunsDay]:
    source, scope = _runs_from(tenant)
    r = runs.c
    day = _day(r.created).label("on_day")
    rows = await sql.read(sa.select(day, r.workflow, r.status, sa.func.count().label("n")).select_from(source)
                          .where(r.created >= p.start, *scope)
                          .group_by(day, r.workflow, r.status).order_by(day, r.workflow, r.status))
    return [RunsDay(row.on_day, row.workflow, row.status, row.n) for row in rows]


def _steps_from(tenant: str) -> tuple[Any, list]:
    """What to select finished steps the tenant may see from (through their run's batch), and the condition."""
    if tenant:
        return (steps.join(runs, runs.c.id == steps.c.run_id).join(batches, batches.c.id == runs.c.batch_id),
                [batches.c.tenant == tenant])
    return steps, []


def _percentiles(bucket: sa.ColumnElement, tenant: str, since: str) -> sa.Select:
    """Per (bucket, component): count, p50 and p95 of the seconds of steps finished since ``since``,
    by nearest rank (the smallest n with n >= q * count), worked out with window functions in the
    database."""
    source, scope = _steps_from(tenant)
    s = steps.c
    timed = (sa.select(bucket.label("bucket"), s.uses.label("component"),
                       seconds_between(s.started, s.finished).label("seconds")).select_from(source)
             .where(s.finished >= since, s.started.is_not(None), s.status.in_(("succeeded", "failed")), *scope)
             .cte("timed"))
    group = (timed.c.bucket, timed.c.component)
    ranked = sa.select(*group, timed.c.seconds,
                       sa.func.row_number().over(partition_by=group, order_by=timed.c.seconds).label("n"),
                       sa.func.count().over(partition_by=group).label("total")).cte("ranked")
    n, total = ranked.c.n, ranked.c.total

    def rank(q: float):
        return sa.func.min(sa.case((sa.and_(n >= q * total, n - 1 < q * total), ranked.c.seconds)))

    return (sa.select(ranked.c.bucket, ranked.c.component, total, rank(0.5).label("p50"), rank(0.95).label("p95"))
            .group_by(ranked.c.bucket, ranked.c.component, total)  # one total per group
            .order_by(ranked.c.bucket, ranked.c.component))


async def step_durations(sql, tenant: str, p: Period) -> list[StepDurations]:
    rows = await sql.read(_percentiles(_day(steps.c.finished), tenant, p.start))  # steps(finished) is indexed
    return [StepDurations(r.bucket, r.component, r.total, round(r.p50, 3), round(r.p95, 3)) for r in rows]


def _runs_link(**filters) -> str:
    return "/runs?" + urlencode({k: v for k, v in filters.items() if v})


async def failure_reasons(sql, tenant: str, p: Period, limit: int = TOP) -> list[FailureReason]:
    source, scope = _runs_from(tenant)
    r = runs.c
    reason = sa.func.substr(sa.func.coalesce(r.error, ""), 1, 300)
    group = (reason, r.workflow)
    # Each failed run with its group's size and its place in the group, newest first: the first is the latest.
    failed = (sa.select(reason.label("reason"), r.workflow, r.id, r.created, r.finished,
                        sa.func.count().over(partition_by=group).label("n"),
                        sa.func.row_number().over(partition_by=group, order_by=(r.created.desc(), r.id.desc()))
                        .label("place"))
              .select_from(source).where(r.status == "failed", r.created >= p.start, *scope).cte("failed"))
    f = failed.c
    rows = await sql.read(sa.select(f.reason, f.workflow, f.n, f.id, f.finished).where(f.place == 1)
                          .order_by(f.n.desc(), f.created.desc(), f.reason, f.workflow).limit(limit))
    return [FailureReason(reason=row.reason, workflow=row.workflow, runs=row.n, latest_run=row.id, latest=row.finished,
                          link=_runs_link(status="failed", workflow=row.workflow, since=p.start))
            for row in rows]


def _terms(analyzer: str, tenant: str, p: Period, *columns) -> sa.Select:
    """``columns`` of what one analyzer's findings in the period, of the tenant's live documents,
    hold: ``finding_terms`` (schema v14), which triggers fill from each finding's JSON as it is
    written, so no request parses JSON. Its rows are distinct per document (one finding per
    document and analyzer; a keyword or entity once per finding), so ``count()`` counts documents."""
    t = finding_terms.c
    return (sa.select(*columns, sa.func.count().label("n"))
            .select_from(finding_terms.join(documents, documents.c.id == t.document_id))
            .where(t.analyzer == analyzer, t.created >= p.start, documents.c.deleted.is_(None),
                   *_documents_scope(tenant)))


async def corpus(sql, tenant: str, p: Period, limit: int = TOP) -> Corpus:
    """The most frequent keywords and entities, and the language mix, of the documents analyzed in
    the period (each counted once per document). A malformed item is skipped, never an error."""
    t = finding_terms.c
    n = sa.literal_column("n", sa.Integer)  # the count _terms labels
    keywords = await sql.read(_terms(KEYWORDS, tenant, p, t.term).group_by(t.term)
                              .order_by(n.desc(), t.term).limit(limit))
    entities = await sql.read(_terms(ENTITIES, tenant, p, t.kind, t.term).group_by(t.kind, t.term)
                              .order_by(n.desc(), t.kind, t.term).limit(limit))
    languages = await sql.read(_terms(LANGUAGE, tenant, p, t.term).group_by(t.term).order_by(n.desc(), t.term))
    return Corpus(keywords=[TermCount(r.term, r.n) for r in keywords],
                  entities=[EntityCount(r.kind, r.term, r.n) for r in entities],
                  languages=[LanguageCount(r.term, r.n) for r in languages])


async def _first_event_since(sql, moment: str) -> int:
    """The sequence number of the first event at or after ``moment``. The log's sequence follows
    its time, so a binary search over ``seq`` (primary-key lookups) lets a query read only the
    period's events instead of the whole log."""
    seq = events.c.seq
    # Two queries: min() and max() each read one end of the primary key; together they scan.
    low = await sql.scalar(sa.select(sa.func.coalesce(sa.func.min(seq), 0)))
    high = await sql.scalar(sa.select(sa.func.coalesce(sa.func.max(seq), 0) + 1))
    while low < high:
        middle = (low + high) // 2
        found = await sql.scalar(sa.select(events.c.time).where(seq >= middle).order_by(seq).limit(1))
        if found is not None and found < moment:
            low = middle + 1
        else:
            high = middle
    return low


async def duplicates_per_day(sql, tenant: str, p: Period) -> list[DuplicatesDay]:
    e, d = events.c, documents.c
    # The same bytes uploaded again keep their one document row; the event log still records each
    # ingestion. One is a repeat unless it is the first ever of its document (the row's created
    # time is the first ingestion's: an event in the period for a document created before it is
    # a repeat, and within the period every one after the first is).
    first = await _first_event_since(sql, p.start)
    ingested = (sa.select(e.time, d.created, sa.func.row_number().over(partition_by=e.subject, order_by=e.seq)
                          .label("n"))
                .select_from(events.join(documents, d.id == e.subject))
                .where(e.seq >= first, e.type == "document.ingested", e.time >= p.start, *_documents_scope(tenant))
                .cte("ingested"))
    day = _day(ingested.c.time).label("on_day")
    exact = await sql.read(sa.select(day, sa.func.count().label("n"))
                           .where(sa.or_(ingested.c.n > 1, ingested.c.created < p.start)).group_by(day))
    near_day = _day(finding_terms.c.created).label("on_day")  # a row for each finding that names one
    near = await sql.read(_terms(NEAR_DUPLICATES, tenant, p, near_day).group_by(near_day))
    days: dict[str, list[int]] = {}
    for index, rows in ((0, exact), (1, near)):
        for row in rows:
            days.setdefault(row.on_day, [0, 0])[index] = row.n
    return [DuplicatesDay(day, exact=n[0], near=n[1]) for day, n in sorted(days.items())]


# -- insights ---------------------------------------------------------------------------------


def _weeks(today: date) -> tuple[Period, str]:
    """The 14 days the insights read, and the first day of "this week"."""
    two_weeks = period(14, today=today)
    return two_weeks, (today - timedelta(days=6)).isoformat()


async def insights(sql, tenant: str, *, today: date | None = None) -> list[Insight]:
    """Insights (without their sentences: ``web.routes.analytics.describe`` writes them)."""
    today = today or datetime.now(UTC).date()
    weeks, this_week = _weeks(today)
    found = []
    source, scope = _runs_from(tenant)
    r = runs.c
    recent = sa.case((r.created >= this_week, 1), else_=0).label("recent")
    rates = await sql.read(sa.select(r.workflow, recent, sa.func.count().label("total"),
                                     sa.func.sum(sa.case((r.status == "failed", 1), else_=0)).label("failed"))
                           .select_from(source)
                           .where(r.created >= weeks.start, r.status.in_(("succeeded", "failed")), *scope)
                           .group_by(r.workflow, recent))
    by_workflow: dict[str, dict[int, tuple[int, int]]] = {}
    for row in rates:
        by_workflow.setdefault(row.workflow, {})[row.recent] = (row.total, row.failed)
    for workflow, weeks_of in sorted(by_workflow.items()):
        (before_total, before_failed), (now_total, now_failed) = weeks_of.get(0, (0, 0)), weeks_of.get(1, (0, 0))
        if min(before_total, now_total) < FAILURE_MIN_RUNS:
            continue
        before, now = before_failed / before_total, now_failed / now_total
        if now - before >= FAILURE_RISE:
            found.append(Insight(kind="failure_rate_rose", subject=workflow, before=round(before, 4), now=round(now, 4),
                                 count=now_failed, link=_runs_link(status="failed", workflow=workflow, since=this_week)))
    this_or_last = sa.case((steps.c.finished >= this_week, 1), else_=0)
    medians: dict[str, dict[int, tuple[int, float]]] = {}
    for row in await sql.read(_percentiles(this_or_last, tenant, weeks.start)):
        medians.setdefault(row.component, {})[row.bucket] = (row.total, row.p50)
    for component, timed in sorted(medians.items()):
        if 0 not in timed or 1 not in timed or min(timed[0][0], timed[1][0]) < STEP_MIN_SAMPLES:
            continue
        before, now = timed[0][1], timed[1][1]
        if now >= STEP_FLOOR_SECONDS and now >= STEP_FACTOR * before:
            found.append(Insight(kind="step_slower", subject=component, before=round(before, 3), now=round(now, 3),
                                 count=timed[1][0], link="/analytics?days=14#steps"))
    before_count = now_count = 0
    for day in await duplicates_per_day(sql, tenant, weeks):
        if day.day >= this_week:
            now_count += day.exact + day.near
        else:
            before_count += day.exact + day.near
    if now_count >= DUPLICATE_MIN and now_count >= DUPLICATE_FACTOR * before_count:
        found.append(Insight(kind="duplicate_spike", subject="", before=before_count, now=now_count, count=now_count,
                             link="/analytics?days=14#duplicates"))
    return found


async def overview(sql, tenant: str, p: Period) -> Overview:
    """Every figure of the period for the tenant (insights without their sentences); ``sql`` is kernel.sql."""
    words = await corpus(sql, tenant, p)
    return Overview(days=p.days, since=p.start, until=p.until.isoformat(),
                    documents=await documents_per_day(sql, tenant, p), runs=await runs_per_day(sql, tenant, p),
                    steps=await step_durations(sql, tenant, p), failures=await failure_reasons(sql, tenant, p),
                    keywords=words.keywords, entities=words.entities, languages=words.languages,
                    duplicates=await duplicates_per_day(sql, tenant, p), insights=await insights(sql, tenant))


# -- kept answers -----------------------------------------------------------------------------

# What can change a figure: a document ingested or deleted, a run or batch written, a step
# finished (with its findings). A write that sends no event shows within KEPT_SECONDS.
CHANGES = ("document.", "run.", "batch.", "step.")
KEPT_SECONDS = 30.0
_kept: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cache(kernel):
    from .web.cache import EventCache  # the home page's kind of cache (importing web here would be circular)

    if kernel not in _kept:
        _kept[kernel] = EventCache(kernel, CHANGES, ttl=KEPT_SECONDS)
    return _kept[kernel]


async def kept(kernel, tenant: str, figure, p: Period | None = None):
    """``figure(kernel.sql, tenant, p)`` (or ``figure(kernel.sql, tenant)`` for the insights), computed once and
    kept until a kernel event that could change it, for the API and the page alike. The key holds
    the tenant, the period's days and today's date, so an answer is never another tenant's and a
    new day computes afresh. Callers must not change what they get (it is shared)."""
    key: tuple
    if p is None:
        key, compute = (figure.__name__, tenant, datetime.now(UTC).date()), lambda: figure(kernel.sql, tenant)
    else:
        key, compute = (figure.__name__, tenant, p), lambda: figure(kernel.sql, tenant, p)
    return await _cache(kernel).get(key, compute)


async def kept_overview(kernel, tenant: str, p: Period) -> Overview:
    """``overview`` from the kept figures: a new Overview each time, its lists shared."""
    words = await kept(kernel, tenant, corpus, p)
    return Overview(days=p.days, since=p.start, until=p.until.isoformat(),
                    documents=await kept(kernel, tenant, documents_per_day, p),
                    runs=await kept(kernel, tenant, runs_per_day, p), steps=await kept(kernel, tenant, step_durations, p),
                    failures=await kept(kernel, tenant, failure_reasons, p), keywords=words.keywords,
                    entities=words.entities, languages=words.languages,
                    duplicates=await kept(kernel, tenant, duplicates_per_day, p),
                    insights=await kept(kernel, tenant, insights))
