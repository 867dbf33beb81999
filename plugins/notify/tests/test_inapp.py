"""In-app notifications: stored per user, announced as notification.created, read through the routes."""

from __future__ import annotations

import aiohttp
from aiohttp import web

import paperchain_notify
from paperchain_sdk.testing.routes import routes_app
from paperchain_sdk.web import endpoint_doc


async def _serve(kernel):
    app = routes_app(kernel, paperchain_notify.paperchain_routes(kernel), role="editor")  # X-Test-User: who calls
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


def test_inapp_step_stores_pushes_and_marks_read(kernel):
    harness = kernel()
    k = harness.kernel
    pushed = []
    k.listeners.append(lambda e: pushed.append(e) if e.type == "notification.created" else None)
    workflow = {"name": "tell", "steps": [{"id": "tell", "uses": "notify.inapp", "with": {
        "to": ["alice", "bob"], "subject": "Batch {{ inputs.batch }} done", "body": "{{ inputs.count }} documents"}}]}
    assert harness.run(workflow, inputs={"batch": "b7", "count": 3}).status == "succeeded"
    assert sorted(e.data["user"] for e in pushed) == ["alice", "bob"]
    assert pushed[0].data["title"] == "Batch b7 done" and pushed[0].data["body"] == "3 documents"

    async def scenario():
        runner, base = await _serve(k)
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/api/v1/notify/inbox", headers={"X-Test-User": "alice"}) as resp:
                    (item,) = (await resp.json())["items"]
                assert item["title"] == "Batch b7 done" and item["read"] is None
                async with http.post(f"{base}/api/v1/notify/inbox/{item['id']}/read", headers={"X-Test-User": "carol"}) as resp:
                    assert resp.status == 404  # not carol's
                async with http.post(f"{base}/api/v1/notify/inbox/{item['id']}/read", headers={"X-Test-User": "alice"}) as resp:
                    assert resp.status == 200
                async with http.get(f"{base}/api/v1/notify/inbox?unread=true", headers={"X-Test-User": "alice"}) as resp:
                    assert (await resp.json())["items"] == []
                async with http.get(f"{base}/api/v1/notify/inbox?unread=1", headers={"X-Test-User": "bob"}) as resp:
                    assert len((await resp.json())["items"]) == 1
                async with http.get(f"{base}/api/v1/notify/messages/{item['id']}", headers={"X-Test-User": "alice"}) as resp:
                    tracked = await resp.json()
                assert tracked["status"] == "sent" and tracked["channel"] == "notify.inapp" and tracked["recipient"] == "alice"
        finally:
            await runner.cleanup()

    harness.call(scenario())
    # The same step again (same idempotency key per run+step) is a new run: a new notification.
    assert harness.run(workflow, inputs={"batch": "b8", "count": 1}).status == "succeeded"
    assert len(pushed) == 4


def test_routes_are_documented_with_roles():
    from paperchain_notify.routes import routes

    docs = {(r.method, r.path): endpoint_doc(r.handler) for r in routes}
    assert docs[("GET", "/api/v1/notify/inbox")].role == "viewer"
    assert docs[("GET", "/api/v1/notify/dead-letters")].role == "admin"
    assert not any(d.public for d in docs.values())


def test_outbox_survives_a_restart(tmp_path):
    """A message queued for later is still sent after the kernel restarts."""
    import datetime as dt
    import time

    from notify_support import Receiver, config

    from paperchain.harness import KernelHarness
    from paperchain_sdk import Message

    data_dir = tmp_path / "persistent"
    first = KernelHarness([paperchain_notify], data_dir=data_dir, config=config())

    async def queue(receiver_url):
        hook = first.kernel.component("notify.webhook")
        at = dt.datetime.fromtimestamp(time.time() + 0.5, dt.UTC).isoformat()
        return (await hook.send(Message(to=(receiver_url,), body="after restart", data={"send_at": at}))).message_id

    second = None
    try:
        async def whole():
            nonlocal second
            async with Receiver() as receiver:
                message_id = await queue(receiver.url)
                await first.kernel.close()  # stops the outbox with the message still queued
                assert receiver.calls == 0
                from paperchain.kernel import Kernel

                second = Kernel(first.config, plugins=[paperchain_notify])
                await second.open()
                hook = second.component("notify.webhook")
                (row,) = await hook.outbox.wait([message_id], 10)
                await second.close()
                return row, receiver.calls

        row, calls = first.call(whole())
        assert row["status"] == "sent" and calls == 1
    finally:
        first._runner.close()
