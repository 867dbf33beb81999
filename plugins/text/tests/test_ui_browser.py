"""The document page's "Similar documents" panel in a real browser (Debian's chromium): it arrives
after the page, links to the near copy, and leaves no CSP violation, console error or serious
accessibility violation (axe)."""

from __future__ import annotations

import pytest

import paperchain_text

pytestmark = pytest.mark.slow
WORKFLOW = {"name": "dedup", "steps": [
    {"id": "text", "uses": "document.text"},
    {"id": "duplicates", "uses": "text.near_duplicates", "needs": ["text"]},
]}


def test_similar_documents_on_the_document_page(paperchain_live_server, paperchain_watched, english, spanish):
    from playwright.sync_api import expect

    server = paperchain_live_server(paperchain_text)
    assert server.call(server.api.request("POST", "/api/v1/workflows", json=WORKFLOW)).status == 201
    ids = {}
    for name, text in (("invoice.txt", english), ("invoice-copy.txt", english.replace("wonderful", "great")),
                       ("carta.txt", spanish)):
        reply = server.call(server.api.request("POST", f"/api/v1/documents?name={name}", data=text.encode(),
                                               headers={"Content-Type": "application/octet-stream"}))
        ids[name] = reply.json["id"]
        run = server.call(server.api.request("POST", "/api/v1/runs", json={"workflow": "dedup",
                                                                           "documents": [ids[name]]}))
        assert server.call(server.api.wait_run(run.json["runs"][0]))["status"] == "succeeded"

    watched = paperchain_watched(server)
    page = watched.login("vera", then=f"/documents/{ids['invoice.txt']}")
    panel = page.locator("section.plugin-similar")
    expect(panel.get_by_role("heading", name="Similar documents")).to_be_visible()
    expect(panel.get_by_role("link")).to_have_text(["invoice-copy.txt"])
    watched.check_accessibility()
    panel.get_by_role("link", name="invoice-copy.txt").click()
    expect(page).to_have_url(f"{server.url}/documents/{ids['invoice-copy.txt']}")
    expect(page.locator("section.plugin-similar").get_by_role("link")).to_have_text(["invoice.txt"])
    page.goto(f"/documents/{ids['carta.txt']}")
    expect(page.locator("section.plugin-similar")).to_contain_text("No document with text this alike")
