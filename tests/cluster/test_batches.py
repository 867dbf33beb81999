"""A batch is run by the server that holds its lease: never by two at once, and finished by a
survivor when its server dies."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from cluster.cluster_support import STEPS, eventually

from paperchain.cluster.batches import PREFIX
from paperchain.store.tables import leases, runs

pytestmark = pytest.mark.postgres

SLOW = {"name": "slow", "steps": [{"id": "first", "uses": "test.nap", "with": {"seconds": 2.5}},
                                  {"id": "second", "uses": "test.nap", "needs": ["first"]}]}


async def _leader_and_other(servers):
    a, b = await servers("a"), await servers("b")
    await eventually(lambda: a.kernel.cluster.leader or b.kernel.cluster.leader)
    return (a, b) if a.kernel.cluster.leader else (b, a)


async def _start(server) -> tuple[str, str]:
    assert (await server.request("POST", "/api/v1/workflows", json=SLOW)).status in (200, 201)
    reply = await server.request("POST", "/api/v1/runs", json={"workflow": "slow"})
    assert reply.status in (200, 201, 202), reply
    return reply.json["batch"], reply.json["runs"][0]


async def test_a_live_owner_keeps_its_batch_while_the_leader_sweeps(servers):
    leader, owner = await _leader_and_other(servers)
    batch_id, run_id = await _start(owner)
    await asyncio.sleep(1.0)  # two leader sweeps while the first step runs on the owner
    assert batch_id not in leader.kernel._batches
    assert await leader.kernel.engine.resume() == []  # a start-up resume leaves it alone too
    assert (await owner.wait_run(run_id))["status"] == "succeeded"
    mine = [(server, step) for server, run, step in STEPS if run == run_id]
    assert mine == [(owner.kernel.data_dir.name, "first"), (owner.kernel.data_dir.name, "second")]
    lease = sa.select(leases.c.name).where(leases.c.name == PREFIX + batch_id)
    await eventually(lambda: batch_id not in owner.kernel._batches)
    assert await owner.kernel.sql.first(lease) is None  # a finished batch's lease is dropped


async def test_a_dead_servers_batch_is_finished_by_a_survivor(servers):
    survivor, victim = await _leader_and_other(servers)
    batch_id, run_id = await _start(victim)
    await eventually(lambda: any(run == run_id for _, run, _ in STEPS))

    # The victim dies: no more renewals, nothing released, its batch task gone with the process.
    cluster = victim.kernel.cluster

    async def nothing(*_args, **_kwargs):
        return None

    cluster._ticker.cancel()
    cluster.batches.release = cluster.leases.release = cluster.leases.release_prefix = nothing
    for task in list(victim.kernel._batches.values()):
        task.cancel()
    died = asyncio.get_running_loop().time()

    await eventually(lambda: batch_id in survivor.kernel._batches, timeout=8)
    # Not before the victim's lease ran out: 1.5 s after its last renewal, which was at most a tick
    # (0.5 s, plus the tick's own statements) before it died.
    assert asyncio.get_running_loop().time() - died >= 0.7
    assert (await survivor.wait_run(run_id))["status"] == "succeeded"
    steps = [(server, step) for server, run, step in STEPS if run == run_id]
    here, there = survivor.kernel.data_dir.name, victim.kernel.data_dir.name
    # The first step was in flight when the victim died: it runs again (same idempotency key); the
    # second runs once, on the survivor.
    assert steps == [(there, "first"), (here, "first"), (here, "second")]
    row = await survivor.kernel.sql.first(sa.select(runs.c.status).where(runs.c.id == run_id))
    assert row.status == "succeeded"


async def test_a_restarted_server_takes_its_own_batches_back_at_once(servers, monkeypatch):
    from paperchain.cluster import Cluster

    monkeypatch.setattr(Cluster, "TTL", 60.0)  # so nothing here can come from a lease running out
    first = await servers("a", triggers=False)
    batch_id, run_id = await _start(first)
    await eventually(lambda: any(run == run_id for _, run, _ in STEPS))
    cluster = first.kernel.cluster

    async def nothing(*_args, **_kwargs):
        return None

    cluster._ticker.cancel()  # it dies: nothing renewed, nothing released
    cluster.batches.release = cluster.leases.release = cluster.leases.release_prefix = nothing
    for task in list(first.kernel._batches.values()):
        task.cancel()

    again = await servers("a", triggers=False)  # the same data directory: the same holder id
    assert again.kernel.cluster.id == cluster.id
    assert (await again.wait_run(run_id, timeout=20))["status"] == "succeeded"
    assert [step for server, run, step in STEPS if run == run_id] == ["first", "first", "second"]
