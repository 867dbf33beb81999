"""The document page's "Similar images" panel: perceptual hashes indexed by the real workflow
(vision.hashes, then the plugin's event hook) through the served API, shown only within a tenant."""

from __future__ import annotations

import asyncio
import re

import pytest

import paperchain_vision
from paperchain_sdk.testing.web import PASSWORD

WORKFLOW = {"name": "hash", "steps": [{"id": "h", "uses": "vision.hashes"}]}


@pytest.fixture
async def corpus(paperchain_site, testdata):
    """acme: a picture, the same pixels in other bytes, a typewritten page; globex: its own copy."""
    picture = (testdata / "crom.png").read_bytes()
    api = await paperchain_site(paperchain_vision)
    ids = {}
    for tenant, files in (("acme", {"crom.png": picture, "crom-copy.png": picture + b"\0",
                                    "typewriter.png": (testdata / "typewriter.png").read_bytes()}),
                          ("globex", {"their-crom.png": picture + b"\0\0"})):
        token = await api.user(f"{tenant}-api", "editor", tenant=tenant)
        await api.state.accounts.create_user(f"{tenant}-reader", PASSWORD, "viewer", tenant)
        assert (await api.request("POST", "/api/v1/workflows", json=WORKFLOW, token=token)).status == 201
        for name, data in files.items():
            reply = await api.request("POST", f"/api/v1/documents?name={name}", data=data, token=token,
                                      headers={"Content-Type": "application/octet-stream"})
            assert reply.status == 201, reply
            ids[name] = reply.json["id"]
        started = await api.request("POST", "/api/v1/runs", token=token,
                                    json={"workflow": "hash", "documents": [ids[n] for n in files]})
        for run_id in started.json["runs"]:
            assert (await api.wait_run(run_id))["status"] == "succeeded"
    api.ids = ids
    return api


def links(html: str) -> list[str]:
    return re.findall(r'href="/documents/([0-9a-f]+)"', html)


async def panel_of(user, document_id: str) -> str:
    # The run's end indexes the hashes in an event hook: wait for the index, not for a fixed time.
    for _ in range(100):
        status, _, html = await user.get(f"/slots/document.side?document={document_id}")
        assert status == 200
        if "vision-similar-heading" in html:
            return html
        await asyncio.sleep(0.05)
    raise AssertionError("the document's hashes were never indexed")


@pytest.mark.slow
async def test_panel_lists_similar_images_of_the_readers_tenant_only(corpus):
    ids = corpus.ids
    reader = await corpus.login("acme-reader")
    panel = await panel_of(reader, ids["crom.png"])
    assert links(panel) == [ids["crom-copy.png"]] and "crom-copy.png" in panel and "0 bits differ" in panel
    assert ids["their-crom.png"] not in panel
    other = await corpus.login("globex-reader")
    assert links(await panel_of(other, ids["their-crom.png"])) == []
    status, _, _ = await other.get(f"/slots/document.side?document={ids['crom.png']}")
    assert status == 404
    spanish = await corpus.login("acme-reader", "es")
    assert "Imágenes similares" in await panel_of(spanish, ids["crom.png"])
