"""The triggers page in a real browser (Debian's chromium): the running triggers with a schedule's
next firing, in the navigation, with no CSP violation, console error or serious accessibility
violation (axe)."""

from __future__ import annotations

import re

import pytest
from triggers_support import steps_plugin, workflow

import paperchain_triggers

pytestmark = pytest.mark.slow


def test_triggers_page(paperchain_live_server, paperchain_watched):
    from playwright.sync_api import expect

    server = paperchain_live_server(paperchain_triggers, steps_plugin)
    for flow in (workflow("mornings", {"schedule": {"cron": "0 7 * * mon-fri", "timezone": "Europe/Madrid"}}),
                 workflow("hooked", {"webhook": {"secret": "s3cret-for-the-test"}})):
        assert server.call(server.api.request("PUT", f"/api/v1/workflows/{flow['name']}", json=flow)).status in (200, 201)

    watched = paperchain_watched(server)
    page = watched.login("vera")
    page.get_by_role("link", name="Triggers").click()
    expect(page).to_have_url(f"{server.url}/p/triggers")
    for _ in range(20):  # the host starts the triggers as the workflows' saved events are handled
        if page.locator("tr[data-trigger]").count() == 2:
            break
        page.wait_for_timeout(250)
        page.reload()
    schedule = page.locator('tr[data-trigger="mornings:schedule"]')
    expect(schedule).to_contain_text("0 7 * * mon-fri")
    expect(schedule.locator("[data-next]")).to_have_text(re.compile(r"[56]:00:00\sAM UTC"))  # 07:00 in Madrid
    expect(page.locator('tr[data-trigger="hooked:webhook"]')).to_contain_text("/hooks/hooked")
    watched.check_accessibility()

    phone = paperchain_watched(server, color_scheme="dark", viewport={"width": 390, "height": 844})
    page = phone.login("vera", then="/p/triggers")
    expect(page.locator("tr[data-trigger]")).to_have_count(2)
    phone.check_accessibility()
