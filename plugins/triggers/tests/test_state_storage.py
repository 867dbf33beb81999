"""The triggers' state in the host's plugin storage, on SQLite and PostgreSQL (``database_url``)."""

from __future__ import annotations

import base64
import json
import sqlite3

from triggers_support import steps_plugin

import paperchain_triggers
from paperchain_triggers.state import close_store, store_for


def test_state_and_replayed_signatures_survive_a_restart(paperchain_kernel, database_url, monkeypatch):
    config = {"paperchain": {"database_url": database_url}}
    # Two data folders on one database (the kernel's keys are there too) share the deployment's master key.
    monkeypatch.setenv("PAPERCHAIN_MASTER_KEY", base64.b64encode(bytes(range(32))).decode())
    first = paperchain_kernel(paperchain_triggers, steps_plugin, config=config)

    async def write():
        store = store_for(first.kernel)
        assert await store.get("schedule:x") is None
        await store.put("schedule:x", {"last": 1})
        await store.put("schedule:x", {"last": 2})  # an upsert, not a second row
        assert await store.claim_signature("sig-1", "wf", window=300) is True
        assert await store.claim_signature("sig-1", "wf", window=300) is False  # a replay

    first.call(write())
    first.close()
    second = paperchain_kernel(paperchain_triggers, steps_plugin, config=config)  # another data folder, same database

    async def read():
        store = store_for(second.kernel)
        assert await store.get("schedule:x") == {"last": 2}
        assert await store.claim_signature("sig-1", "wf", window=300) is False
        assert await store.claim_signature("sig-2", "wf", window=300) is True
        await close_store(second.kernel)

    second.call(read())


def test_kernel_records_come_through_the_kernel_interface(paperchain_kernel, database_url):
    harness = paperchain_kernel(paperchain_triggers, steps_plugin, config={"paperchain": {"database_url": database_url}})
    kernel = harness.kernel
    outcome = harness.run({"name": "chained", "steps": [{"id": "main", "uses": "test.echo"}]}, inputs={"chain": ["a"]})
    (run,) = outcome.runs

    async def scenario():
        store = store_for(kernel)
        assert await store.batch_inputs(outcome.id) == {"chain": ["a"]}
        assert await store.batch_of_run(run.id) == outcome.id
        assert await store.run_statuses(outcome.id) == ["succeeded"]
        assert await store.batch_inputs("no-such-batch") == {}
        assert await store.batch_of_run("no-such-run") == ""
        assert await store.run_statuses("no-such-batch") == []
        await kernel.emit("test.alarm", durable=True)
        return await store.query_number("SELECT count(*) FROM events WHERE type = :type", {"type": "test.alarm"})

    assert harness.call(scenario()) == 1.0


def test_existing_sqlite_tables_are_taken_over_with_their_rows(paperchain_kernel, tmp_path):
    data_dir = tmp_path / "kernel-0"
    data_dir.mkdir()
    with sqlite3.connect(data_dir / "paperchain.db") as conn:  # as the plugin made them before plugin storage
        conn.execute("CREATE TABLE triggers_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL)")
        conn.execute("CREATE TABLE triggers_webhook_seen (signature TEXT PRIMARY KEY, workflow TEXT NOT NULL, "
                     "seen REAL NOT NULL)")
        conn.execute("INSERT INTO triggers_state VALUES ('threshold:a', ?, 1.0)", (json.dumps({"active": True}),))
    harness = paperchain_kernel(paperchain_triggers, steps_plugin)
    assert harness.call(store_for(harness.kernel).get("threshold:a")) == {"active": True}
    with sqlite3.connect(data_dir / "paperchain.db") as conn:
        assert conn.execute("SELECT version_num FROM triggers_alembic_version").fetchone() == ("0001",)


def test_plugin_writes_and_the_kernel_journal_share_the_sqlite_file_without_locking_errors(paperchain_kernel):
    """The default deployment: triggers' rows and the kernel's group commits in one file, at once."""
    import asyncio

    harness = paperchain_kernel(paperchain_triggers, steps_plugin)
    kernel = harness.kernel

    async def scenario():
        store = store_for(kernel)

        async def journal():
            for i in range(300):
                await kernel.emit("test.tick", data={"i": i}, durable=i % 10 == 0)

        async def plugin(worker):
            for i in range(60):
                await store.put(f"k{worker}", {"i": i})
                await store.claim_signature(f"sig-{worker}-{i}", "wf", window=300)

        await asyncio.gather(journal(), *(plugin(w) for w in range(5)))
        await kernel.journal.flush()
        return [await store.get(f"k{w}") for w in range(5)], await kernel.count_events(
            "test.tick", since="0000", until="9999")

    states, ticks = harness.call(scenario())
    assert states == [{"i": 59}] * 5 and ticks == 300
