"""What keeps the list pages fast at scale: state counts and media types kept until an event says
they changed, and dates, durations and sizes written as Babel writes them without asking it each time."""

from __future__ import annotations

import asyncio
import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from babel import dates, numbers

from paperchain.store import tables
from paperchain.web.cache import EventCache
from paperchain.web.guard import WEB
from paperchain.web.i18n import Formatter

from .conftest import PASSWORD
from .test_documents import upload


class Counter:
    def __init__(self):
        self.calls = 0

    async def __call__(self):
        self.calls += 1
        return self.calls


def event(kind: str):
    return SimpleNamespace(type=kind)


async def test_an_answer_is_kept_until_an_event_of_its_kinds():
    kernel = SimpleNamespace(listeners=[])
    cache, compute = EventCache(kernel, ("run.",), settle=0), Counter()
    assert await cache.get("k", compute) == 1 and await cache.get("k", compute) == 1
    kernel.listeners[0](event("document.ingested"))
    assert await cache.get("k", compute) == 1
    kernel.listeners[0](event("run.succeeded"))
    assert await cache.get("k", compute) == 2 and await cache.get("k", compute) == 2


async def test_an_answer_is_not_kept_past_its_time_nor_when_runs_just_changed():
    kernel = SimpleNamespace(listeners=[])
    expired, compute = EventCache(kernel, ("run.",), ttl=0, settle=0), Counter()
    assert await expired.get("k", compute) == 1 and await expired.get("k", compute) == 2
    settling, compute = EventCache(kernel, ("run.",), settle=60), Counter()
    kernel.listeners[-1](event("run.started"))  # its row may not be committed yet
    assert await settling.get("k", compute) == 1 and await settling.get("k", compute) == 2


async def test_an_answer_computed_while_an_event_arrives_is_not_kept():
    kernel = SimpleNamespace(listeners=[])
    cache, calls = EventCache(kernel, ("run.",), settle=0), []

    async def slow():
        calls.append(1)
        kernel.listeners[0](event("run.failed"))
        await asyncio.sleep(0)
        return len(calls)

    assert await cache.get("k", slow) == 1 and await cache.get("k", slow) == 2


async def test_the_state_chips_count_a_run_that_finished_after_the_page_was_counted(site, database_url):
    site.app[WEB].runs.settle = 0  # keep counts even right after an event, to see events drop them
    await site.request("POST", "/api/v1/workflows",
                       json={"name": "quick", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}]})
    b = await site.browser().login("vera")
    for expected in (1, 2):
        await site.wait_run((await site.request("POST", "/api/v1/runs", json={"workflow": "quick"})).json["runs"][0])
        for page in ("/runs", "/runs?workflow=quick", "/runs"):
            _, _, text = await b.get(page)
            assert re.search(rf'data-state-count="succeeded">{expected}<', text), page


async def test_the_media_type_filter_offers_a_type_uploaded_after_the_page_was_seen(site):
    site.app[WEB].documents.settle = 0
    await upload(site, "scan.pdf", b"%PDF-1.4\n%%EOF\n")
    b = await site.browser().login("vera")
    assert '>text/plain</option>' not in (await b.get("/documents"))[2]
    await upload(site, "note.txt", b"plain words")
    await site.kernel.journal.flush()
    assert '>text/plain</option>' in (await b.get("/documents"))[2]


@pytest.mark.parametrize("language", ["en", "es"])
def test_dates_durations_and_sizes_read_as_babel_writes_them(language):
    fmt, rng = Formatter(language), random.Random(14)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for _ in range(2000):
        moment = start + timedelta(seconds=rng.randint(0, 10**9), microseconds=rng.randint(0, 999_999))
        for value in (moment, moment.replace(tzinfo=None), moment.astimezone(timezone(timedelta(hours=-5)))):
            expected = dates.format_datetime(moment, "medium", tzinfo=UTC, locale=language) + " UTC"
            assert fmt.when(value.isoformat()) == expected
        seconds = rng.random() * 10 ** rng.randint(0, 6)
        assert fmt.seconds(seconds) == numbers.format_decimal(round(seconds, 2), format="#,##0.##",
                                                              locale=language) + " s"
    for size, unit in ((0, "B"), (999, "B"), (1023, "B"), (1000 * 1024 + 900, "KB"), (5_000_000, "MB"),
                       (3 * 1024**4, "GB")):
        value = size / 1024 ** ("B", "KB", "MB", "GB").index(unit)
        assert fmt.size(size) == numbers.format_decimal(round(value, 1), format="#,##0.#", locale=language) + " " + unit
    assert fmt.when(None) == "" and fmt.seconds(None) == ""


async def test_home_counts_runs_and_documents_that_came_after_it_was_seen(site, database_url):
    site.app[WEB].runs.settle = site.app[WEB].documents.settle = 0
    await site.request("POST", "/api/v1/workflows",
                       json={"name": "quick", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}]})
    b = await site.browser().login("vera")

    async def figures():
        _, _, text = await b.get("/")
        chart = json.loads(re.search(r'id="chart-data">(.*?)</script>', text, re.S).group(1))
        documents = re.search(r'<h2 id="w-docs">.*?<p class="big">([^<]*)<', text, re.S).group(1)
        return sum(chart["succeeded"]), documents

    assert await figures() == (0, "0")
    await site.wait_run((await site.request("POST", "/api/v1/runs", json={"workflow": "quick"})).json["runs"][0])
    assert (await figures())[0] == 1
    await upload(site, "scan.pdf", b"%PDF-1.4\n%%EOF\n")
    await site.kernel.journal.flush()
    assert await figures() == (1, "1")


