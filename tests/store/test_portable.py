"""store/portable.py: each construct gives the same answer on SQLite and PostgreSQL."""

import sqlalchemy as sa

from paperchain.store.database import Database
from paperchain.store.portable import json_array_has, json_field, ordered_join, seconds_between
from paperchain.store.sql import SqlHandle

THINGS = sa.Table("things", sa.MetaData(), sa.Column("id", sa.Text, primary_key=True), sa.Column("meta", sa.Text),
                  sa.Column("tags", sa.Text), sa.Column("started", sa.Text), sa.Column("finished", sa.Text))

ROWS = [
    {"id": "a", "meta": '{"vendor": "ACME", "a.b": "dotted"}', "tags": '["invoice", "paid"]',
     "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:01:30.500000+00:00"},
    {"id": "b", "meta": '{"total": 12}', "tags": "[]",
     "started": "2026-01-01T23:59:59+00:00", "finished": "2026-01-02T00:00:01+00:00"},
]


async def handle(database_url):
    database = await Database.open(database_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(THINGS.metadata.create_all)
    sql = SqlHandle(database)
    await sql.write(sa.insert(THINGS), ROWS)
    return database, sql


async def test_json_field_reads_a_top_level_key_as_text(database_url):
    database, sql = await handle(database_url)
    try:
        rows = await sql.read(sa.select(THINGS.c.id, json_field(THINGS.c.meta, "vendor")).order_by(THINGS.c.id))
        assert [tuple(r) for r in rows] == [("a", "ACME"), ("b", None)]
        # a key with a dot is one key, not a path
        assert await sql.scalar(sa.select(json_field(THINGS.c.meta, "a.b")).where(THINGS.c.id == "a")) == "dotted"
        found = await sql.read(sa.select(THINGS.c.id).where(json_field(THINGS.c.meta, "total").is_not(None)))
        assert [r.id for r in found] == ["b"]
    finally:
        await database.close()


async def test_json_array_has_matches_whole_strings(database_url):
    database, sql = await handle(database_url)
    try:
        assert [r.id for r in await sql.read(sa.select(THINGS.c.id).where(json_array_has(THINGS.c.tags, "paid")))] == ["a"]
        assert await sql.read(sa.select(THINGS.c.id).where(json_array_has(THINGS.c.tags, "pai"))) == []
        assert await sql.read(sa.select(THINGS.c.id).where(json_array_has(THINGS.c.tags, "x' OR 1=1 --"))) == []
    finally:
        await database.close()


async def test_seconds_between_two_iso_times(database_url):
    database, sql = await handle(database_url)
    try:
        rows = await sql.read(sa.select(THINGS.c.id, seconds_between(THINGS.c.started, THINGS.c.finished))
                              .order_by(THINGS.c.id))
        assert [(r[0], round(r[1], 3)) for r in rows] == [("a", 90.5), ("b", 2.0)]
    finally:
        await database.close()


async def test_first_returns_a_row_or_none(database_url):
    database, sql = await handle(database_url)
    try:
        assert (await sql.first(sa.select(THINGS.c.id).where(THINGS.c.id == "b"))).id == "b"
        assert await sql.first(sa.select(THINGS.c.id).where(THINGS.c.id == "zz")) is None
    finally:
        await database.close()


async def test_ordered_join_joins_alike_and_keeps_sqlites_order(database_url):
    database, sql = await handle(database_url)
    try:
        alias = THINGS.alias("later")
        statement = (sa.select(THINGS.c.id, alias.c.id.label("other"))
                     .select_from(ordered_join(THINGS, alias, alias.c.started > THINGS.c.started)).order_by(THINGS.c.id))
        assert [tuple(r) for r in await sql.read(statement)] == [("a", "b")]
        written = str(statement.compile(dialect=database.engine.dialect))
        assert ("CROSS JOIN" in written) == (database.dialect == "sqlite")  # PostgreSQL has no CROSS JOIN .. ON
    finally:
        await database.close()
