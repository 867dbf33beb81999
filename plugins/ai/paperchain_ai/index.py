"""The vector index of one kernel: chunks embedded into plugin storage, searched in process.

Vectors are stored as float32 bytes (SQLite BLOB, PostgreSQL BYTEA). Search loads the current
model's vectors once into one NumPy matrix (rows of unit length, so a dot product is the cosine)
and keeps it until the stored set changes: a write through this index drops it at once, and a
cheap stamp of ``ai_documents`` (count, chunks, latest time) catches writes by another process.
Tenants: every row carries its document's tenant; a caller of a tenant only scores that tenant's
rows (the operator, tenant ``''``, every tenant's), and the routes check what is left with
``kernel.documents.visible`` (live documents only).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import attrs
import numpy as np
import sqlalchemy as sa

from .chunking import chunk_text
from .models import Embedder, embedder
from .settings import EmbedSettings
from .storage import SCHEMA, chunks, embedded

_STAMP = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(embedded.c.chunks), 0),
                   sa.func.max(embedded.c.embedded)).where(embedded.c.model == sa.bindparam("model"))
_VECTORS = sa.select(chunks.c.id, chunks.c.document_id, chunks.c.tenant, chunks.c.vector).where(
    chunks.c.model == sa.bindparam("model")).order_by(chunks.c.tenant, chunks.c.id)  # the (model, tenant) index's order
_MODEL_OF = sa.select(embedded.c.document_id, embedded.c.model).where(embedded.c.document_id.in_(
    sa.bindparam("ids", expanding=True)))


# Up to this many rows are scored in the event loop's thread (about a millisecond per 10,000 rows:
# less than a hand-off to a worker thread under load); more go to a worker thread.
INLINE_ROWS = 30_000


@attrs.frozen
class ChunkHit:
    chunk_id: int
    document_id: str
    score: float


class _Matrix:
    """The current model's vectors, each tenant's rows one contiguous block (a tenant's search
    multiplies only its own rows), with each row's chunk id and document."""

    def __init__(self, rows: list, dim: int):
        count = len(rows)
        # One buffer for every vector: a single copy instead of one NumPy call per row.
        self.vectors = np.frombuffer(b"".join(row.vector for row in rows), dtype="<f4").reshape(count, dim)
        self.chunk_ids = np.fromiter((row.id for row in rows), dtype=np.int64, count=count)
        self.documents = np.array([row.document_id for row in rows], dtype=object)
        self.blocks: dict[str, tuple[int, int]] = {}  # tenant -> (first row, past its last row)
        start = 0
        for i in range(1, count + 1):  # rows come ordered by tenant
            if i == count or rows[i].tenant != rows[start].tenant:
                self.blocks[rows[start].tenant] = (start, i)
                start = i

    def block(self, tenant: str) -> tuple[int, int] | None:
        """The rows a caller of ``tenant`` may score (``''``: every row), None when there are none."""
        if not tenant:
            return (0, len(self.chunk_ids)) if len(self.chunk_ids) else None
        return self.blocks.get(tenant)