# -- run_counts: kept by the database's triggers, exact across every way a run changes -------------

_DELETE_RUN = sa.delete(tables.runs).where(tables.runs.c.id == sa.bindparam("run_id"))


async def _counted(site) -> tuple[dict, dict]:
    """What run_counts says and what counting the runs says, per (tenant, workflow, status)."""
    await site.kernel.journal.flush()
    counts, runs, batches = tables.run_counts, tables.runs, tables.batches
    kept = {(r.tenant, r.workflow, r.status): r.n for r in await site.kernel.sql.read(
        sa.select(counts.c.tenant, counts.c.workflow, counts.c.status, counts.c.n).where(counts.c.n != 0))}
    tenant = sa.func.coalesce(batches.c.tenant, "")
    truth = {(r.tenant, r.workflow, r.status): r.n for r in await site.kernel.sql.read(
        sa.select(tenant.label("tenant"), runs.c.workflow, runs.c.status, sa.func.count().label("n"))
        .select_from(runs.outerjoin(batches, batches.c.id == runs.c.batch_id))
        .group_by(tenant, runs.c.workflow, runs.c.status))}
    return kept, truth


def _by_state(counts: dict, tenant: str | None = None) -> dict:
    out: dict[str, int] = {}
    for (owner, _, status), n in counts.items():
        if tenant is None or owner == tenant:
            out[status] = out.get(status, 0) + n
    return out


async def _chips(browser, page: str = "/runs") -> dict:
    _, _, text = await browser.get(page)
    return {s: int(n) for s, n in re.findall(r'data-state-count="(\w+)">([\d,.]+)<', text) if int(n)}


async def test_run_counts_stay_exact_per_tenant_across_submit_finish_fail_retry_cancel_and_delete(site, tmp_path):
    site.app[WEB].runs.settle = 0
    marker = tmp_path / "fixed"
    tokens = {"acme": await site.user("tina", "editor", tenant="acme", password=PASSWORD),
              "globex": await site.user("gus", "editor", tenant="globex", password=PASSWORD), "": site.token}
    for token in tokens.values():
        for name, uses, settings in (("quick", "test.wait", {"seconds": 0}), ("slow", "test.wait", {"seconds": 30}),
                                     ("flaky", "test.fail_until_fixed", {"marker": str(marker)})):
            reply = await site.request("POST", "/api/v1/workflows", token=token,
                                       json={"name": name, "steps": [{"id": "s", "uses": uses, "with": settings}]})
            assert reply.status in (200, 201), reply.json

    async def submit(tenant: str, workflow: str) -> str:
        reply = await site.request("POST", "/api/v1/runs", token=tokens[tenant], json={"workflow": workflow})
        return reply.json["runs"][0]

    async def exact():
        kept, truth = await _counted(site)
        assert kept == truth
        return truth

    quick = [await submit("acme", "quick"), await submit("acme", "quick"), await submit("globex", "quick"),
             await submit("", "quick")]
    flaky = {tenant: await submit(tenant, "flaky") for tenant in ("acme", "globex")}
    slow = await submit("acme", "slow")
    for run in quick + list(flaky.values()):
        await site.wait_run(run)
    truth = await exact()
    assert _by_state(truth, "acme") == {"succeeded": 2, "failed": 1, "running": 1} or \
        _by_state(truth, "acme") == {"succeeded": 2, "failed": 1, "queued": 1}
    assert _by_state(truth, "globex") == {"succeeded": 1, "failed": 1}

    assert (await site.request("POST", f"/api/v1/runs/{slow}/cancel", token=tokens["acme"])).status == 200
    assert _by_state(await exact(), "acme") == {"succeeded": 2, "failed": 1, "cancelled": 1}
    marker.write_text("fixed")
    assert (await site.request("POST", f"/api/v1/runs/{flaky['acme']}/retry", token=tokens["acme"])).status in (200, 202)
    await site.wait_run(flaky["acme"])
    truth = await exact()
    assert _by_state(truth, "acme") == {"succeeded": 3, "cancelled": 1}
    assert _by_state(truth, "globex") == {"succeeded": 1, "failed": 1}  # another tenant's retry changed none of its

    # What each person's list shows: their tenant's runs, every run for the operator, by workflow too.
    tina, gus, ada = [await site.browser().login(name) for name in ("tina", "gus", "ada")]
    assert await _chips(tina) == {"succeeded": 3, "cancelled": 1}
    assert await _chips(tina, "/runs?workflow=quick") == {"succeeded": 2}
    assert await _chips(gus) == {"succeeded": 1, "failed": 1}
    assert await _chips(ada) == _by_state(truth)

    # A run deleted (as a clean-up job would), and a whole-row REPLACE under the same idempotency key.
    await site.kernel.journal.execute(_DELETE_RUN, {"run_id": flaky["globex"]})
    assert await _chips(gus) == {"succeeded": 1}
    row = dict((await site.kernel.sql.first(sa.select(tables.runs).where(tables.runs.c.id == quick[2])))._mapping)
    await site.kernel.journal.upsert("runs", {**row, "id": "run_replacement", "status": "failed"})
    assert _by_state(await exact(), "globex") == {"failed": 1}
    assert await _chips(gus) == {"failed": 1}

