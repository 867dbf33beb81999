"""Tenant isolation of the notify plugin (issue 13): each message records the tenant of the run
that queued it; every notify route answers a tenant's caller about that tenant's messages only (an
other tenant's message is a 404 like an unknown id), the operator (no tenant) sees all, and an
in-app notification reaches only users of its own tenant."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from contextlib import closing

from notify_support import Receiver, config

import paperchain_notify


def _flow(name: str, url: str, user: str) -> dict:
    return {"name": name, "steps": [
        {"id": "hook", "uses": "notify.webhook", "with": {"url": url, "body": "b", "max_attempts": 1, "wait": False}},
        {"id": "tell", "uses": "notify.inapp", "with": {"to": [user], "subject": "done", "body": "{{ run.id }}"}},
    ]}


async def _run(api, token: str, flow: dict) -> dict:
    assert (await api.request("POST", "/api/v1/workflows", json=flow, token=token)).status == 201
    started = await api.request("POST", "/api/v1/runs", json={"workflow": flow["name"], "inputs": {}}, token=token)
    assert started.status == 202, started
    return await api.wait_run(started.json["runs"][0])


def _outputs(run: dict, step: str) -> dict:
    return next(s for s in run["steps"] if s["id"] == step)["outputs"]


async def _failed(api, message_id: str) -> dict:
    for _ in range(200):  # the outbox delivers in the background
        reply = await api.request("GET", f"/api/v1/notify/messages/{message_id}")
        if reply.json["status"] == "failed":
            return reply.json
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {message_id} never failed: {reply.json}")


def _same(real, real_id: str, fake, fake_id: str) -> bool:
    return real.status == fake.status and real.body.replace(real_id.encode(), b"?") == fake.body.replace(fake_id.encode(), b"?")


async def test_every_notify_route_answers_only_about_the_callers_tenant(paperchain_api):
    async with Receiver(always=400) as receiver:  # refused at once: a dead letter
        api = await paperchain_api(paperchain_notify, config=config())
        acme = {role: await api.user(f"acme-{role}", role, tenant="acme") for role in ("editor", "admin")}
        globex = {role: await api.user(f"globex-{role}", role, tenant="globex") for role in ("editor", "admin")}
        run = await _run(api, acme["editor"], _flow("acme-flow", receiver.url, "acme-editor"))
        assert run["status"] == "succeeded", run
        hook = _outputs(run, "hook")["messages"][0]["id"]
        tell = _outputs(run, "tell")["messages"][0]["id"]
        assert (await _failed(api, hook))["channel"] == "notify.webhook"
        nowhere = "msg_" + secrets.token_hex(16)

        for message in (hook, tell):  # delivery status: the message's tenant and the operator
            own = await api.request("GET", f"/api/v1/notify/messages/{message}", token=acme["editor"])
            assert own.status == 200 and own.json["id"] == message, own
            for token in globex.values():
                real = await api.request("GET", f"/api/v1/notify/messages/{message}", token=token)
                fake = await api.request("GET", f"/api/v1/notify/messages/{nowhere}", token=token)
                assert real.status == 404 and _same(real, message, fake, nowhere), (real, fake)

        async def dead(token) -> list[str]:
            reply = await api.request("GET", "/api/v1/notify/dead-letters", token=token)
            assert reply.status == 200, reply
            return [m["id"] for m in reply.json["messages"]]

        assert await dead(acme["admin"]) == [hook] and await dead(True) == [hook]
        assert await dead(globex["admin"]) == []

        inbox = (await api.request("GET", "/api/v1/notify/inbox", token=acme["editor"])).json["items"]
        assert [n["id"] for n in inbox] == [tell]
        for token in globex.values():
            assert (await api.request("GET", "/api/v1/notify/inbox", token=token)).json["items"] == []
            real = await api.request("POST", f"/api/v1/notify/inbox/{tell}/read", token=token)
            fake = await api.request("POST", f"/api/v1/notify/inbox/{nowhere}/read", token=token)
            assert real.status == 404 and _same(real, tell, fake, nowhere)
        inbox = (await api.request("GET", "/api/v1/notify/inbox", token=acme["editor"])).json["items"]
        assert inbox[0]["read"] is None  # globex's tries changed nothing


async def test_inapp_to_a_user_of_another_tenant_is_refused(paperchain_api):
    api = await paperchain_api(paperchain_notify, config=config())
    acme = await api.user("alice", "editor", tenant="acme")
    bob = await api.user("bob", "editor", tenant="globex")
    flow = {"name": "leak", "steps": [{"id": "tell", "uses": "notify.inapp",
                                       "with": {"to": ["bob"], "subject": "secret", "body": "acme's figures"}}]}
    run = await _run(api, acme, flow)
    assert run["status"] == "failed", run
    error = next(s for s in run["steps"] if s["id"] == "tell")["error"]
    assert "bob" in error and "acme" in error, error  # says who and why, not a traceback
    assert (await api.request("GET", "/api/v1/notify/inbox", token=bob)).json["items"] == []
    nobody = await api.request("GET", "/api/v1/notify/dead-letters")  # nothing was queued for bob at all
    assert nobody.json["messages"] == []


async def test_the_live_notification_event_carries_its_tenant(paperchain_api):
    api = await paperchain_api(paperchain_notify, config=config())
    alice = await api.user("alice", "editor", tenant="acme")
    pushed = []
    api.kernel.listeners.append(lambda e: pushed.append(e) if e.type == "notification.created" else None)
    flow = {"name": "tell", "steps": [{"id": "tell", "uses": "notify.inapp", "with": {"to": ["alice"], "body": "hi"}}]}
    assert (await _run(api, alice, flow))["status"] == "succeeded"
    for _ in range(100):
        if pushed:
            break
        await asyncio.sleep(0.05)
    (event,) = pushed
    assert await api.kernel.event_tenant(event) == "acme"  # so the live API sends it to acme's users only


def test_an_outbox_from_before_tenants_is_migrated(kernel, tmp_path):
    """The tables the plugin made itself before plugin storage (and before tenants) are taken over by
    its first revision: they gain a tenant column; their messages stay the operator's (no tenant known)."""
    data_dir = tmp_path / "kernel-0"  # the kernel fixture's first data directory
    data_dir.mkdir()
    path = data_dir / "paperchain.db"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("""CREATE TABLE notify_outbox (
            id TEXT PRIMARY KEY, channel TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE,
            recipient TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL, payload TEXT NOT NULL,
            priority INTEGER NOT NULL, send_at REAL NOT NULL, next_try REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL, backoff REAL NOT NULL,
            status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', created REAL NOT NULL, sent REAL)""")
        db.execute("CREATE INDEX notify_outbox_due ON notify_outbox (status, next_try)")
        db.execute("""CREATE TABLE notify_inbox (id TEXT PRIMARY KEY, user TEXT NOT NULL, title TEXT NOT NULL,
            body TEXT NOT NULL, data TEXT NOT NULL, created REAL NOT NULL, read REAL)""")
        db.execute("INSERT INTO notify_outbox VALUES ('msg_old', 'notify.inapp', 'k', 'alice', 's', 'b', '{}', 0, 0, 0, "
                   "1, 5, 1.0, 'failed', 'old', 0, NULL)")
        db.execute("INSERT INTO notify_outbox VALUES ('msg_cut', 'notify.inapp', 'k2', 'alice', 's', 'b', '{}', 0, 0, "
                   "0, 0, 1, 1.0, 'sending', '', 0, NULL)")  # claimed before claims had a lease: queued again
        db.execute("INSERT INTO notify_inbox VALUES ('n_old', 'alice', 'hello', 'b', '{}', 1, NULL)")
    harness = kernel(config())
    outbox = harness.kernel.component("notify.inapp").outbox

    async def check():
        assert (await outbox.get("msg_old", tenant="acme")) is None
        assert (await outbox.get("msg_old", tenant=""))["tenant"] is None
        assert [r["id"] for r in await outbox.dead_letters(tenant="")] == ["msg_old"]
        assert await outbox.dead_letters(tenant="acme") == []
        assert (await outbox.resend("msg_old"))["status"] == "queued"  # the dead-letter resend works on it
        (cut,) = await outbox.wait(["msg_cut"], 10)
        assert cut["status"] == "sent" and cut["attempts"] == 1 and cut["claimed_by"] is None
        (old,) = await outbox.wait(["msg_old"], 10)  # the resent one is delivered too, before the kernel stops
        assert old["status"] == "sent"

    harness.call(check())
    harness.close()
    with closing(sqlite3.connect(path)) as db:
        for table in ("notify_outbox", "notify_inbox"):
            assert "tenant" in [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
        assert {"claimed_by", "claimed_until"} <= {c[1] for c in db.execute("PRAGMA table_info(notify_outbox)")}
        assert db.execute("SELECT version_num FROM notify_alembic_version").fetchone() == ("0002",)
        # the old notification, then the message cut short and the dead letter resent, delivered after the start
        assert sorted(db.execute("SELECT title FROM notify_inbox").fetchall()) == [("hello",), ("s",), ("s",)]
