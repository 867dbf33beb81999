"""Live events across two API servers on one PostgreSQL database: delivery, unique numbers, since."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa
from cluster.cluster_support import eventually

from paperchain.store.tables import events

pytestmark = pytest.mark.postgres

FLOW = {"name": "three", "steps": [{"id": "a", "uses": "test.nap"}, {"id": "b", "uses": "test.nap", "needs": ["a"]},
                                   {"id": "c", "uses": "test.nap", "needs": ["b"]}]}


async def _subscribe(server, topics, since=None):
    ws = await server.session.ws_connect(server.url.replace("http", "ws") + "/api/v1/events",
                                         headers={"Authorization": f"Bearer {server.token}"})
    message = {"type": "subscribe", "topics": topics}
    if since is not None:
        message["since"] = since
    await ws.send_json(message)
    assert json.loads((await ws.receive()).data)["type"] == "subscribed"
    return ws


async def _cloudevents_until(ws, done, timeout=20):
    got = []
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads((await ws.receive()).data)
            if message.get("specversion") == "1.0":
                got.append(message)
                if done(message, got):
                    return got


async def test_a_run_on_one_server_is_seen_live_on_the_other(servers):
    a, b = await servers("a"), await servers("b")
    ws = await _subscribe(b, ["runs"])
    assert (await a.request("POST", "/api/v1/workflows", json=FLOW)).status in (200, 201)
    run_id = (await a.request("POST", "/api/v1/runs", json={"workflow": "three"})).json["runs"][0]
    got = await _cloudevents_until(ws, lambda m, _: m["type"] == "io.paperchain.run.succeeded" and m["subject"] == run_id)
    await ws.close()
    mine = [(e["type"].removeprefix("io.paperchain."), e["data"].get("step")) for e in got
            if e["data"].get("run", e["subject"]) == run_id]
    assert mine == [("run.started", None), ("step.started", "a"), ("step.succeeded", "a"), ("step.started", "b"),
                    ("step.succeeded", "b"), ("step.started", "c"), ("step.succeeded", "c"), ("run.succeeded", None)]
    seqs = [int(e["sequence"]) for e in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_numbers_are_unique_and_since_replays_both_servers_events(servers):
    a, b = await servers("a"), await servers("b")
    start = b.state.hub.seq
    live = await _subscribe(b, ["*"])

    async def burst(server, name):
        for i in range(40):  # interleaved with the other server's burst, several emits in flight at once
            await asyncio.gather(*(server.kernel.emit("test.ping", f"{name}-{i}-{j}") for j in range(3)))

    await asyncio.gather(burst(a, "a"), burst(b, "b"))
    await a.kernel.journal.flush()
    await b.kernel.journal.flush()
    rows = await a.kernel.sql.read(sa.select(events.c.seq, events.c.subject).where(events.c.type == "test.ping"))
    assert len(rows) == 240 and len({r.seq for r in rows}) == 240  # no number given twice

    pings = await _cloudevents_until(live, lambda _m, got: sum(e["type"] == "io.paperchain.test.ping" for e in got) == 240)
    live_seqs = [int(e["sequence"]) for e in pings]
    assert live_seqs == sorted(live_seqs), "handed on in number order"
    assert {e["subject"] for e in pings if e["type"] == "io.paperchain.test.ping"} == {r.subject for r in rows}
    await live.close()

    # A client that saw the first half and reconnects, to the other server, gets exactly the rest.
    half = sorted(r.seq for r in rows)[119]
    for server in (a, b):
        ws = await _subscribe(server, ["*"], since=half)
        rest = await _cloudevents_until(ws, lambda _m, got: sum(e["type"] == "io.paperchain.test.ping"
                                                                 for e in got) == 120)
        await ws.close()
        seqs = [int(e["sequence"]) for e in rest if e["type"] == "io.paperchain.test.ping"]
        assert seqs == sorted(r.seq for r in rows if r.seq > half)
    assert min(r.seq for r in rows) > start


async def test_since_waits_for_a_number_another_server_has_not_committed_yet(servers):
    """The hub holds a later number until the earlier one arrives, so a cursor never jumps a gap."""
    a, b = await servers("a"), await servers("b")
    ws = await _subscribe(b, ["*"])
    slow = await a.kernel.cluster.sequence.next()  # a's number, its event not emitted yet
    await b.kernel.emit("test.after", "later")  # a higher number, on b
    await asyncio.sleep(0.2)
    assert b.state.hub.seq < slow, "b's own later event is held for a's number"
    a.kernel.cluster.events.committed(
        _event("test.before", "earlier", slow), a.kernel.journal.upsert("events", _row("test.before", "earlier", slow)))
    got = await _cloudevents_until(ws, lambda _m, got: len([e for e in got if e["type"].startswith("io.paperchain.test.")]) == 2)
    await ws.close()
    assert [e["subject"] for e in got if e["type"].startswith("io.paperchain.test.")] == ["earlier", "later"]


def _event(kind, subject, seq):
    from paperchain_sdk import Event

    return Event(type=kind, subject=subject, data={}, seq=seq)


def _row(kind, subject, seq):
    return {"seq": seq, "type": kind, "subject": subject, "time": "2026-01-01T00:00:00+00:00", "data": "{}"}


async def test_an_event_too_large_for_notify_is_read_from_the_table(servers):
    a, b = await servers("a"), await servers("b")
    ws = await _subscribe(b, ["*"])
    await a.kernel.emit("test.large", "big", {"text": "x" * 20_000})
    got = await _cloudevents_until(ws, lambda m, _: m["type"] == "io.paperchain.test.large")
    await ws.close()
    assert got[-1]["data"]["text"] == "x" * 20_000 and got[-1]["subject"] == "big"


async def test_after_the_bus_reconnects_subscribers_resume_with_since_and_events_flow_again(servers):
    a, b = await servers("a"), await servers("b")
    ws = await _subscribe(b, ["*"])
    old = b.kernel.cluster.bus._conn
    old.terminate()  # the connection to PostgreSQL is lost: messages in the meantime would be missed
    async with asyncio.timeout(10):
        message = json.loads((await ws.receive()).data)
    assert message["type"] == "error" and "since" in message  # told to come back with its cursor
    await eventually(lambda: b.kernel.cluster.bus._conn is not old, timeout=10)
    ws = await _subscribe(b, ["*"], since=message["since"])
    await a.kernel.emit("test.after", "again")
    got = await _cloudevents_until(ws, lambda m, _: m["type"] == "io.paperchain.test.after")
    await ws.close()
    assert got[-1]["subject"] == "again"


async def test_an_event_recorded_by_a_server_that_died_at_its_commit_is_still_seen_live(servers):
    # The announcement is the commit's own (a trigger's pg_notify), not a message the server sends
    # afterwards: a row committed by a process that then dies (here: written straight to the table,
    # by no server at all) reaches the other servers' live subscribers.
    a, b = await servers("a"), await servers("b")
    ws = await _subscribe(b, ["*"])
    seq = await a.kernel.cluster.sequence.next()
    async with a.kernel.sql.transaction() as conn:
        await conn.execute(sa.insert(events).values(seq=seq, type="test.orphan", subject="left-behind",
                                                    time="2026-12-08T00:00:00Z", data='{"why": "killed"}'))
    got = await _cloudevents_until(ws, lambda m, _: m["type"] == "io.paperchain.test.orphan")
    await ws.close()
    assert got[-1]["subject"] == "left-behind" and got[-1]["data"] == {"why": "killed"}
    assert int(got[-1]["sequence"]) == seq
