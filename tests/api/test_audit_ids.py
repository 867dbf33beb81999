"""Audit ids stay unique when two processes write the log (issue 13).

`paperchain serve` and a CLI command (users unlock, workflows share …) each open the database
with an Audit writer of their own. Ids used to come from a counter in each process, so both
handed out the same id and one entry replaced the other. Two kernels on one data directory stand
in for the two processes here: each has its own connection and journal, as each process has.
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from paperchain.api.audit import Audit
from paperchain.config import Config, KernelSettings
from paperchain.kernel import Kernel
from paperchain.store import tables


@pytest.fixture
async def two_writers(tmp_path, paperchain_database_url):
    config = Config(source="the test's config", data_dir=tmp_path / "data",
                    kernel=KernelSettings(database_url=paperchain_database_url), components={})
    kernels = [Kernel(config, plugins=[]) for _ in range(2)]
    for kernel in kernels:
        await kernel.open()
    audits = [Audit(kernel) for kernel in kernels]
    for audit in audits:
        await audit.load()
    try:
        yield kernels, audits
    finally:
        for kernel in kernels:
            await kernel.close()


async def _record(audit: Audit, writer: str, n: int) -> list[dict]:
    return [await audit.record(actor=writer, action="test", target=f"{writer}:{i}", ip="", outcome="success", status=0,
                               details={"n": i}) for i in range(n)]


async def test_two_writers_on_one_database_never_share_an_id(two_writers):
    kernels, (server, cli) = two_writers
    written = await asyncio.gather(_record(server, "server", 40), _record(cli, "cli", 40))
    entries = [e for batch in written for e in batch]
    ids = [e["id"] for e in entries]
    assert len(set(ids)) == len(ids) == 80
    rows = {row["id"]: row for row in await server.query(limit=1000)}
    assert len(rows) == 80  # none replaced another
    for entry in entries:  # each id names the entry its writer was told it had
        assert (rows[entry["id"]]["actor"], rows[entry["id"]]["target"]) == (entry["actor"], entry["target"])


async def test_a_poller_following_after_never_skips_an_entry(two_writers):
    """Entries become visible in id order, whichever process commits them, so reading from the last
    id seen finds every entry."""
    kernels, (server, cli) = two_writers
    seen: list[int] = []
    writing = asyncio.gather(_record(server, "server", 30), _record(cli, "cli", 30))
    while True:
        done = writing.done()
        rows = await server.query(after=seen[-1] if seen else 0, limit=1000)
        seen.extend(row["id"] for row in rows)
        if done:
            break
        await asyncio.sleep(0)
    await writing
    assert len(seen) == len(set(seen)) == 60 and seen == sorted(seen)


async def test_the_event_carries_the_committed_id_and_a_unique_entry_key(two_writers):
    kernels, (server, cli) = two_writers
    heard = []
    kernels[1].listeners.append(heard.append)
    entry = (await _record(cli, "cli", 1))[0]
    assert heard and heard[-1].subject == str(entry["id"]) and heard[-1].data["entry"] == entry["entry"]
    audit = tables.audit
    row = await kernels[0].sql.first(sa.select(audit.c.id, audit.c.tenant).where(audit.c.entry == entry["entry"]))
    assert (row.id, row.tenant) == (entry["id"], "")


def test_an_older_log_takes_its_actors_tenants_and_goes_on_counting(tmp_path):
    import sqlite_utils

    from paperchain.store import schema

    path = tmp_path / "paperchain.db"
    db = sqlite_utils.Database(path)
    for number, migration in enumerate(schema.MIGRATIONS[:6], start=1):
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")
    db["users"].insert({"name": "alice", "password_hash": "x", "role": "admin", "tenant": "acme", "created": "", "disabled": 0})
    for i, actor in enumerate(("alice", "cli:root"), start=1):
        db["audit"].insert({"id": i, "time": "", "actor": actor, "action": "a", "target": "", "ip": "", "outcome": "success",
                            "status": 0, "details": "{}"})
    db.conn.commit()
    db.close()
    schema.migrate(path)
    db = sqlite_utils.Database(path)
    assert [(r["id"], r["tenant"]) for r in db["audit"].rows] == [(1, "acme"), (2, "")]
    db.execute("INSERT INTO audit (entry, time, actor) VALUES ('k', '', 'x')")
    assert db.execute("SELECT id FROM audit WHERE entry = 'k'").fetchone() == (3,)
