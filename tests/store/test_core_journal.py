"""The journal's group commit on SQLAlchemy Core (store/journal.py CoreJournal), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from paperchain.store import migrations, tables
from paperchain.store.database import Database
from paperchain.store.journal import CoreJournal


@pytest.fixture
async def journal(database_url):
    database = await Database.open(database_url)
    await migrations.upgrade(database)
    journal = CoreJournal(database)
    journal.start()
    yield journal
    await journal.close()
    await database.close()


async def _rows(journal, statement):
    async with journal._database.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(statement)).all()]


def _run(number: int, status: str) -> dict:
    return {"id": f"r{number}", "batch_id": "b1", "seq": number, "workflow": "ocr", "status": status,
            "idempotency_key": f"k{number}"}


async def test_many_writers_share_few_commits_and_the_last_row_wins(journal):
    await journal.upsert("batches", {"id": "b1", "tenant": "acme", "status": "running"})
    commits = journal.commits
    await asyncio.gather(*(journal.upsert("runs", _run(n, "queued")) for n in range(200)))
    assert journal.commits - commits < 20  # one transaction per flush, not per row
    await asyncio.gather(*(journal.upsert("runs", _run(n, "done" if n % 2 else "failed")) for n in range(200)))
    runs = tables.runs
    assert await _rows(journal, sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status)
                       .order_by(runs.c.status)) == [("done", 100), ("failed", 100)]
    # The run counts' triggers saw each replacement once: exact on both databases.
    counts = tables.run_counts
    assert await _rows(journal, sa.select(counts.c.status, counts.c.n).where(counts.c.tenant == "acme", counts.c.n != 0)
                       .order_by(counts.c.status)) == [("done", 100), ("failed", 100)]


async def test_core_statements_run_in_the_group_commit(journal):
    await journal.upsert("batches", {"id": "b1", "tenant": "acme", "status": "running"})
    batches = tables.batches
    done = sa.update(batches).where(batches.c.id == sa.bindparam("batch")).values(status=sa.bindparam("status"))
    await journal.execute(done, {"batch": "b1", "status": "finished"})
    assert await _rows(journal, sa.select(batches.c.status)) == [("finished",)]


async def test_a_failed_commit_fails_every_writer_in_it_and_the_journal_goes_on(journal):
    good = journal.upsert("users", {"name": "ana", "role": "admin", "tenant": "acme"})
    bad = journal.upsert("workflows", {"tenant": None, "name": "ocr"})  # tenant is NOT NULL, no default
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert all(isinstance(r, sa.exc.IntegrityError) for r in results), results
    await journal.upsert("users", {"name": "ana", "role": "admin", "tenant": "acme"})
    users = tables.users
    assert await _rows(journal, sa.select(users.c.name, users.c.role)) == [("ana", "admin")]


async def test_sql_text_is_sqlite_only(journal):
    statement = "UPDATE batches SET status = ? WHERE id = ?"
    if journal._database.dialect == "sqlite":
        await journal.upsert("batches", {"id": "b1", "status": "running"})
        await journal.execute(statement, ("finished", "b1"))
        assert await _rows(journal, sa.select(tables.batches.c.status)) == [("finished",)]
    else:
        with pytest.raises(TypeError, match="Core statements"):
            journal.execute(statement, ("finished", "b1"))
