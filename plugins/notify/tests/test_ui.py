"""The notify plugin's pages in the web UI: the outbox, a message's delivery status, dead letters
and Resend, seeded through real workflow runs against a loopback receiver."""

from __future__ import annotations

import asyncio
import re

import pytest
from notify_support import LOOPBACK, Receiver, wait_until

import paperchain_notify
from paperchain_sdk.testing.web import PASSWORD


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.fixture
def served(paperchain_site):
    """``await served()``: the site with one-attempt webhooks to loopback, and users of two tenants."""
    async def start():
        api = await paperchain_site(paperchain_notify,
                                    config={"components": {"notify.webhook": {**LOOPBACK, "max_attempts": 1}}})
        for name, role, tenant in (("acme-ed", "editor", "acme"), ("acme-viewer", "viewer", "acme"),
                                   ("globex-ed", "editor", "globex")):
            await api.state.accounts.create_user(name, PASSWORD, role, tenant)
        return api

    return start


async def send_one(api, url: str, subject: str, *, tenant: str) -> None:
    """Run a workflow of ``tenant`` whose webhook step posts to ``url``."""
    token = await api.user(f"{tenant}-api", "editor", tenant=tenant)
    saved = await api.request("PUT", "/api/v1/workflows/ping", token=token, json={"name": "ping", "steps": [
        {"id": "hook", "uses": "notify.webhook", "with": {"url": url, "subject": subject, "body": "hello"}}]})
    assert saved.status in (200, 201), saved
    run = await api.request("POST", "/api/v1/runs", token=token, json={"workflow": "ping"})
    await api.wait_run(run.json["runs"][0])


async def test_outbox_shows_delivery_status_and_resend_sends_a_dead_letter_again(served):
    async with Receiver(always=400) as receiver:
        api = await served()
        await send_one(api, receiver.url + "/in", "Invoice ready", tenant="acme")
        editor = await api.login("acme-ed")
        await wait_until(lambda: receiver.calls >= 1)

        async def listed():
            return await editor.get("/p/notify?status=failed")

        status, _, page = await listed()
        assert status == 200 and "Invoice ready" in page and 'data-status-count="failed">1<' in page
        message_id = re.search(r'data-message="([^"]+)"', page).group(1)
        status, _, detail = await editor.get(f"/p/notify/messages/{message_id}")
        assert status == 200 and "Invoice ready" in detail and "400" in detail and "Resend" in detail

        # Another tenant's editor sees none of it; the message is a 404 to them.
        stranger = await api.login("globex-ed")
        status, _, other = await stranger.get("/p/notify")
        assert status == 200 and "Invoice ready" not in other
        assert (await stranger.get(f"/p/notify/messages/{message_id}"))[0] == 404
        assert (await stranger.post(f"/p/notify/messages/{message_id}/resend", {"csrf": csrf(other)}))[0] == 404

        # The operator (no tenant) sees every tenant's messages, each with its tenant.
        operator = await api.login("ada")
        _, _, everything = await operator.get("/p/notify")
        assert "Invoice ready" in everything and "<td>acme</td>" in everything

        # A viewer has no outbox (the API's message status needs editor) and cannot resend.
        viewer = await api.login("acme-viewer")
        status, _, refused = await viewer.get("/p/notify")
        assert status == 403 and "Resend" not in refused
        _, _, home = await viewer.get("/")
        assert (await viewer.post(f"/p/notify/messages/{message_id}/resend", {"csrf": csrf(home)}))[0] == 403
        # Without the CSRF token, or from another site, the resend is refused.
        assert (await editor.post(f"/p/notify/messages/{message_id}/resend", {}))[0] == 403
        assert (await editor.post(f"/p/notify/messages/{message_id}/resend", {"csrf": csrf(page)},
                                 origin=None))[0] == 403

        receiver.always = None  # the receiver is fixed: Resend delivers
        status, _, _ = await editor.post(f"/p/notify/messages/{message_id}/resend", {"csrf": csrf(page)})
        assert status == 303
        await wait_until(lambda: len(receiver.requests) == 1)
        outbox = paperchain_notify.lifecycle.running_outbox(api.kernel)
        for _ in range(200):
            if (await outbox.get(message_id))["status"] == "sent":
                break
            await asyncio.sleep(0.05)
        status, _, page = await editor.get(f"/p/notify/messages/{message_id}")
        assert status == 200 and "Sent" in page and "Resend" not in page
        assert "Invoice ready" not in (await listed())[2]
        audit = (await api.request("GET", "/api/v1/audit?actor=acme-ed")).json["items"]
        assert [e["outcome"] for e in audit if e["action"] == "POST /p/notify/messages/{id}/resend"] \
            == ["denied", "denied", "success"], audit


async def test_outbox_in_spanish(served):
    async with Receiver() as receiver:
        api = await served()
        await send_one(api, receiver.url + "/in", "Factura lista", tenant="acme")
        await wait_until(lambda: len(receiver.requests) == 1)
        editor = await api.login("acme-ed", "es")
        status, _, page = await editor.get("/p/notify")
        assert status == 200 and "Factura lista" in page
        assert "Bandeja de salida" in page and "Enviado" in page and "Mensajes fallidos" in page
