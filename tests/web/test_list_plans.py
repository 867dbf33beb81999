"""The list pages' whole-table reads at scale: the media types offered by the documents list (a
skip scan of an index, exact whatever writes the documents) and a tenant's runs list (read runs
first, newest first, when the tenant owns enough of them; its batches first when it owns few)."""

from __future__ import annotations

import random

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from paperchain.api.routes.runs import BY_BATCH, tenant_join
from paperchain.store.database import Database
from paperchain.store.portable import ordered_join
from paperchain.store.schema import migrate
from paperchain.store.sql import SqlHandle
from paperchain.store.tables import batches, runs
from paperchain.web.routes.documents import distinct_media_types

from .conftest import PASSWORD

TYPES = ("application/pdf", "image/png", "text/plain", "image/jpeg", "")


@pytest.fixture
async def db(tmp_path):
    path = tmp_path / "paperchain.db"
    migrate(path)
    async with aiosqlite.connect(path, isolation_level=None) as conn:  # each statement commits, as the journal's do
        yield conn


@pytest.fixture
async def sql(db, tmp_path):
    """The kernel's handle on the same file (the routes' statements run through it)."""
    database = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'paperchain.db'}")
    yield SqlHandle(database)
    await database.close()


async def _every_type(db, tenant: str | None) -> tuple:
    where = "tenant = ?" if tenant else "1 = 1"
    async with db.execute(f"SELECT DISTINCT media_type FROM documents WHERE {where} AND media_type != '' "
                          "ORDER BY media_type", [tenant] if tenant else []) as c:
        return tuple(r[0] for r in await c.fetchall())


async def test_media_types_stay_exact_per_tenant_across_ingest_delete_restore_replace_and_retype(db, sql):
    rng = random.Random(14)
    insert = ("INSERT {verb} INTO documents (id, name, media_type, size, created, tenant) "
              "VALUES (?, 'n', ?, 1, '2026-01-01', ?)")
    for i in range(300):
        await db.execute(insert.format(verb=""), (f"d{i}", rng.choice(TYPES), rng.choice(("acme", "globex", None))))

    async def exact():
        for tenant in ("acme", "globex", "nobody", None):
            assert await distinct_media_types(sql, tenant) == await _every_type(db, tenant), tenant

    await exact()
    assert await distinct_media_types(sql, "nobody") == ()
    await db.execute(insert.format(verb=""), ("new", "application/zip", "acme"))  # a new kind, one tenant's
    assert "application/zip" in await distinct_media_types(sql, "acme")
    assert "application/zip" not in await distinct_media_types(sql, "globex")
    await exact()
    await db.execute("UPDATE documents SET deleted = '2026-02-01' WHERE id = 'new'")  # deleted: as before, offered
    await exact()
    await db.execute("UPDATE documents SET deleted = NULL WHERE id = 'new'")
    await db.execute(insert.format(verb="OR REPLACE"), ("new", "text/csv", "globex"))  # REPLACE moves it
    assert "application/zip" not in await distinct_media_types(sql, "acme")
    assert "text/csv" in await distinct_media_types(sql, "globex")
    await db.execute("UPDATE documents SET media_type = 'image/tiff' WHERE tenant = 'acme'")
    assert await distinct_media_types(sql, "acme") == ("image/tiff",)
    await db.execute("DELETE FROM documents WHERE tenant = 'globex'")
    await exact()
    assert await distinct_media_types(sql, "globex") == ()


async def test_media_types_are_read_by_one_index_seek_per_type(db):
    for tenant, values in (("acme", ["acme", "acme"]), (None, [])):
        scope = "tenant = ? AND " if tenant else ""
        sql = f"SELECT media_type FROM documents WHERE {scope}media_type > '' ORDER BY media_type LIMIT 1"
        async with db.execute("EXPLAIN QUERY PLAN " + sql, values[:1]) as c:
            plan = " ".join(r[3] for r in await c.fetchall())
        assert "COVERING INDEX" in plan and "media_type>?" in plan and "TEMP B-TREE" not in plan, plan


