"""Quantum jobs in the host's plugin storage, on SQLite and PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import sqlalchemy as sa

from paperchain_quantum import hooks
from paperchain_quantum.jobs import JobRequest, JobStore, jobs_table
from paperchain_sdk import NotFoundError

GHZ = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'


async def _finished(store: JobStore, job: str, tenant: str) -> dict:
    await asyncio.gather(*store.tasks)
    return await store.get(job, tenant)


def test_jobs_persist_per_tenant_and_unfinished_ones_fail_at_the_next_start(paperchain_kernel, database_url):
    harness = paperchain_kernel(hooks, config={"paperchain": {"database_url": database_url}})
    kernel = harness.kernel

    async def scenario():
        store = await JobStore(kernel).open()
        job = (await store.submit(JobRequest(circuit=GHZ, shots=64, seed=1), tenant="acme", by="ada"))["job"]
        done = await _finished(store, job, "acme")
        assert done["status"] == "succeeded" and sum(next(iter(done["result"]["counts"].values())).values()) == 64
        assert (await store.histogram(job, "acme")).startswith(b"\x89PNG")
        assert [j["job"] for j in await store.list("acme")] == [job]
        assert await store.list("globex") == []
        with pytest.raises(NotFoundError):
            await store.get(job, "globex")  # another tenant's job does not exist for it
        async with store.store.transaction() as tx:  # a job the process was running when it stopped
            await tx.execute(sa.update(jobs_table).where(jobs_table.c.id == job).values(status="running"))
        again = await JobStore(kernel).open()
        stopped = await again.get(job, "acme")
        assert stopped["status"] == "failed" and "submit it again" in stopped["error"]

    harness.call(scenario())
    local = kernel.data_dir / "paperchain.db"
    if database_url.startswith("postgresql") and local.exists():  # plugins' tables went there, none here
        with sqlite3.connect(local) as conn:
            assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'quantum_%'").fetchone()[0] == 0


def test_an_existing_sqlite_jobs_table_is_taken_over_with_its_rows(paperchain_kernel, tmp_path):
    data_dir = tmp_path / "kernel-0"
    data_dir.mkdir()
    with sqlite3.connect(data_dir / "paperchain.db") as conn:  # as the plugin made it before plugin storage
        conn.executescript("""
            CREATE TABLE quantum_jobs (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, created_by TEXT NOT NULL,
                kind TEXT NOT NULL, status TEXT NOT NULL, request TEXT NOT NULL, result TEXT, histogram BLOB,
                error TEXT, created REAL NOT NULL, finished REAL);
            CREATE INDEX quantum_jobs_tenant ON quantum_jobs (tenant, created);
            INSERT INTO quantum_jobs VALUES ('qj_old', 'acme', 'ada', 'circuit', 'succeeded', '{}', '{"counts": {}}',
                                             NULL, NULL, 1.0, 2.0);
        """)
    harness = paperchain_kernel(hooks)

    async def scenario():
        store = await JobStore(harness.kernel).open()
        return await store.get("qj_old", "acme")

    assert harness.call(scenario())["result"] == {"counts": {}}
    with sqlite3.connect(data_dir / "paperchain.db") as conn:
        assert conn.execute("SELECT version_num FROM quantum_alembic_version").fetchone() == ("0001",)
