"""The outbox page in a real browser (Debian's chromium): a dead letter sent again with Resend; no
CSP violation, no console error, no serious accessibility violation (axe), in English and Spanish."""

from __future__ import annotations

import re

import pytest
from notify_support import LOOPBACK, Receiver

import paperchain_notify

pytestmark = pytest.mark.slow


def test_resend_a_dead_letter_from_the_outbox(paperchain_live_server, paperchain_watched):
    from playwright.sync_api import expect

    server = paperchain_live_server(paperchain_notify,
                                    config={"components": {"notify.webhook": {**LOOPBACK, "max_attempts": 1}}})
    receiver = Receiver(always=400)
    server.call(receiver.__aenter__())
    try:
        flow = {"name": "ping", "steps": [{"id": "hook", "uses": "notify.webhook", "with": {
            "url": receiver.url + "/in", "subject": "Invoice ready", "body": "hello"}}]}
        assert server.call(server.api.request("PUT", "/api/v1/workflows/ping", json=flow)).status in (200, 201)
        run = server.call(server.api.request("POST", "/api/v1/runs", json={"workflow": "ping"})).json["runs"][0]
        server.call(server.api.wait_run(run))

        watched = paperchain_watched(server)
        page = watched.login("eddie", then="/p/notify?status=failed")
        row = page.locator("tr[data-message]", has_text="Invoice ready")
        expect(row).to_contain_text("Failed")
        expect(page.get_by_role("link", name="Outbox")).to_be_visible()  # the plugin's entry in the navigation
        watched.check_accessibility()
        receiver.always = None  # the receiver works again
        row.get_by_role("button", name=re.compile("Resend")).click()
        expect(page).to_have_url(re.compile(r"/p/notify/messages/msg_"))
        for _ in range(3):  # the outbox delivers in the background; reloading shows where it stands
            page.reload()
            if page.get_by_text("Sent", exact=True).count():
                break
            page.wait_for_timeout(500)
        expect(page.locator("dd .chip")).to_have_text("Sent")
        assert len(receiver.requests) == 1
        watched.check_accessibility()

        spanish = paperchain_watched(server)
        spanish.login("eddie")
        spanish.context.add_cookies([{"name": "pc_lang", "value": "es", "url": server.url}])  # the language switch's
        page = spanish.page
        page.goto("/p/notify")
        expect(page.get_by_role("heading", name="Bandeja de salida")).to_be_visible()
        spanish.check_accessibility()

        phone = paperchain_watched(server, color_scheme="dark", viewport={"width": 390, "height": 844})
        page = phone.login("eddie", then="/p/notify")
        expect(page.locator("tr[data-message]")).to_have_count(1)
        phone.check_accessibility()
    finally:
        server.call(receiver.__aexit__(None, None, None))
