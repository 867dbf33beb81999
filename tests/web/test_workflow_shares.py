"""Sharing a workflow with tenants from its page: the deployment's admins see the tenants it is shared
with, add and remove one (CSRF-checked, audited like the API's share routes); nobody else can."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from api_support import TestPlugin

from paperchain.store import tables
from paperchain_sdk.testing.web import PASSWORD

CHAIN = {"name": "chain", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}]}


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def test_an_admin_shares_a_workflow_with_a_tenant_and_stops(site):
    assert (await site.request("PUT", "/api/v1/workflows/chain", json=CHAIN)).status == 200
    await site.state.accounts.create_user("tina", PASSWORD, "editor", tenant="acme")
    tina = await site.browser().login("tina")
    assert (await tina.get("/workflows/chain"))[0] == 404  # not shared yet

    ada = await site.browser().login("ada")
    status, _, page = await ada.get("/workflows/chain")
    assert status == 200 and 'id="shares"' in page and "Not shared with any other tenant." in page
    status, headers, _ = await ada.post("/workflows/chain/shares", {"csrf": csrf(page), "tenant": " acme "})
    assert status == 303 and headers["Location"] == "/workflows/chain#shares"
    _, _, page = await ada.get("/workflows/chain")
    assert 'data-share="acme"' in page and "Stop sharing with acme" in page
    assert await site.kernel.workflows.shares("chain") == ["acme"]
    assert (await tina.get("/workflows/chain"))[0] == 200  # she reads and may run it now

    # bad input: no tenant, or a name too long: a clear error, nothing shared
    status, _, refused = await ada.post("/workflows/chain/shares", {"csrf": csrf(page), "tenant": ""})
    assert status == 400 and "Name the tenant" in refused
    status, _, refused = await ada.post("/workflows/chain/shares", {"csrf": csrf(page), "tenant": "x" * 65})
    assert status == 400
    # without the CSRF token, or from another site: refused
    assert (await ada.post("/workflows/chain/shares", {"tenant": "globex"}))[0] == 403
    assert (await ada.post("/workflows/chain/shares", {"csrf": csrf(page), "tenant": "globex"},
                           origin="https://evil.example"))[0] == 403

    status, _, _ = await ada.post("/workflows/chain/unshare", {"csrf": csrf(page), "tenant": "acme"})
    assert status == 303 and await site.kernel.workflows.shares("chain") == []
    assert (await tina.get("/workflows/chain"))[0] == 404

    audit = tables.audit
    rows = await site.kernel.sql.read(sa.select(audit.c.action, audit.c.target, audit.c.outcome, audit.c.details)
                                      .where(audit.c.actor == "ada", audit.c.action.startswith("POST /workflows/"))
                                      .order_by(audit.c.id))
    entries = [(r.action, r.target, r.outcome, r.details) for r in rows]
    done = [(a, t, d) for a, t, o, d in entries if o == "success"]
    assert [(a, t) for a, t, _ in done] == [("POST /workflows/{name}/shares", "workflow:chain"),
                                           ("POST /workflows/{name}/unshare", "workflow:chain")], entries
    assert "acme" in str(done[0][2]) and "acme" in str(done[1][2])


async def test_only_the_deployments_admins_share(site):
    assert (await site.request("PUT", "/api/v1/workflows/chain", json=CHAIN)).status == 200
    await site.state.accounts.create_user("tom", PASSWORD, "admin", tenant="acme")
    eddie = await site.browser().login("eddie")
    status, _, page = await eddie.get("/workflows/chain")
    assert status == 200 and 'id="shares"' not in page
    assert (await eddie.post("/workflows/chain/shares", {"csrf": csrf(page), "tenant": "acme"}))[0] == 403
    tom = await site.browser().login("tom")  # a tenant's admin: sharing crosses tenants
    _, _, home = await tom.get("/")
    assert (await tom.post("/workflows/chain/shares", {"csrf": csrf(home), "tenant": "acme"}))[0] == 403
    assert await site.kernel.workflows.shares("chain") == []


async def test_the_shares_in_spanish(site):
    assert (await site.request("PUT", "/api/v1/workflows/chain", json=CHAIN)).status == 200
    ada = await site.browser("es").login("ada")
    status, _, page = await ada.get("/workflows/chain")
    assert status == 200 and "Compartido con" in page and "No se comparte con ningún otro inquilino." in page


@pytest.mark.slow
def test_sharing_in_the_browser(paperchain_live_server, paperchain_watched):
    """Share and stop sharing from the workflow's page in chromium: no CSP violation, no console error,
    no serious axe finding."""
    from playwright.sync_api import expect

    server = paperchain_live_server(TestPlugin())
    assert server.call(server.api.request("PUT", "/api/v1/workflows/chain", json=CHAIN)).status == 200
    watched = paperchain_watched(server)
    page = watched.login("ada", then="/workflows/chain")
    shares = page.locator("#shares")
    expect(shares.get_by_text("Not shared with any other tenant.")).to_be_visible()
    shares.get_by_label("Tenant").fill("acme")
    shares.get_by_role("button", name="Share", exact=True).click()
    expect(shares.locator("li[data-share]")).to_have_text(["acme Stop sharing"], use_inner_text=True)
    watched.check_accessibility()
    shares.get_by_role("button", name="Stop sharing with acme").click()
    expect(page.locator("#shares li[data-share]")).to_have_count(0)
    watched.check_accessibility()
