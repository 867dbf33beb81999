"""Live events: WebSocket subscriptions, ordering, reconnect with since, slow clients, SSE."""

import asyncio
import json

import aiohttp

FLOW = {"name": "steps3", "steps": [{"id": "a", "uses": "test.wait", "with": {"seconds": 0.01}},
                                    {"id": "b", "uses": "test.wait", "needs": ["a"], "with": {"seconds": 0.01}},
                                    {"id": "c", "uses": "test.wait", "needs": ["b"], "with": {"seconds": 0.01}}]}


async def _receive_until(ws, predicate, timeout=15):
    got = []
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads((await ws.receive()).data)
            got.append(message)
            if predicate(message):
                return got


async def test_websocket_run_events_in_order(api):
    await api.request("POST", "/api/v1/workflows", json=FLOW)
    async with api.session.ws_connect(api.url.replace("http", "ws") + "/api/v1/events") as ws:
        await ws.send_json({"type": "auth", "token": api.token})
        assert json.loads((await ws.receive()).data)["type"] == "authenticated"
        await ws.send_json({"type": "subscribe", "topics": ["workflow:steps3"]})
        assert json.loads((await ws.receive()).data)["type"] == "subscribed"
        run_id = (await api.request("POST", "/api/v1/runs", json={"workflow": "steps3"})).json["runs"][0]
        events = await _receive_until(ws, lambda m: m.get("type") == "io.paperchain.run.succeeded")
    events = [e for e in events if e.get("specversion") == "1.0"]
    kinds = [(e["type"].removeprefix("io.paperchain."), e["data"].get("step")) for e in events if e["data"].get("run", e["subject"]) == run_id]
    assert kinds == [("run.started", None), ("step.started", "a"), ("step.succeeded", "a"), ("step.started", "b"),
                     ("step.succeeded", "b"), ("step.started", "c"), ("step.succeeded", "c"), ("run.succeeded", None)]
    seqs = [int(e["sequence"]) for e in events]
    assert seqs == sorted(seqs) and events[0]["source"] == "/paperchain"


async def test_reconnect_with_since_misses_nothing(api):
    await api.request("POST", "/api/v1/workflows", json=FLOW)
    url = api.url.replace("http", "ws") + "/api/v1/events"
    headers = {"Authorization": f"Bearer {api.token}"}
    async with api.session.ws_connect(url, headers=headers) as ws:
        await ws.send_json({"type": "subscribe", "topics": ["runs"]})
        await ws.receive()
        run_id = (await api.request("POST", "/api/v1/runs", json={"workflow": "steps3"})).json["runs"][0]
        first = await _receive_until(ws, lambda m: m.get("type") == "io.paperchain.step.succeeded")
        last_seen = int(first[-1]["sequence"])
    await api.wait_run(run_id)  # events go on while the client is away
    async with api.session.ws_connect(url, headers=headers) as ws:
        await ws.send_json({"type": "subscribe", "topics": [f"run:{run_id}"], "since": last_seen})
        await ws.receive()
        rest = await _receive_until(ws, lambda m: m.get("type") == "io.paperchain.run.succeeded")
    seen = [e["type"] for e in first if "specversion" in e and (e["data"].get("run") == run_id or e["subject"] == run_id)]
    seen += [e["type"] for e in rest if "specversion" in e]
    assert seen.count("io.paperchain.step.succeeded") == 3 and seen.count("io.paperchain.step.started") == 3
    assert seen[-1] == "io.paperchain.run.succeeded" and len(seen) == len(set((t, i) for i, t in enumerate(seen)))


async def test_bad_clients_are_refused(api):
    url = api.url.replace("http", "ws") + "/api/v1/events"
    async with api.session.ws_connect(url) as ws:
        await ws.send_json({"type": "subscribe", "topics": ["runs"]})
        assert "authenticate first" in json.loads((await ws.receive()).data)["message"]
        assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    async with api.session.ws_connect(url) as ws:
        await ws.send_json({"type": "auth", "token": "pck_bad_key"})
        assert json.loads((await ws.receive()).data)["type"] == "error"
    async with api.session.ws_connect(url, headers={"Authorization": f"Bearer {api.token}"}) as ws:
        await ws.send_str("not json")
        assert json.loads((await ws.receive()).data)["type"] == "error"
        await ws.send_json({"type": "subscribe", "topics": ["nonsense"]})
        assert "unknown topic" in json.loads((await ws.receive()).data)["message"]