async def _fill_runs(db, shares: dict[str, int]) -> None:
    """Runs newest last, in batches of ten of one tenant each, tenants interleaved."""
    owners = [tenant for tenant, n in shares.items() for _ in range(n // 10)]
    random.Random(14).shuffle(owners)
    for b, tenant in enumerate(owners):
        await db.execute("INSERT INTO batches (id, workflow, status, created, total, tenant) "
                         "VALUES (?, 'w', 'done', '2026', 10, ?)", (f"b{b:05d}", tenant))
        for i in range(10):
            n = b * 10 + i
            await db.execute("INSERT INTO runs (id, batch_id, seq, kind, workflow, status, created) "
                             "VALUES (?, ?, ?, 'document', ?, ?, ?)",
                             (f"r{n:06d}", f"b{b:05d}", i, f"w{n % 2}", ("succeeded", "failed")[n % 3 == 0],
                              f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}.{n:06d}"))


RUNS_FIRST = ordered_join(runs, batches, batches.c.id == runs.c.batch_id)


async def _newest(db, joined, tenant: str, status: str = "") -> tuple[list, str]:
    """The runs list's statement for a page of 50 (as api/routes/runs.py builds it), its ids and SQLite's plan."""
    statement = (sa.select(runs.c.id).select_from(joined).where(batches.c.tenant == tenant)
                 .order_by(runs.c.created.desc(), runs.c.id.desc()).limit(50))
    if status:
        statement = statement.where(runs.c.status == status)
    sql = str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    async with db.execute("EXPLAIN QUERY PLAN " + sql) as c:
        plan = " ".join(r[3] for r in await c.fetchall())
    async with db.execute(sql) as c:
        return [r[0] for r in await c.fetchall()], plan


async def test_a_big_tenants_runs_are_read_newest_first_without_sorting_them_all(db, sql):
    await _fill_runs(db, {"acme": 1500, "globex": 400, "tiny": 20, "": 100})

    async def runs_first(tenant, **filters) -> bool:
        joined = await tenant_join(sql, tenant, 50, **filters)
        assert joined is BY_BATCH or isinstance(joined, ordered_join)
        return isinstance(joined, ordered_join)

    assert await runs_first("acme")  # 1500² ≥ 50 × 2020
    assert not await runs_first("tiny")  # 20 runs: sorting them is cheaper than walking all
    assert await runs_first("globex")
    assert await runs_first("acme", status="failed")  # 500² ≥ 50 × 673
    assert not await runs_first("globex", status="failed")  # 133² < 50 × 673: by state, fewer
    assert await runs_first("acme", workflow="w1")
    assert not await runs_first("nobody")
    assert not await runs_first("") and not await runs_first(None)  # the operator: no tenant
    for tenant in ("acme", "globex", "tiny", "nobody"):
        for status in ("", "failed"):
            walked, plan = await _newest(db, RUNS_FIRST, tenant, status)
            sorted_, _ = await _newest(db, BY_BATCH, tenant, status)
            assert walked == sorted_, (tenant, status)  # the same page, whichever way it was read
            newest_first = ("SCAN runs USING INDEX idx_runs_created_id",
                            "SEARCH runs USING INDEX idx_runs_status_created_id")
            assert plan.startswith(newest_first) and "TEMP B-TREE" not in plan, plan
    async with db.execute("SELECT r.id FROM runs r JOIN batches b ON b.id = r.batch_id WHERE b.tenant = 'acme' "
                          "ORDER BY r.id DESC LIMIT 50") as c:  # ids grow with time here
        assert [r[0] for r in await c.fetchall()] == (await _newest(db, RUNS_FIRST, "acme"))[0]


async def test_the_tenants_runs_list_read_runs_first_shows_only_its_runs(site, database_url):
    """With a page of one, a tenant owning half the runs is read runs first; it still sees only its own."""
    tokens = {"acme": await site.user("tina", "editor", tenant="acme", password=PASSWORD),
              "globex": await site.user("gus", "editor", tenant="globex", password=PASSWORD)}
    runs = {}
    for tenant, count in (("acme", 2), ("globex", 1)):
        token = tokens[tenant]
        await site.request("POST", "/api/v1/workflows", token=token,
                           json={"name": "quick", "steps": [{"id": "s", "uses": "test.wait", "with": {"seconds": 0}}]})
        for _ in range(count):
            run = (await site.request("POST", "/api/v1/runs", token=token, json={"workflow": "quick"})).json["runs"][0]
            await site.wait_run(run)
            runs.setdefault(tenant, []).append(run)
    await site.kernel.journal.flush()
    assert isinstance(await tenant_join(site.kernel.sql, "acme", 1), ordered_join)
    seen, cursor = [], None
    while True:
        reply = await site.request("GET", "/api/v1/runs?limit=1" + (f"&cursor={cursor}" if cursor else ""),
                                   token=tokens["acme"])
        assert reply.status == 200, reply.json
        seen += [run["id"] for run in reply.json["items"]]
        cursor = reply.json["next"]
        if not cursor:
            break
    assert sorted(seen) == sorted(runs["acme"])
    tina = await site.browser().login("tina")
    _, _, text = await tina.get("/runs")
    assert all(run in text for run in runs["acme"]) and runs["globex"][0] not in text
