"""The vector index of one kernel: chunks embedded into plugin storage, searched in process.

Vectors are stored as float32 bytes (SQLite BLOB, PostgreSQL BYTEA). Search keeps the current
model's vectors in memory (``matrix.py``: a block per tenant) until the stored set changes: a
write through this index marks them stale at once, and a cheap stamp of ``ai_documents`` (count,
chunks, latest time) catches writes by another process. A refresh reads only the documents whose
embedding time changed.
Tenants: every row carries its document's tenant; a caller of a tenant only scores that tenant's
rows (the operator, tenant ``''``, every tenant's), and the routes check what is left with
``kernel.documents.visible`` (live documents only).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import sqlalchemy as sa

from .chunking import chunk_text
from .matrix import ChunkHit, Matrix, document_means, nearest
from .models import Embedder, embedder, recorded_name
from .settings import EmbedSettings
from .storage import SCHEMA, chunks, embedded

_STAMP = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(embedded.c.chunks), 0),
                   sa.func.max(embedded.c.embedded)).where(embedded.c.model == sa.bindparam("model"))
_VECTORS = sa.select(chunks.c.id, chunks.c.document_id, chunks.c.tenant, chunks.c.vector).where(
    chunks.c.model == sa.bindparam("model"))
# Some documents' rows, found by ai_chunks_document: with the model in the WHERE clause, SQLite
# would walk the (model, tenant) index over every row instead. The model is checked after.
_VECTORS_OF = sa.select(chunks.c.id, chunks.c.document_id, chunks.c.tenant, chunks.c.vector, chunks.c.model).where(
    chunks.c.document_id.in_(sa.bindparam("ids", expanding=True)))
_VERSIONS = sa.select(embedded.c.document_id, embedded.c.embedded, embedded.c.tenant).where(
    embedded.c.model == sa.bindparam("model"))
_MODEL_OF = sa.select(embedded.c.document_id, embedded.c.model).where(embedded.c.document_id.in_(
    sa.bindparam("ids", expanding=True)))


# Up to this many rows are scored in the event loop's thread (about a millisecond per 10,000 rows:
# less than a hand-off to a worker thread under load); more go to a worker thread.
INLINE_ROWS = 30_000


class VectorIndex:
    def __init__(self, kernel: Any, store: Any, settings: EmbedSettings):
        self.kernel = kernel
        self.store = store
        self.settings = settings
        self._embedder: Embedder | None = None
        self._matrix: Matrix | None = None
        self._stamp: tuple | None = None
        self._loading = asyncio.Lock()

    @property
    def model(self) -> str:
        """The name stored with each vector: the model, marked by its engine (models.recorded_name)."""
        return recorded_name(self.settings.model, self.settings.engine)

    async def embedder(self) -> Embedder:
        if self._embedder is None:  # loading maps the weights file: off the event loop
            self._embedder = await asyncio.to_thread(embedder, self.settings.model, threads=self.settings.threads,
                                                     engine=self.settings.engine)
        return self._embedder

    async def encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        model = await self.embedder()
        return await asyncio.to_thread(model.encode, texts, query=query)

    # -- writing --------------------------------------------------------------------------------

    async def embed_document(self, document_id: str, tenant: str, text: str | None, *,
                             chunk_words: int | None = None, overlap: int | None = None) -> int:
        """Replace the document's chunks with ``text``'s, embedded by the current model; the number
        of chunks (0 for blank text, recorded so a backfill does not come back to it)."""
        pieces = chunk_text(text, words=chunk_words or self.settings.chunk_words,
                            overlap=self.settings.overlap if overlap is None else overlap)
        vectors = await self.encode([p.text for p in pieces], query=False)
        model = await self.embedder()
        rows = [{"document_id": document_id, "tenant": tenant, "ordinal": p.ordinal, "page": p.page,
                 "text": p.text, "model": model.recorded, "dim": model.dim,
                 "vector": vectors[i].astype("<f4").tobytes()} for i, p in enumerate(pieces)]
        record = {"document_id": document_id, "tenant": tenant, "model": model.recorded, "dim": model.dim,
                  "chunks": len(rows), "embedded": time.time()}
        async with self.store.transaction() as tx:
            await tx.execute(sa.delete(chunks).where(chunks.c.document_id == document_id))
            if rows:
                await tx.execute(sa.insert(chunks), rows)
            await tx.execute(self.store.insert(embedded).values(**record).on_conflict_do_update(
                index_elements=["document_id"], set_={k: v for k, v in record.items() if k != "document_id"}))
        self._stamp = None  # the next search reads what changed
        return len(rows)

    async def forget(self, document_id: str) -> None:
        """Drop a deleted document's chunks and record."""
        async with self.store.transaction() as tx:
            await tx.execute(sa.delete(chunks).where(chunks.c.document_id == document_id))
            await tx.execute(sa.delete(embedded).where(embedded.c.document_id == document_id))
        self._stamp = None  # the next search reads what changed

    async def stale(self, document_ids: list[str]) -> list[str]:
        """Those of ``document_ids`` not embedded with the current model (never, or by another)."""
        if not document_ids:
            return []
        current = {r.document_id: r.model for r in await self.store.read(_MODEL_OF, {"ids": document_ids})}
        return [d for d in document_ids if current.get(d) != self.model]

    # -- reading --------------------------------------------------------------------------------

    async def matrix(self) -> Matrix:
        stamp = tuple((await self.store.read(_STAMP, {"model": self.model}))[0])
        if self._matrix is not None and stamp == self._stamp:
            return self._matrix
        async with self._loading:
            if self._matrix is None or stamp != self._stamp:
                self._matrix = await self._refreshed(self._matrix)
                self._stamp = stamp
        return self._matrix

    async def _refreshed(self, matrix: Matrix | None) -> Matrix:
        """The vectors as stored now. Only the documents embedded, re-embedded or dropped since
        ``matrix`` was read are read again (by their embedding time in ``ai_documents``), unless
        they are half of them or more: a write costs the next search milliseconds, not a full reload."""
        dim = (await self.embedder()).dim
        versions = {r.document_id: (r.embedded, r.tenant) for r in await self.store.read(_VERSIONS, {"model": self.model})}
        if matrix is not None and matrix.dim == dim:
            changed = [d for d, version in versions.items() if matrix.versions.get(d) != version]
            dropped = set(changed) | (matrix.versions.keys() - versions.keys())
            if len(dropped) <= max(len(matrix.versions) // 2, 1):  # else a full read is as quick
                rows = []
                for at in range(0, len(changed), 500):
                    rows += [row for row in await self.store.read(_VECTORS_OF, {"ids": changed[at:at + 500]})
                             if row.model == self.model]
                return await asyncio.to_thread(matrix.updated, dropped, rows, versions)
        rows = await self.store.read(_VECTORS, {"model": self.model})
        return await asyncio.to_thread(Matrix.of_rows, rows, dim, versions)

    async def nearest(self, vector: np.ndarray, tenant: str, *, limit: int,
                      exclude: str | None = None) -> list[ChunkHit]:
        """The best chunk of each of the ``limit`` documents nearest to ``vector`` (cosine), among
        the chunks of ``tenant``'s documents (``''``: every tenant's), best first."""
        return await self._nearest(await self.matrix(), vector, tenant, limit, exclude)

    async def nearest_to_text(self, text: str, tenant: str, *, limit: int) -> list[ChunkHit]:
        """:meth:`nearest` to a query's embedding; the check that the vectors in memory are current
        (a database read) runs while the query is embedded."""
        vectors, matrix = await asyncio.gather(self.encode([text], query=True), self.matrix())
        return await self._nearest(matrix, vectors[0], tenant, limit, None)

    async def _nearest(self, matrix: Matrix, vector: np.ndarray, tenant: str, limit: int,
                       exclude: str | None) -> list[ChunkHit]:
        blocks = matrix.scope(tenant)
        if sum(len(b) for b in blocks) > INLINE_ROWS:
            return await asyncio.to_thread(nearest, blocks, vector, limit, exclude)
        return nearest(blocks, vector, limit, exclude)

    async def document_vectors(self, tenant: str) -> tuple[list[str], np.ndarray]:
        """Every document of ``tenant`` (``''``: every tenant's) with vectors, and its vector: the
        mean of its chunks' vectors, unit length (one row per document, in the same order)."""
        matrix = await self.matrix()
        return await asyncio.to_thread(document_means, matrix.scope(tenant), matrix.dim)

    async def document_vector(self, document_id: str) -> np.ndarray | None:
        """The mean of a document's chunk vectors, unit length; None when it has none."""
        rows = [row for row in await self.store.read(_VECTORS_OF, {"ids": [document_id]}) if row.model == self.model]
        if not rows:
            return None
        mean = np.mean([np.frombuffer(r.vector, dtype="<f4") for r in rows], axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)

    async def chunk_rows(self, chunk_ids: list[int]) -> dict[int, sa.Row]:
        if not chunk_ids:
            return {}
        rows = await self.store.read(sa.select(chunks.c.id, chunks.c.page, chunks.c.text).where(
            chunks.c.id.in_(chunk_ids)))
        return {r.id: r for r in rows}


async def index_for(kernel: Any) -> VectorIndex:
    """This kernel's index (in ``kernel.plugin_state("ai")``), with the deployment's settings of
    ``ai.embed`` (plugins.toml), made on first use."""
    state = kernel.plugin_state("ai")
    index = state.get("index")
    if index is None:
        settings = _deployment_settings(kernel)
        store = await kernel.storage(SCHEMA)
        index = state.setdefault("index", VectorIndex(kernel, store, settings))
    return index


def _deployment_settings(kernel: Any) -> EmbedSettings:
    try:
        component = kernel.component("ai.embed")
    except Exception:  # noqa: BLE001 - the plugin's step is disabled: its defaults still hold
        return EmbedSettings()
    return component.settings or EmbedSettings()
