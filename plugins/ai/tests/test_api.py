"""The routes through the real served API (authentication, tenants, error mapping), documents
embedded by the ``ai.embed`` step in a workflow and by the backfill."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import paperchain_ai
from paperchain_ai.backfill import backfill
from paperchain_ai.index import VectorIndex, index_for
from paperchain_ai.settings import EmbedSettings
from paperchain_ai.storage import SCHEMA, embedded


@pytest.fixture
def paperchain_database_url(database_url):
    """Every test here on SQLite and on PostgreSQL (the kernel's full-text search differs)."""
    return "" if database_url.startswith("sqlite") else database_url


OCTET = {"Content-Type": "application/octet-stream"}
WORKFLOW = {"name": "embed", "steps": [
    {"id": "text", "uses": "document.text"},
    {"id": "embed", "uses": "ai.embed", "needs": ["text"]},
]}


async def _upload(api, name: str, text: str, token) -> str:
    reply = await api.request("POST", f"/api/v1/documents?name={name}", data=text.encode(), headers=OCTET, token=token)
    assert reply.status == 201, reply
    return reply.json["id"]


async def _embed(api, ids: list[str], token) -> None:
    started = await api.request("POST", "/api/v1/runs", json={"workflow": "embed", "documents": ids}, token=token)
    assert started.status in (200, 201, 202), started
    for run_id in started.json["runs"]:
        run = await api.wait_run(run_id)
        assert run["status"] == "succeeded", [(s["id"], s["error"]) for s in run["steps"]]


async def test_hybrid_search_and_similar_keep_tenants_apart(paperchain_api, texts):
    api = await paperchain_api(paperchain_ai)
    acme = await api.user("alice", "editor", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    for token in (acme, globex):
        assert (await api.request("POST", "/api/v1/workflows", json=WORKFLOW, token=token)).status == 201
    invoice_es = await _upload(api, "factura.txt", texts["invoice_es"], acme)
    cat_en = await _upload(api, "cat.txt", texts["cat_en"], acme)
    lease_en = await _upload(api, "lease.txt", texts["lease_en"], acme)
    secret = await _upload(api, "invoice.txt", texts["invoice_en"], globex)
    await _embed(api, [invoice_es, cat_en, lease_en], acme)
    await _embed(api, [secret], globex)

    # An English question finds the Spanish invoice first, by meaning (no shared words).
    found = await api.request("GET", "/api/v1/ai/search?q=how much do I owe for the office furniture", token=acme)
    assert found.status == 200, found
    hits = found.json["hits"]
    assert hits[0]["document_id"] == invoice_es and hits[0]["vector_rank"] == 1 and hits[0]["snippet"]
    assert secret not in {h["document_id"] for h in hits}  # globex's invoice, though it matches best
    # A word both lists agree on: full text contributes its rank and its marked snippet.
    worded = (await api.request("GET", "/api/v1/ai/search?q=lease rent", token=acme)).json["hits"]
    assert worded[0]["document_id"] == lease_en and worded[0]["full_text_rank"] == 1
    assert "[lease]" in worded[0]["snippet"].lower()
    theirs = (await api.request("GET", "/api/v1/ai/search?q=invoice total amount", token=globex)).json["hits"]
    assert [h["document_id"] for h in theirs] == [secret]

    similar = await api.request("GET", f"/api/v1/ai/similar/{invoice_es}?limit=5", token=acme)
    assert similar.status == 200, similar
    assert {d["document_id"] for d in similar.json["similar"]} == {cat_en, lease_en}
    mine = (await api.request("GET", f"/api/v1/ai/similar/{secret}", token=globex)).json["similar"]
    assert mine == []  # acme's documents are never its neighbours
    # Another tenant's document is a 404, the same as one that does not exist.
    hidden = await api.request("GET", f"/api/v1/ai/similar/{secret}", token=acme)
    missing = await api.request("GET", "/api/v1/ai/similar/" + "0" * 64, token=acme)
    assert hidden.status == missing.status == 404
    assert hidden.json["error"]["message"].replace(secret, "?") == missing.json["error"]["message"].replace("0" * 64, "?")

    # A deleted document leaves the index: its vectors are dropped, it is never a hit again.
    assert (await api.request("DELETE", f"/api/v1/documents/{invoice_es}", token=acme)).status in (200, 204)
    store = await api.kernel.storage(SCHEMA)
    assert await store.read(sa.select(embedded).where(embedded.c.document_id == invoice_es)) == []
    found = (await api.request("GET", "/api/v1/ai/search?q=factura de sillas", token=acme)).json["hits"]
    assert invoice_es not in {h["document_id"] for h in found}


async def test_bad_input_is_a_clear_400_or_404(paperchain_api, texts):
    api = await paperchain_api(paperchain_ai)
    empty = await api.request("GET", "/api/v1/ai/search?q=%20")
    assert empty.status == 400 and "empty" in empty.json["error"]["message"]
    absent = await api.request("GET", "/api/v1/ai/search")
    assert absent.status == 400
    long = await api.request("GET", "/api/v1/ai/search?q=" + "a" * 1001)
    assert long.status == 400 and "1001 characters" in long.json["error"]["message"]
    limit = await api.request("GET", "/api/v1/ai/search?q=x&limit=0")
    assert limit.status == 400 and "limit" in limit.json["error"]["message"]
    unknown = await api.request("GET", "/api/v1/ai/search?q=x&color=red")
    assert unknown.status == 400
    not_embedded = await _upload(api, "a.txt", texts["cat_en"], True)
    reply = await api.request("GET", f"/api/v1/ai/similar/{not_embedded}")
    assert reply.status == 404 and "backfill" in str(reply.json["error"]), reply.json
    assert (await api.request("GET", "/api/v1/ai/search?q=cat", token=None)).status == 401
    # no text in the index yet and no full-text match: an empty answer, not an error
    assert (await api.request("GET", "/api/v1/ai/search?q=zebra")).json["hits"] == []


async def test_backfill_embeds_what_is_missing_and_a_model_change_re_indexes(paperchain_api, texts):
    api = await paperchain_api(paperchain_ai)
    acme = await api.user("alice", "editor", tenant="acme")
    ids = [await _upload(api, f"{k}.txt", texts[k], acme) for k in ("invoice_en", "cat_es")]
    ids.append(await _upload(api, "lease.txt", texts["lease_en"], True))  # the deployment's own
    kernel = api.kernel
    # Uploaded, but no text step has run: the backfill extracts the text, then embeds it.
    report = await backfill(kernel, batch=2, limit=1)  # a partial run …
    assert (report.embedded, report.extracted) == (1, 1)
    report = await backfill(kernel, batch=2)  # … resumed: only the rest
    assert (report.embedded, report.extracted, report.needs_ocr, report.failed) == (2, 2, 0, [])
    assert (await backfill(kernel)).embedded == 0

    store = await kernel.storage(SCHEMA)
    tenants = {r.document_id: r.tenant for r in await store.read(sa.select(embedded))}
    assert tenants == {ids[0]: "acme", ids[1]: "acme", ids[2]: ""}
    found = (await api.request("GET", "/api/v1/ai/search?q=gato dormido", token=acme)).json["hits"]
    assert found[0]["document_id"] == ids[1] and ids[2] not in {h["document_id"] for h in found}

    # The deployment switches model: every document is stale and the backfill embeds it again.
    kernel.plugin_state("ai")["index"] = VectorIndex(kernel, store, EmbedSettings(model="portuguese-multilingual-e5-small"))
    assert (await index_for(kernel)).model == "portuguese-multilingual-e5-small-fp32"
    assert (await backfill(kernel)).embedded == 3
    assert {r.model for r in await store.read(sa.select(embedded))} == {"portuguese-multilingual-e5-small-fp32"}

