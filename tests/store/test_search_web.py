"""Search on the documents page: the page's other filters apply to the hits (read in batches until
a page is full), a tenant's user sees only that tenant's hits, and matched words are marked."""

from __future__ import annotations

import io

import attrs
import pytest
from api_support import TestPlugin
from PIL import Image

from paperchain_sdk.testing.web import PASSWORD


@pytest.fixture
async def site(paperchain_site):
    return await paperchain_site(TestPlugin())


async def _set_text(kernel, document_id: str, text: str) -> None:
    """The document's text, written as a step's update is (the search index follows)."""
    document = await kernel.documents.get(document_id)
    await kernel.documents.update(attrs.evolve(document, text=text))


async def _upload(site, name: str, data: bytes, text: str, token=True) -> str:
    reply = await site.request("POST", f"/api/v1/documents?name={name}", data=data, token=token,
                               headers={"Content-Type": "application/octet-stream"})
    assert reply.status == 201, reply
    await _set_text(site.kernel, reply.json["id"], text)
    return reply.json["id"]


def _pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 80), "white").save(out, "PDF")
    return out.getvalue()


async def test_filters_apply_to_hits_beyond_the_first_batch(site):
    # 230 text notes mention the harbour more often than the one PDF does, so the PDF ranks last
    # (past the first batch of 200 hits): the media type filter must still find it.
    for n in range(230):
        await _upload(site, f"note-{n}.txt", f"note {n}".encode(), "harbour harbour harbour harbour")
    deed = await _upload(site, "deed.pdf", _pdf(), "A deed for a house by the harbour. " + "A long text about the garden. " * 20)
    first, _ = await site.kernel.documents.search.query("harbour", None, 200)
    assert deed not in {h.id for h in first}
    browser = await site.login("vera")
    status, _, text = await browser.get("/documents?q=harbour&media_type=application%2Fpdf")
    assert status == 200 and deed in text and "note-1.txt" not in text
    assert "<mark>harbour</mark>" in text
    status, _, text = await browser.get("/documents?q=harbour")
    assert status == 200 and text.count("<mark>harbour</mark>") >= 48 and deed not in text  # a page of the best


async def test_a_tenants_user_sees_only_the_tenants_hits(site):
    await site.state.accounts.create_user("tess", PASSWORD, "editor", "acme")
    token = await site.user("tom", "editor", tenant="globex")
    theirs = await _upload(site, "globex.txt", b"globex", "Globex lighthouse survey", token=token)
    tess = await site.login("tess")
    status, _, text = await tess.get("/documents?q=lighthouse")
    assert status == 200 and theirs not in text and "globex.txt" not in text
    status, _, text = await (await site.login("vera")).get("/documents?q=lighthouse")
    assert status == 200 and theirs in text  # a user of no tenant is the operator
