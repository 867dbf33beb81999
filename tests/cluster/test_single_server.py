"""One server on SQLite keeps today's path: no cluster, no bus, and it always hosts the triggers."""

from __future__ import annotations

from cluster.cluster_support import ClusterTestPlugin, eventually

WATCHED = {"name": "watched", "on": {"beacon": {}}, "steps": [{"id": "a", "uses": "test.nap"}]}


async def test_a_sqlite_server_has_no_cluster_and_hosts_the_triggers(paperchain_api):
    server = await paperchain_api(ClusterTestPlugin())
    assert server.kernel.cluster is None and server.state.serving is None
    assert server.state.key_buckets.taken is None  # no counting for others: the request path is as before
    assert server.state.hub.order is None
    await server.request("POST", "/api/v1/workflows", json=WATCHED)
    event = await server.kernel.emit("test.ping")
    assert event.seq == server.state.hub.seq
    await eventually(lambda: "watched" in server.state.triggers.running, timeout=5)
