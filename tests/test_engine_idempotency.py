"""Idempotency keys on both databases: a repeated key finds the row that holds it, never replaces
it (SQLite's REPLACE would delete it) and never fails the journal's flush (PostgreSQL would refuse
the whole flush on the unique index)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from api_support import TestPlugin

from paperchain.engine.batches import Batches
from paperchain.engine.persistence import RunStore
from paperchain.store.tables import batches, run_counts, runs

WORKFLOW = {"name": "keyed", "inputs": {"value": {"default": "x"}},
            "steps": [{"id": "wait", "uses": "test.wait", "with": {"seconds": 0}}]}


@pytest.fixture
def harness(paperchain_kernel):
    return paperchain_kernel(TestPlugin())


async def _counted(k, workflow: str) -> dict[str, int]:
    rows = await k.sql.read(sa.select(run_counts.c.status, run_counts.c.n).where(run_counts.c.workflow == workflow))
    return {row.status: row.n for row in rows if row.n}


def test_two_engines_racing_for_one_batch_key_share_the_first_batch(harness):
    """Two engines (as two processes would) each miss the key in memory and in the database, then
    both record a batch: one is recorded, the other is told of it and records nothing."""
    k = harness.kernel
    workflow = k.load_workflow(WORKFLOW)
    twin = Batches(k, RunStore(k), k.engine.loop)  # its own in-memory keys, as in another process

    async def race():
        return await asyncio.gather(
            k.engine.create_batch(workflow, inputs={"value": "a"}, idempotency_key="key-1"),
            twin.create(workflow, inputs={"value": "b"}, idempotency_key="key-1"))

    (first, created_first), (second, created_second) = harness.call(race())
    assert first == second
    assert sorted([created_first, created_second]) == [False, True]

    async def recorded():
        keyed = await k.sql.read(sa.select(batches.c.id).where(batches.c.idempotency_key == "key-1"))
        its_runs = await k.sql.read(sa.select(runs.c.id).where(runs.c.batch_id == first))
        return [row.id for row in keyed], len(its_runs), await k.engine.run_batch(first), await _counted(k, "keyed")

    keyed, run_count, status, counted = harness.call(recorded())
    assert keyed == [first] and run_count == 1
    assert status == "succeeded"
    assert counted == {"succeeded": 1}
    # A third try, after the batch finished, gets the same batch without a new one.
    assert harness.call(twin.create(workflow, inputs={}, idempotency_key="key-1")) == (first, False)


def test_a_run_whose_key_is_taken_leaves_the_recorded_run_and_the_flush_alone(harness):
    k = harness.kernel
    workflow = k.load_workflow(WORKFLOW)
    engine = k.engine

    async def scenario():
        batch_id, _ = await engine.create_batch(workflow, inputs={"value": "a"})
        recorded = (await engine.store.load_runs(batch_id, workflow, ("inputs",), ""))[0]
        # A run of another id with the same key (batch and seq), one with the recorded id, and a
        # new one, in one flush of the journal beside an event.
        same_key = engine.batches.new_run(batch_id, 0, "inputs", workflow, None, {"value": "b"}, "test", "")
        same_key.status = "failed"
        same_id = engine.batches.new_run(batch_id, 7, "inputs", workflow, None, {"value": "c"}, "test", "")
        same_id.id = recorded.id
        fresh = engine.batches.new_run(batch_id, 1, "inputs", workflow, None, {"value": "d"}, "test", "")
        outcomes = await asyncio.gather(engine.store.add_run(same_key), engine.store.add_run(same_id),
                                        engine.store.add_run(fresh), k.emit("test.beside", "x", {}, durable=True),
                                        return_exceptions=True)
        rows = await k.sql.read(sa.select(runs.c.id, runs.c.seq, runs.c.status, runs.c.inputs)
                                .where(runs.c.batch_id == batch_id).order_by(runs.c.seq))
        return recorded, fresh, outcomes, rows, await _counted(k, "keyed")

    recorded, fresh, outcomes, rows, counted = harness.call(scenario())
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert [(r.id, r.seq, r.status) for r in rows] == [(recorded.id, 0, "queued"), (fresh.id, 1, "queued")]
    assert '"a"' in rows[0].inputs  # the first run's row as it was recorded
    assert counted == {"queued": 2}  # the run counts saw two runs, not a replaced or refused one


def test_a_batch_whose_key_is_taken_by_a_stored_batch_is_not_recorded_again(harness):
    """The key is only in the database (a restart forgot the engine's memory of it)."""
    k = harness.kernel
    workflow = k.load_workflow(WORKFLOW)

    async def scenario():
        first, _ = await k.engine.create_batch(workflow, inputs={}, idempotency_key="key-2")
        k.engine.batches._batch_keys.clear()
        again = await k.engine.create_batch(workflow, inputs={}, idempotency_key="key-2")
        count = await k.sql.scalar(sa.select(sa.func.count()).select_from(batches))
        return first, again, count

    first, again, count = harness.call(scenario())
    assert again == (first, False) and count == 1
