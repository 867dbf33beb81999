"""Exactly one server hosts the triggers; another takes over within seconds when it dies."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from cluster.cluster_support import TRIGGERS, eventually

from paperchain.cluster import LEADER
from paperchain.store.tables import leases, members

pytestmark = pytest.mark.postgres

WATCHED = {"name": "watched", "on": {"beacon": {}}, "steps": [{"id": "a", "uses": "test.nap"}]}


def _hosting(server) -> bool:
    return "watched" in server.state.triggers.running


async def test_one_leader_hosts_the_triggers_and_another_takes_over(servers):
    a, b = await servers("a"), await servers("b")
    assert (await a.request("POST", "/api/v1/workflows", json=WATCHED)).status in (200, 201)
    await eventually(lambda: _hosting(a) or _hosting(b))
    leader, other = (a, b) if _hosting(a) else (b, a)
    await asyncio.sleep(1.0)  # a few ticks: still only one
    assert _hosting(leader) and not _hosting(other)
    assert [t for t in TRIGGERS if t[2] == "started"] == [(leader.kernel.data_dir.name, "watched", "started")]
    row = await a.kernel.sql.first(sa.select(leases.c.holder, leases.c.fence).where(leases.c.name == LEADER))
    assert row.holder == leader.kernel.cluster.id

    # The leader stops renewing (as a dead process would); the other takes the lease and the triggers.
    leader.kernel.cluster._ticker.cancel()
    began = asyncio.get_running_loop().time()
    await eventually(lambda: _hosting(other), timeout=8)
    took = asyncio.get_running_loop().time() - began
    assert took < 1.5 * 3, f"took over after {took:.1f} s"  # ttl 1.5 s, renewed every 0.5 s
    later = await a.kernel.sql.first(sa.select(leases.c.holder, leases.c.fence).where(leases.c.name == LEADER))
    assert later.holder == other.kernel.cluster.id and later.fence == row.fence + 1

    # The old leader wakes up: its next tick finds the lease gone and stops its triggers.
    await leader.kernel.cluster.tick()
    assert not _hosting(leader) and not leader.kernel.cluster.leader
    assert (leader.kernel.data_dir.name, "watched", "stopped") in TRIGGERS


async def test_a_clean_stop_hands_the_lease_over_at_once(servers):
    a, b = await servers("a"), await servers("b")
    await a.request("POST", "/api/v1/workflows", json=WATCHED)
    await eventually(lambda: _hosting(a) or _hosting(b))
    leader, other = (a, b) if _hosting(a) else (b, a)
    await leader.close()  # released, not left to expire
    await other.kernel.cluster.tick()
    assert _hosting(other)


async def test_each_server_is_a_member_with_its_plugins(servers):
    a, b = await servers("a"), await servers("b")
    a_id, b_id = a.kernel.cluster.id, b.kernel.cluster.id
    assert a_id != b_id
    alive = await a.kernel.cluster.members.alive()
    assert {m["id"] for m in alive} == {a_id, b_id}
    assert all("builtins" in m["plugins"] for m in alive)
    await b.close()
    rows = await a.kernel.sql.read(sa.select(members.c.id, members.c.stopped).where(members.c.kind == "serve"))
    assert {r.id: r.stopped is not None for r in rows} == {a_id: False, b_id: True}
    assert [m["id"] for m in await a.kernel.cluster.members.alive()] == [a_id]
