"""The notify plugin's pages in the web UI: the outbox, a message's delivery status, dead letters
and Resend, seeded through real workflow runs against a loopback receiver."""

from __future__ import annotations

import asyncio
import re

import paperchain_notify
import pytest
from notify_support import LOOPBACK, Receiver, wait_until
from paperchain_sdk.testing.web import PASSWORD, WebClient


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.fixture
async def served(paperchain_api):
    users = []

    async def start(receiver_url: str):
        config = {"components": {"notify.webhook": {**LOOPBACK, "max_attempts": 1}}}
        api = await paperchain_api(paperchain_notify, config=config)
        for name, role, tenant in (("eddie", "editor", "acme"), ("vera", "viewer", "acme"),
                                   ("gina", "editor", "globex")):
            await api.state.accounts.create_user(name, PASSWORD, role, tenant)
        api.web = lambda name, language="en": _login(api, name, language)
        return api

    async def _login(api, name, language):
        user = WebClient(api.url, language)
        users.append(user)
        return await user.login(name)

    yield start
    for user in users:
        await user.close()


async def send_one(api, url: str, subject: str, *, as_user: str) -> None:
    """Run a workflow of ``as_user``'s tenant whose webhook step posts to ``url``."""
    token = await api.user(as_user + "-api", "editor", tenant="acme")
    saved = await api.request("PUT", "/api/v1/workflows/ping", token=token, json={"name": "ping", "steps": [
        {"id": "hook", "uses": "notify.webhook", "with": {"url": url, "subject": subject, "body": "hello"}}]})
    assert saved.status in (200, 201), saved
    run = await api.request("POST", "/api/v1/runs", token=token, json={"workflow": "ping"})
    await api.wait_run(run.json["runs"][0])


async def test_outbox_shows_delivery_status_and_resend_sends_a_dead_letter_again(served):
    async with Receiver(always=400) as receiver:
        api = await served(receiver.url)
        await send_one(api, receiver.url + "/in", "Invoice ready", as_user="eddie")
        eddie = await api.web("eddie")
        await wait_until(lambda: receiver.calls >= 1)

        async def listed():
            return await eddie.get("/p/notify?status=failed")

        status, _, page = await listed()
        assert status == 200 and "Invoice ready" in page and 'data-status-count="failed">1<' in page
        message_id = re.search(r'data-message="([^"]+)"', page).group(1)
        status, _, detail = await eddie.get(f"/p/notify/messages/{message_id}")
        assert status == 200 and "Invoice ready" in detail and "400" in detail and "Resend" in detail

        # Another tenant's editor sees none of it; the message is a 404 to them.
        gina = await api.web("gina")
        status, _, other = await gina.get("/p/notify")
        assert status == 200 and "Invoice ready" not in other
        assert (await gina.get(f"/p/notify/messages/{message_id}"))[0] == 404
        assert (await gina.post(f"/p/notify/messages/{message_id}/resend", {"csrf": csrf(other)}))[0] == 404

        # A viewer has no outbox (the API's message status needs editor) and cannot resend.
        vera = await api.web("vera")
        status, _, refused = await vera.get("/p/notify")
        assert status == 403 and "Resend" not in refused
        _, _, home = await vera.get("/")
        assert (await vera.post(f"/p/notify/messages/{message_id}/resend", {"csrf": csrf(home)}))[0] == 403
        # Without the CSRF token, or from another site, the resend is refused.
        assert (await eddie.post(f"/p/notify/messages/{message_id}/resend", {}))[0] == 403
        assert (await eddie.post(f"/p/notify/messages/{message_id}/resend", {"csrf": csrf(page)},
                                 origin=None))[0] == 403

        receiver.always = None  # the receiver is fixed: Resend delivers
        status, _, _ = await eddie.post(f"/p/notify/messages/{message_id}/resend", {"csrf": csrf(page)})
        assert status == 303
        await wait_until(lambda: len(receiver.requests) == 1)
        outbox = paperchain_notify.lifecycle.running_outbox(api.kernel)
        for _ in range(200):
            if (await outbox.get(message_id))["status"] == "sent":
                break
            await asyncio.sleep(0.05)
        status, _, page = await eddie.get(f"/p/notify/messages/{message_id}")
        assert status == 200 and "Sent" in page and "Resend" not in page
        assert "Invoice ready" not in (await listed())[2]
        audit = (await api.request("GET", "/api/v1/audit?actor=eddie")).json["items"]
        assert [e["outcome"] for e in audit if e["action"] == "POST /p/notify/messages/{id}/resend"] \
            == ["denied", "denied", "success"], audit


async def test_outbox_in_spanish(served):
    async with Receiver() as receiver:
        api = await served(receiver.url)
        await send_one(api, receiver.url + "/in", "Factura lista", as_user="eddie")
        await wait_until(lambda: len(receiver.requests) == 1)
        eddie = await api.web("eddie", "es")
        status, _, page = await eddie.get("/p/notify")
        assert status == 200 and "Factura lista" in page
        assert "Bandeja de salida" in page and "Enviado" in page and "Mensajes fallidos" in page