async def test_a_slow_client_is_dropped_and_others_keep_up(paperchain_api):
    from api_support import TestPlugin

    api = await paperchain_api(TestPlugin(), api={"subscriber_queue": 5})
    hub = api.state.hub
    who = api.state.accounts._jwt_principal(api.token)[0]
    slow, _ = await hub.subscribe(who, ["*"], None)
    fast, _ = await hub.subscribe(who, ["*"], None)
    for i in range(5):
        await api.kernel.emit("test.tick", str(i))
        fast.queue.get_nowait()  # the fast client keeps reading; the slow one never does
    await api.kernel.emit("test.tick", "overflow")
    assert slow.dropped and slow not in hub.subscribers
    assert not fast.dropped and fast.queue.get_nowait()[0] > 0


async def test_server_sent_events_fallback(api):
    await api.request("POST", "/api/v1/workflows", json=FLOW)
    run_id = (await api.request("POST", "/api/v1/runs", json={"workflow": "steps3"})).json["runs"][0]
    await api.wait_run(run_id)
    headers = {"Authorization": f"Bearer {api.token}"}
    events = []
    async with api.session.get(f"{api.url}/api/v1/events/stream?topics=run:{run_id}&since=0", headers=headers) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["Cache-Control"] == "no-store"
        async with asyncio.timeout(10):
            async for line in resp.content:
                if line.startswith(b"data: "):
                    events.append(json.loads(line[6:]))
                    if events[-1]["type"] == "io.paperchain.run.succeeded":
                        break
    assert [e["type"] for e in events][0] == "io.paperchain.run.started" and len(events) == 8
    bad = await api.request("GET", "/api/v1/events/stream?topics=bogus")
    assert bad.status == 400


async def _drain(sub) -> list[dict]:
    await asyncio.sleep(0.2)  # the hub hands tenant subscribers their events after a lookup
    got = []
    while not sub.queue.empty():
        item = sub.queue.get_nowait()
        if item is not None:
            got.append(json.loads(item[1]))
    return got


def _mentions(events: list[dict], ids) -> bool:
    text = json.dumps(events)
    return any(i in text for i in ids)


async def test_live_events_reach_only_the_subscribers_of_their_tenant(api):
    """Live runs and documents events went to every subscriber, whatever their tenant."""
    from paperchain_sdk.web import Principal

    acme = await api.user("alice", "editor", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    hub = api.state.hub
    watchers = {name: (await hub.subscribe(Principal(name=f"w-{name}", role="admin", tenant=tenant), topics, None))[0]
                for name, tenant, topics in (("acme", "acme", ["*"]), ("globex", "globex", ["runs", "documents", "*"]),
                                             ("operator", "", ["runs", "documents"]))}
    ids = {}
    for tenant, token in (("acme", acme), ("globex", globex)):
        await api.request("POST", "/api/v1/workflows", json=FLOW, token=token)
        doc = (await api.request("POST", f"/api/v1/documents?name={tenant}.txt", data=f"text of {tenant}".encode(),
                                 token=token)).json["id"]
        await api.request("PATCH", f"/api/v1/documents/{doc}", json={"tags": ["x"]}, token=token)
        started = (await api.request("POST", "/api/v1/runs", json={"workflow": "steps3"}, token=token)).json
        await api.wait_run(started["runs"][0])
        ids[tenant] = (doc, started["runs"][0], started["batch"])
    got = {name: await _drain(sub) for name, sub in watchers.items()}
    assert not _mentions(got["globex"], ids["acme"]) and not _mentions(got["acme"], ids["globex"])
    for tenant in ("acme", "globex"):
        _, run_id, batch_id = ids[tenant]
        kinds = {e["type"] for e in got[tenant] if run_id in (e["subject"], e["data"].get("run"))}
        assert {"io.paperchain.run.started", "io.paperchain.step.succeeded", "io.paperchain.run.succeeded"} <= kinds
        assert any(e["type"] == "io.paperchain.document.updated" for e in got[tenant])
        assert _mentions(got["operator"], ids[tenant])  # the operator sees every tenant
    # the same holds for a subscriber that replays the log with since
    async with api.session.get(f"{api.url}/api/v1/events/stream?topics=*&since=0",
                               headers={"Authorization": f"Bearer {globex}"}) as resp:
        replayed = []
        async with asyncio.timeout(10):
            async for line in resp.content:
                if line.startswith(b"data: "):
                    replayed.append(json.loads(line[6:]))
                    if replayed[-1]["type"] == "io.paperchain.batch.finished":
                        break
    assert replayed and not _mentions(replayed, ids["acme"])
    assert all(e["data"].get("tenant", "globex") == "globex" for e in replayed)


async def test_a_tenant_admin_gets_no_deployment_wide_audit_events(api):
    from paperchain.api.live import matches
    from paperchain_sdk import Event
    from paperchain_sdk.web import Principal

    event = Event(type="audit.recorded", subject="1", data={"actor": "someone"})
    assert matches("audit", event, Principal(name="root", role="admin"))
    assert not matches("audit", event, Principal(name="gina", role="admin", tenant="globex"))
