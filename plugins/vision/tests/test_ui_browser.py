"""The document page's "Similar images" panel in a real browser (Debian's chromium): it links a
picture to the same picture stored under other bytes, with no CSP violation, console error or
serious accessibility violation (axe)."""

from __future__ import annotations

import pytest

import paperchain_vision

pytestmark = pytest.mark.slow


def test_similar_images_on_the_document_page(paperchain_live_server, paperchain_watched, testdata):
    from playwright.sync_api import expect

    server = paperchain_live_server(paperchain_vision)
    flow = {"name": "hash", "steps": [{"id": "h", "uses": "vision.hashes"}]}
    assert server.call(server.api.request("POST", "/api/v1/workflows", json=flow)).status == 201
    picture = (testdata / "crom.png").read_bytes()
    ids = {}
    for name, data in (("crom.png", picture), ("crom-copy.png", picture + b"\0"),
                       ("typewriter.png", (testdata / "typewriter.png").read_bytes())):
        reply = server.call(server.api.request("POST", f"/api/v1/documents?name={name}", data=data,
                                               headers={"Content-Type": "application/octet-stream"}))
        ids[name] = reply.json["id"]
    runs = server.call(server.api.request("POST", "/api/v1/runs", json={"workflow": "hash",
                                                                        "documents": list(ids.values())}))
    for run_id in runs.json["runs"]:
        assert server.call(server.api.wait_run(run_id))["status"] == "succeeded"

    watched = paperchain_watched(server)
    page = watched.login("vera", then=f"/documents/{ids['crom.png']}")
    for _ in range(20):  # the hashes are indexed by an event hook as the run ends
        if page.locator("section.plugin-similar").count():
            break
        page.wait_for_timeout(250)
        page.reload()
    panel = page.locator("section.plugin-similar")
    expect(panel.get_by_role("heading", name="Similar images")).to_be_visible()
    expect(panel.get_by_role("link")).to_have_text(["crom-copy.png"])
    watched.check_accessibility()
    panel.get_by_role("link", name="crom-copy.png").click()
    expect(page).to_have_url(f"{server.url}/documents/{ids['crom-copy.png']}")