class VectorIndex:
    def __init__(self, kernel: Any, store: Any, settings: EmbedSettings):
        self.kernel = kernel
        self.store = store
        self.settings = settings
        self._embedder: Embedder | None = None
        self._matrix: _Matrix | None = None
        self._stamp: tuple | None = None
        self._loading = asyncio.Lock()

    @property
    def model(self) -> str:
        return self.settings.model

    async def embedder(self) -> Embedder:
        if self._embedder is None:  # loading maps the weights file: off the event loop
            self._embedder = await asyncio.to_thread(embedder, self.model, threads=self.settings.threads)
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
                 "text": p.text, "model": model.name, "dim": model.dim,
                 "vector": vectors[i].astype("<f4").tobytes()} for i, p in enumerate(pieces)]
        record = {"document_id": document_id, "tenant": tenant, "model": model.name, "dim": model.dim,
                  "chunks": len(rows), "embedded": time.time()}
        async with self.store.transaction() as tx:
            await tx.execute(sa.delete(chunks).where(chunks.c.document_id == document_id))
            if rows:
                await tx.execute(sa.insert(chunks), rows)
            await tx.execute(self.store.insert(embedded).values(**record).on_conflict_do_update(
                index_elements=["document_id"], set_={k: v for k, v in record.items() if k != "document_id"}))
        self._matrix = None
        return len(rows)

    async def forget(self, document_id: str) -> None:
        """Drop a deleted document's chunks and record."""
        async with self.store.transaction() as tx:
            await tx.execute(sa.delete(chunks).where(chunks.c.document_id == document_id))
            await tx.execute(sa.delete(embedded).where(embedded.c.document_id == document_id))
        self._matrix = None

    async def stale(self, document_ids: list[str]) -> list[str]:
        """Those of ``document_ids`` not embedded with the current model (never, or by another)."""
        if not document_ids:
            return []
        current = {r.document_id: r.model for r in await self.store.read(_MODEL_OF, {"ids": document_ids})}
        return [d for d in document_ids if current.get(d) != self.model]

    # -- reading --------------------------------------------------------------------------------

    async def matrix(self) -> _Matrix:
        stamp = tuple((await self.store.read(_STAMP, {"model": self.model}))[0])
        if self._matrix is not None and stamp == self._stamp:
            return self._matrix
        async with self._loading:
            if self._matrix is None or stamp != self._stamp:
                rows = await self.store.read(_VECTORS, {"model": self.model})
                model = await self.embedder()
                self._matrix = await asyncio.to_thread(_Matrix, rows, model.dim)
                self._stamp = stamp
        return self._matrix

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

    async def _nearest(self, matrix: _Matrix, vector: np.ndarray, tenant: str, limit: int,
                       exclude: str | None) -> list[ChunkHit]:
        block = matrix.block(tenant)
        if block is None:
            return []
        if block[1] - block[0] > INLINE_ROWS:
            return await asyncio.to_thread(_top_documents, matrix, vector, block, limit, exclude)
        return _top_documents(matrix, vector, block, limit, exclude)

    async def document_vectors(self, tenant: str) -> tuple[list[str], np.ndarray]:
        """Every document of ``tenant`` (``''``: every tenant's) with vectors, and its vector: the
        mean of its chunks' vectors, unit length (one row per document, in the same order)."""
        matrix = await self.matrix()
        block = matrix.block(tenant)
        if block is None:
            return [], np.zeros((0, matrix.vectors.shape[1]), dtype=np.float32)
        return await asyncio.to_thread(_document_means, matrix, block)

    async def document_vector(self, document_id: str) -> np.ndarray | None:
        """The mean of a document's chunk vectors, unit length; None when it has none."""
        rows = await self.store.read(sa.select(chunks.c.vector).where(
            chunks.c.document_id == document_id, chunks.c.model == self.model))
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


def _document_means(matrix: _Matrix, block: tuple[int, int]) -> tuple[list[str], np.ndarray]:
    start, end = block
    ids, inverse = np.unique(matrix.documents[start:end].astype(str), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    firsts = np.searchsorted(inverse[order], np.arange(len(ids)))
    sums = np.add.reduceat(matrix.vectors[start:end][order].astype(np.float64), firsts, axis=0)
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return ids.tolist(), sums.astype(np.float32)


def _top_documents(matrix: _Matrix, vector: np.ndarray, block: tuple[int, int], limit: int,
                   exclude: str | None) -> list[ChunkHit]:
    start, end = block
    documents = matrix.documents[start:end]
    scores = matrix.vectors[start:end] @ vector.astype(np.float32)
    if exclude is not None:
        scores[documents == exclude] = -np.inf
    hits: list[ChunkHit] = []
    seen: set[str] = set()
    # Take more chunks than documents wanted (a document may have several near the top), widening
    # until enough documents are found or every chunk has been looked at.
    want = min(len(scores), max(limit * 8, 64))
    while True:
        top = np.argpartition(-scores, want - 1)[:want] if want < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        hits, seen = [], set()
        for i in top:
            if not np.isfinite(scores[i]):
                break
            document = documents[i]
            if document not in seen:
                seen.add(document)
                hits.append(ChunkHit(int(matrix.chunk_ids[start + i]), document, float(scores[i])))
                if len(hits) == limit:
                    return hits
        if want >= len(scores):
            return hits
        want = min(len(scores), want * 4)


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
