"""The document page's "Similar documents" panel: near-duplicates found by the real workflow
(document.text + text.near_duplicates) through the served API, shown only within a tenant."""

from __future__ import annotations

import re

import pytest

import paperchain_text
from paperchain_sdk.testing.web import PASSWORD

WORKFLOW = {"name": "dedup", "steps": [
    {"id": "text", "uses": "document.text"},
    {"id": "duplicates", "uses": "text.near_duplicates", "needs": ["text"]},
]}


@pytest.fixture
async def corpus(paperchain_site, english, spanish):
    """acme has an invoice, a near copy of it and a Spanish letter; globex has its own copy of the invoice."""
    api = await paperchain_site(paperchain_text)
    ids = {}
    for tenant, files in (("acme", {"invoice.txt": english, "invoice-copy.txt": english.replace("wonderful", "great"),
                                    "carta.txt": spanish}),
                          ("globex", {"their-invoice.txt": english})):
        token = await api.user(f"{tenant}-api", "editor", tenant=tenant)
        await api.state.accounts.create_user(f"{tenant}-reader", PASSWORD, "viewer", tenant)
        assert (await api.request("POST", "/api/v1/workflows", json=WORKFLOW, token=token)).status == 201
        for name, text in files.items():
            reply = await api.request("POST", f"/api/v1/documents?name={name}", data=text.encode(), token=token,
                                      headers={"Content-Type": "application/octet-stream"})
            assert reply.status == 201, reply
            ids[name] = reply.json["id"]
            started = await api.request("POST", "/api/v1/runs", token=token,
                                        json={"workflow": "dedup", "documents": [ids[name]]})
            assert (await api.wait_run(started.json["runs"][0]))["status"] == "succeeded"
    api.ids = ids
    return api


def links(html: str) -> list[str]:
    return re.findall(r'href="/documents/([0-9a-f]+)"', html)


async def test_panel_lists_near_duplicates_of_the_readers_tenant_only(corpus):
    ids = corpus.ids
    reader = await corpus.login("acme-reader")
    status, _, page = await reader.get(f"/documents/{ids['invoice.txt']}")
    assert status == 200 and "/slots/document.side?document=" in page  # the page fetches its panels
    status, _, panel = await reader.get(f"/slots/document.side?document={ids['invoice.txt']}")
    assert status == 200 and "Similar documents" in panel
    assert links(panel) == [ids["invoice-copy.txt"]] and "invoice-copy.txt" in panel
    assert ids["their-invoice.txt"] not in panel  # globex's identical copy stays globex's
    _, _, letter = await reader.get(f"/slots/document.side?document={ids['carta.txt']}")
    assert links(letter) == [] and "No document with text this alike" in letter

    other = await corpus.login("globex-reader")
    _, _, theirs = await other.get(f"/slots/document.side?document={ids['their-invoice.txt']}")
    assert links(theirs) == [] and "Similar documents" in theirs
    status, _, _ = await other.get(f"/slots/document.side?document={ids['invoice.txt']}")
    assert status == 404  # acme's document does not exist for globex


async def test_panel_in_spanish(corpus):
    reader = await corpus.login("acme-reader", "es")
    _, _, panel = await reader.get(f"/slots/document.side?document={corpus.ids['invoice.txt']}")
    assert "Documentos similares" in panel and "parecido" in panel
