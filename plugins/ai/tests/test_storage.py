"""The index on both databases (SQLite and PostgreSQL, the ``database_url`` fixture): float32
vectors round-trip through the BLOB/BYTEA column, top-k keeps tenants apart, a model change
makes every document stale."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from paperchain_ai.index import VectorIndex
from paperchain_ai.settings import EmbedSettings
from paperchain_ai.storage import SCHEMA, chunks, embedded


async def test_vectors_round_trip_and_tenants_stay_apart(paperchain_storage, texts):
    store = await paperchain_storage(SCHEMA)
    index = VectorIndex(None, store, EmbedSettings(chunk_words=16, overlap=4))
    assert await index.embed_document("inv-en", "acme", texts["invoice_en"]) >= 2
    assert await index.embed_document("cat-es", "acme", texts["cat_es"]) >= 1
    assert await index.embed_document("inv-es", "globex", texts["invoice_es"]) >= 1
    assert await index.embed_document("blank", "acme", "  ") == 0

    rows = await store.read(sa.select(chunks).where(chunks.c.document_id == "inv-en").order_by(chunks.c.ordinal))
    assert {(r.model, r.dim, r.tenant) for r in rows} == {("multilingual-e5-small-fp32", 384, "acme")}
    stored = np.frombuffer(rows[0].vector, dtype="<f4")
    expected = (await index.encode([rows[0].text], query=False))[0]
    assert stored.shape == (384,) and np.array_equal(stored, expected)  # bytes kept exactly

    query = (await index.encode(["how much must I pay for the desks?"], query=True))[0]
    acme = await index.nearest(query, "acme", limit=5)
    assert [h.document_id for h in acme] == ["inv-en", "cat-es"]  # one hit per document, best first
    globex = await index.nearest(query, "globex", limit=5)
    assert [h.document_id for h in globex] == ["inv-es"]
    assert await index.nearest(query, "initech", limit=5) == []  # a tenant with nothing sees nothing
    everyone = await index.nearest(query, "", limit=5)  # the operator
    assert {h.document_id for h in everyone} == {"inv-en", "inv-es", "cat-es"}
    assert "inv-en" not in {h.document_id for h in await index.nearest(query, "", limit=5, exclude="inv-en")}


async def test_re_embedding_replaces_and_a_model_change_makes_documents_stale(paperchain_storage, texts):
    store = await paperchain_storage(SCHEMA)
    first = VectorIndex(None, store, EmbedSettings())
    await first.embed_document("d1", "", texts["lease_en"])
    await first.embed_document("d1", "", texts["cat_en"])  # replaced, not added to
    assert await store.scalar(sa.select(sa.func.count()).select_from(chunks)) == 1
    assert await first.stale(["d1", "d2"]) == ["d2"]
    assert len((await first.matrix()).chunk_ids) == 1

    other = VectorIndex(None, store, EmbedSettings(model="portuguese-multilingual-e5-small"))
    assert await other.stale(["d1"]) == ["d1"]  # embedded with another model: to do again
    assert len((await other.matrix()).chunk_ids) == 0  # search uses the current model's vectors only
    await other.embed_document("d1", "", texts["cat_en"])
    record = (await store.read(sa.select(embedded)))[0]
    assert (record.model, record.dim, record.chunks) == ("portuguese-multilingual-e5-small-fp32", 384, 1)
    assert await other.stale(["d1"]) == [] and await first.stale(["d1"]) == ["d1"]
    # the first index's cached matrix sees the change through the stamp (another writer)
    assert len((await first.matrix()).chunk_ids) == 0
