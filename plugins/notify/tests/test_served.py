"""In-app notifications through the real API server: stored per user, pushed over the WebSocket,
marked read through the API."""

import asyncio
import json

import paperchain_notify


async def test_inapp_notification_is_pushed_and_marked_read(paperchain_api):
    api = await paperchain_api(paperchain_notify)
    alice = await api.user("alice", "viewer")
    bob = await api.user("bob", "viewer")
    await api.request("PUT", "/api/v1/workflows/tell", json={"name": "tell", "steps": [{
        "id": "note", "uses": "notify.inapp", "with": {"to": ["alice"], "subject": "Done: {{ run.workflow }}",
                                                        "body": "Your document is ready."}}]})
    url = api.url.replace("http", "ws") + "/api/v1/events"
    async with api.session.ws_connect(url) as ws_alice, api.session.ws_connect(url) as ws_bob:
        for ws, token in ((ws_alice, alice), (ws_bob, bob)):
            await ws.send_json({"type": "auth", "token": token})
            await ws.receive()
            await ws.send_json({"type": "subscribe", "topics": ["notifications"]})
            await ws.receive()
        run_id = (await api.request("POST", "/api/v1/runs", json={"workflow": "tell"})).json["runs"][0]
        assert (await api.wait_run(run_id))["status"] == "succeeded"
        async with asyncio.timeout(10):
            pushed = json.loads((await ws_alice.receive()).data)
        assert pushed["type"] == "io.paperchain.notification.created"
        assert pushed["data"]["title"] == "Done: tell" and pushed["data"]["user"] == "alice"
        try:
            extra = await asyncio.wait_for(ws_bob.receive(), 0.5)
            assert "notification" not in extra.data  # never another user's
        except TimeoutError:
            pass
    inbox = (await api.request("GET", "/api/v1/notify/inbox", token=alice)).json
    items = inbox["items"]
    assert len(items) == 1 and items[0]["read"] in (None, False, 0)
    message_id = items[0]["id"]
    assert (await api.request("GET", "/api/v1/notify/inbox", token=bob)).json != inbox
    assert (await api.request("POST", f"/api/v1/notify/inbox/{message_id}/read", token=bob)).status == 404
    assert (await api.request("POST", f"/api/v1/notify/inbox/{message_id}/read", token=alice)).status in (200, 204)
    again = (await api.request("GET", "/api/v1/notify/inbox", token=alice)).json
    items = again["items"]
    assert items[0]["read"]
