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
from urllib.parse import urlencode

import attrs

from paperchain_sdk import InputError

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


def _runs_from(tenant: str) -> tuple[str, str, list]:
    """FROM and WHERE parts for runs the tenant may see (its batches'; all for the operator)."""
    if tenant:
        return "FROM runs r JOIN batches b ON b.id = r.batch_id", " AND b.tenant = ?", [tenant]
    return "FROM runs r", "", []


def _documents_scope(tenant: str) -> tuple[str, list]:
    return (" AND d.tenant = ?", [tenant]) if tenant else ("", [])


async def _rows(db, sql: str, values: list) -> list[tuple]:
    async with db.execute(sql, values) as cursor:
        return list(await cursor.fetchall())


# -- series -----------------------------------------------------------------------------------


async def documents_per_day(db, tenant: str, p: Period) -> list[DocumentsDay]:
    scope, values = _documents_scope(tenant)
    # A person's upload records who made it; a document a workflow ingested from a path takes the
    # source of a run that names it (one index lookup: runs(document_id); a batch's runs share it).
    sql = ("SELECT substr(d.created, 1, 10), d.media_type, CASE WHEN d.created_by IS NOT NULL THEN 'upload' ELSE "
           "coalesce((SELECT r.source FROM runs r WHERE r.document_id = d.id LIMIT 1), 'unknown') "
           "END, count(*) FROM documents d WHERE d.created >= ? AND d.deleted IS NULL" + scope +
           " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
    return [DocumentsDay(*row) for row in await _rows(db, sql, [p.start, *values])]


async def runs_per_day(db, tenant: str, p: Period) -> list[RunsDay]:
    source, scope, values = _runs_from(tenant)
    sql = (f"SELECT substr(r.created, 1, 10), r.workflow, r.status, count(*) {source} WHERE r.created >= ?{scope} "
           "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
    return [RunsDay(*row) for row in await _rows(db, sql, [p.start, *values])]


def _steps_from(tenant: str) -> tuple[str, str, list]:
    """FROM and WHERE parts for finished steps the tenant may see (through their run's batch)."""
    if tenant:
        return ("FROM steps s JOIN runs r ON r.id = s.run_id JOIN batches b ON b.id = r.batch_id",
                " AND b.tenant = ?", [tenant])
    return "FROM steps s", "", []


def _percentiles_sql(bucket: str, tenant: str) -> tuple[str, list]:
    """Per (bucket, component): count, p50 and p95 of the seconds of steps finished since the
    first parameter, by nearest rank (the smallest n with n >= q * count), worked out with window
    functions in the database."""
    source, scope, values = _steps_from(tenant)
    return (
        "WITH timed AS (SELECT " + bucket + " AS bucket, s.uses AS component, "
        "(julianday(s.finished) - julianday(s.started)) * 86400.0 AS seconds "
        f"{source} WHERE s.finished >= ? AND s.started IS NOT NULL AND s.status IN ('succeeded', 'failed'){scope}), "
        "ranked AS (SELECT bucket, component, seconds, "
        "row_number() OVER (PARTITION BY bucket, component ORDER BY seconds) AS n, "
        "count(*) OVER (PARTITION BY bucket, component) AS total FROM timed) "
        "SELECT bucket, component, total, "
        "min(CASE WHEN n >= 0.5 * total AND n - 1 < 0.5 * total THEN seconds END), "
        "min(CASE WHEN n >= 0.95 * total AND n - 1 < 0.95 * total THEN seconds END) "
        "FROM ranked GROUP BY bucket, component ORDER BY bucket, component"
    ), values


async def step_durations(db, tenant: str, p: Period) -> list[StepDurations]:
    sql, values = _percentiles_sql("substr(s.finished, 1, 10)", tenant)  # steps(finished) is indexed
    return [StepDurations(day, component, total, round(p50, 3), round(p95, 3))
            for day, component, total, p50, p95 in await _rows(db, sql, [p.start, *values])]


def _runs_link(**filters) -> str:
    return "/runs?" + urlencode({k: v for k, v in filters.items() if v})


async def failure_reasons(db, tenant: str, p: Period, limit: int = TOP) -> list[FailureReason]:
    source, scope, values = _runs_from(tenant)
    # SQLite gives the bare columns of the row holding max(): the latest failed run of each group.
    sql = (f"SELECT substr(coalesce(r.error, ''), 1, 300), r.workflow, count(*), max(r.created), r.id, r.finished "
           f"{source} WHERE r.status = 'failed' AND r.created >= ?{scope} GROUP BY 1, 2 "
           "ORDER BY 3 DESC, 4 DESC LIMIT ?")
    return [FailureReason(reason=reason, workflow=workflow, runs=n, latest_run=run_id, latest=finished,
                          link=_runs_link(status="failed", workflow=workflow, since=p.start))
            for reason, workflow, n, _, run_id, finished in await _rows(db, sql, [p.start, *values, limit])]


def _terms_from(analyzer: str, tenant: str, p: Period) -> tuple[str, list]:
    """FROM .. WHERE for what one analyzer's findings in the period, of the tenant's live
    documents, hold: ``finding_terms`` (schema v14), which triggers fill from each finding's JSON
    as it is written, so no request parses JSON. Its rows are distinct per document (one finding
    per document and analyzer; a keyword or entity once per finding), so ``count(*)`` counts
    documents."""
    scope, values = _documents_scope(tenant)
    return ("FROM finding_terms t JOIN documents d ON d.id = t.document_id "
            f"WHERE t.analyzer = ? AND t.created >= ? AND d.deleted IS NULL{scope}", [analyzer, p.start, *values])


async def corpus(db, tenant: str, p: Period, limit: int = TOP) -> Corpus:
    """The most frequent keywords and entities, and the language mix, of the documents analyzed in
    the period (each counted once per document). A malformed item is skipped, never an error."""
    where, values = _terms_from(KEYWORDS, tenant, p)
    keywords = await _rows(db, f"SELECT t.term, count(*) {where} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
                           [*values, limit])
    where, values = _terms_from(ENTITIES, tenant, p)
    entities = await _rows(db, f"SELECT t.kind, t.term, count(*) {where} GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT ?",
                           [*values, limit])
    where, values = _terms_from(LANGUAGE, tenant, p)
    languages = await _rows(db, f"SELECT t.term, count(*) {where} GROUP BY 1 ORDER BY 2 DESC, 1", values)
    return Corpus(keywords=[TermCount(*r) for r in keywords], entities=[EntityCount(*r) for r in entities],
                  languages=[LanguageCount(*r) for r in languages])


async def _first_event_since(db, moment: str) -> int:
    """The sequence number of the first event at or after ``moment``. The log's sequence follows
    its time, so a binary search over ``seq`` (primary-key lookups) lets a query read only the
    period's events instead of the whole log."""
    # Two queries: min() and max() each read one end of the primary key; together they scan.
    low = (await _rows(db, "SELECT coalesce(min(seq), 0) FROM events", []))[0][0]
    high = (await _rows(db, "SELECT coalesce(max(seq), 0) + 1 FROM events", []))[0][0]
    while low < high:
        middle = (low + high) // 2
        found = await _rows(db, "SELECT time FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", [middle])
        if found and found[0][0] < moment:
            low = middle + 1
        else:
            high = middle
    return low


async def duplicates_per_day(db, tenant: str, p: Period) -> list[DuplicatesDay]:
    scope, values = _documents_scope(tenant)
    # The same bytes uploaded again keep their one document row; the event log still records each
    # ingestion. One is a repeat unless it is the first ever of its document (the row's created
    # time is the first ingestion's: an event in the period for a document created before it is
    # a repeat, and within the period every one after the first is).
    exact = await _rows(db, (
        "WITH ingested AS (SELECT e.time, d.created, row_number() OVER (PARTITION BY e.subject ORDER BY e.seq) AS n "
        "FROM events e JOIN documents d ON d.id = e.subject WHERE e.seq >= ? AND e.type = 'document.ingested' "
        f"AND e.time >= ?{scope}) SELECT substr(time, 1, 10), count(*) FROM ingested WHERE n > 1 OR created < ? "
        "GROUP BY 1"), [await _first_event_since(db, p.start), p.start, *values, p.start])
    where, values = _terms_from(NEAR_DUPLICATES, tenant, p)  # a row for each finding that names one
    near = await _rows(db, f"SELECT substr(t.created, 1, 10), count(*) {where} GROUP BY 1", values)
    days: dict[str, list[int]] = {}
    for index, rows in ((0, exact), (1, near)):
        for day, n in rows:
            days.setdefault(day, [0, 0])[index] = n
    return [DuplicatesDay(day, exact=n[0], near=n[1]) for day, n in sorted(days.items())]


# -- insights ---------------------------------------------------------------------------------


def _weeks(today: date) -> tuple[Period, str]:
    """The 14 days the insights read, and the first day of "this week"."""
    two_weeks = period(14, today=today)
    return two_weeks, (today - timedelta(days=6)).isoformat()


async def insights(db, tenant: str, *, today: date | None = None) -> list[Insight]:
    """Insights (without their sentences: ``web.routes.analytics.describe`` writes them)."""
    today = today or datetime.now(UTC).date()
    weeks, this_week = _weeks(today)
    found = []
    source, scope, values = _runs_from(tenant)
    rates = await _rows(db, (
        "SELECT r.workflow, r.created >= ? AS recent, count(*), sum(r.status = 'failed') "
        f"{source} WHERE r.created >= ? AND r.status IN ('succeeded', 'failed'){scope} GROUP BY 1, 2"),
        [this_week, weeks.start, *values])
    by_workflow: dict[str, dict[int, tuple[int, int]]] = {}
    for workflow, recent, total, failed in rates:
        by_workflow.setdefault(workflow, {})[recent] = (total, failed)
    for workflow, weeks_of in sorted(by_workflow.items()):
        (before_total, before_failed), (now_total, now_failed) = weeks_of.get(0, (0, 0)), weeks_of.get(1, (0, 0))
        if min(before_total, now_total) < FAILURE_MIN_RUNS:
            continue
        before, now = before_failed / before_total, now_failed / now_total
        if now - before >= FAILURE_RISE:
            found.append(Insight(kind="failure_rate_rose", subject=workflow, before=round(before, 4), now=round(now, 4),
                                 count=now_failed, link=_runs_link(status="failed", workflow=workflow, since=this_week)))
    bucket = f"CASE WHEN s.finished >= '{this_week}' THEN 1 ELSE 0 END"  # a date we made, not user text
    medians: dict[str, dict[int, tuple[int, float]]] = {}
    sql, values = _percentiles_sql(bucket, tenant)
    for recent, component, total, p50, _ in await _rows(db, sql, [weeks.start, *values]):
        medians.setdefault(component, {})[recent] = (total, p50)
    for component, weeks_of in sorted(medians.items()):
        if 0 not in weeks_of or 1 not in weeks_of or min(weeks_of[0][0], weeks_of[1][0]) < STEP_MIN_SAMPLES:
            continue
        before, now = weeks_of[0][1], weeks_of[1][1]
        if now >= STEP_FLOOR_SECONDS and now >= STEP_FACTOR * before:
            found.append(Insight(kind="step_slower", subject=component, before=round(before, 3), now=round(now, 3),
                                 count=weeks_of[1][0], link="/analytics?days=14#steps"))
    before_count = now_count = 0
    for day in await duplicates_per_day(db, tenant, weeks):
        if day.day >= this_week:
            now_count += day.exact + day.near
        else:
            before_count += day.exact + day.near
    if now_count >= DUPLICATE_MIN and now_count >= DUPLICATE_FACTOR * before_count:
        found.append(Insight(kind="duplicate_spike", subject="", before=before_count, now=now_count, count=now_count,
                             link="/analytics?days=14#duplicates"))
    return found


async def overview(db, tenant: str, p: Period) -> Overview:
    """Every figure of the period for the tenant (insights without their sentences)."""
    words = await corpus(db, tenant, p)
    return Overview(days=p.days, since=p.start, until=p.until.isoformat(),
                    documents=await documents_per_day(db, tenant, p), runs=await runs_per_day(db, tenant, p),
                    steps=await step_durations(db, tenant, p), failures=await failure_reasons(db, tenant, p),
                    keywords=words.keywords, entities=words.entities, languages=words.languages,
                    duplicates=await duplicates_per_day(db, tenant, p), insights=await insights(db, tenant))


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
    """``figure(db, tenant, p)`` (or ``figure(db, tenant)`` for the insights), computed once and
    kept until a kernel event that could change it, for the API and the page alike. The key holds
    the tenant, the period's days and today's date, so an answer is never another tenant's and a
    new day computes afresh. Callers must not change what they get (it is shared)."""
    if p is None:
        key, compute = (figure.__name__, tenant, datetime.now(UTC).date()), lambda: figure(kernel.db, tenant)
    else:
        key, compute = (figure.__name__, tenant, p), lambda: figure(kernel.db, tenant, p)
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
