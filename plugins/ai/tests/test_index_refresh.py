"""The in-memory matrix follows writes by reading only what changed: after re-embedding, dropping
and adding documents (through this index or another, as another process would), it holds exactly
what a fresh load holds, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np

from paperchain_ai import index as index_module
from paperchain_ai import matrix as matrix_module
from paperchain_ai.index import VectorIndex
from paperchain_ai.settings import EmbedSettings
from paperchain_ai.storage import SCHEMA

SETTINGS = EmbedSettings(chunk_words=16, overlap=4)


def _content(matrix) -> dict[str, list[tuple[int, str, bytes]]]:
    """Each tenant's rows as (chunk id, document, vector bytes), in the matrix's order."""
    return {tenant: [(int(block.chunk_ids[i]), block.documents[i], block.vectors[i].tobytes())
                     for i in range(len(block))] for tenant, block in matrix.blocks.items()}


async def test_a_refresh_reads_only_changed_documents_and_matches_a_fresh_load(paperchain_storage, texts, monkeypatch):
    store = await paperchain_storage(SCHEMA)
    ours, theirs = VectorIndex(None, store, SETTINGS), VectorIndex(None, store, SETTINGS)
    theirs._embedder = await ours.embedder()
    await ours.embed_document("inv-en", "acme", texts["invoice_en"])
    await ours.embed_document("cat-en", "acme", texts["cat_en"])
    await ours.embed_document("inv-es", "globex", texts["invoice_es"])
    await ours.embed_document("lease", "", texts["lease_en"])
    for n, key in enumerate(sorted(texts) * 2):  # unchanged documents: most of them, as in a real corpus
        await ours.embed_document(f"kept-{n}", "initech", texts[key])
    first = await ours.matrix()
    assert set(first.blocks) == {"acme", "globex", "", "initech"}

    read: list[int] = []
    of_rows = matrix_module.Matrix.of_rows.__func__

    def counting(cls, rows, dim, versions):  # Matrix.of_rows, counting the rows read
        read.append(len(rows))
        return of_rows(cls, rows, dim, versions)

    monkeypatch.setattr(matrix_module.Matrix, "of_rows", classmethod(counting))
    await theirs.embed_document("inv-en", "acme", texts["cat_es"])  # re-embedded by another writer
    await theirs.forget("lease")  # dropped
    await ours.embed_document("cat-es", "globex", texts["cat_es"])  # added through this index
    refreshed = await ours.matrix()
    changed = await store.scalar(index_module.sa.select(index_module.sa.func.count()).select_from(
        index_module.chunks).where(index_module.chunks.c.document_id.in_(["inv-en", "cat-es"])))
    assert read == [changed]  # only the two changed documents' chunks were read
    fresh = await VectorIndex(None, store, SETTINGS).matrix()
    assert _content(refreshed) == _content(fresh) and set(refreshed.blocks) == {"acme", "globex", "initech"}
    assert refreshed.versions == fresh.versions

    query = (await ours.encode(["a cat asleep in the sun"], query=True))[0]
    hits = await ours.nearest(query, "globex", limit=5)
    assert hits[0].document_id == "cat-es"
    assert {h.document_id for h in await ours.nearest(query, "globex", limit=5)} == {"inv-es", "cat-es"}
    assert "lease" not in {h.document_id for h in await ours.nearest(query, "", limit=20)}
    assert await ours.matrix() is refreshed  # nothing changed since: the same matrix
    assert refreshed.blocks["initech"] is first.blocks["initech"]  # a tenant no write touched: shared
    ids, vectors = await ours.document_vectors("acme")
    assert ids == ["cat-en", "inv-en"] and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
