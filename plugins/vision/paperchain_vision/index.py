"""The similar-image index: perceptual hashes per document page, searched by Hamming distance.

It lives in the host's plugin storage (the deployment's database: the SQLite file of the data
directory, or PostgreSQL), in the table ``vision_hashes`` declared below and created by the
plugin's Alembic migrations (``migrations/versions``). Rows are written by the
``paperchain_event`` hook when a run that used ``vision.hashes`` ends, so the analyzer itself
stays a pure function (safe in the process pool, safe to retry). A search loads the hashes of one
algorithm as uint64 and XOR-popcounts them all in one vectorised step (in a worker thread): about
a millisecond per 100,000 pages.
"""

from __future__ import annotations

import asyncio

import numpy as np
import sqlalchemy as sa

from paperchain_sdk.storage import PluginSchema

from .settings import HASH_ALGORITHMS

SCHEMA = PluginSchema("vision", migrations="paperchain_vision:migrations")
hashes = SCHEMA.table(
    "vision_hashes",
    sa.Column("document_id", sa.Text, nullable=False), sa.Column("page", sa.Integer, nullable=False),
    sa.Column("algorithm", sa.Text, nullable=False), sa.Column("bits", sa.Integer, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("document_id", "page", "algorithm"),
    sa.Index("vision_hashes_by_algorithm", "algorithm", "bits"),
)


class HashIndex:
    """The index of one kernel (anything with ``await kernel.storage(SCHEMA)``)."""

    def __init__(self, kernel):
        self.kernel = kernel

    async def add(self, document_id: str, findings: dict) -> int:
        """Store the hashes of ``vision.hashes`` findings for a document (replacing older ones)."""
        rows = []
        bits = int(findings.get("hash_size", 8)) ** 2
        for page in findings.get("pages", ()):
            for algorithm in HASH_ALGORITHMS:
                if algorithm in page:
                    rows.append({"document_id": document_id, "page": int(page["page"]), "algorithm": algorithm,
                                 "bits": bits, "hash": page[algorithm]})
        store = await self.kernel.storage(SCHEMA)
        async with store.transaction() as tx:
            await tx.execute(sa.delete(hashes).where(hashes.c.document_id == document_id))
            if rows:
                await tx.execute(sa.insert(hashes), rows)
        return len(rows)

    async def hashes_of(self, document_id: str, algorithm: str) -> list[tuple[int, int, str]]:
        store = await self.kernel.storage(SCHEMA)
        rows = await store.read(sa.select(hashes.c.page, hashes.c.bits, hashes.c.hash)
                                .where(hashes.c.document_id == document_id, hashes.c.algorithm == algorithm)
                                .order_by(hashes.c.page))
        return [tuple(row) for row in rows]

    async def similar(self, document_id: str, *, algorithm: str = "phash", max_distance: int = 10,
                      limit: int = 50) -> list[dict]:
        """Other documents with a page within ``max_distance`` bits of one of this document's pages."""
        mine = await self.hashes_of(document_id, algorithm)
        if not mine:
            return []
        store = await self.kernel.storage(SCHEMA)
        rows = await store.read(sa.select(hashes.c.document_id, hashes.c.page, hashes.c.hash).where(
            hashes.c.algorithm == algorithm, hashes.c.bits == mine[0][1], hashes.c.document_id != document_id))
        if not rows:
            return []
        return await asyncio.to_thread(_nearest, mine, [tuple(r) for r in rows], max_distance, limit)


def _nearest(mine, rows, max_distance: int, limit: int) -> list[dict]:
    bits = mine[0][1]
    words = -(-bits // 64)
    table = np.array([_words(h, words) for _, _, h in rows], dtype=np.uint64).reshape(len(rows), words)
    best: dict[str, dict] = {}
    for page, _, value in mine:
        distance = np.bitwise_count(table ^ np.array(_words(value, words), dtype=np.uint64)).sum(axis=1)
        for i in np.nonzero(distance <= max_distance)[0]:
            doc, other_page, _ = rows[i]
            d = int(distance[i])
            if doc not in best or d < best[doc]["distance"]:
                best[doc] = {"document_id": doc, "distance": d, "page": page, "matched_page": other_page}
    return sorted(best.values(), key=lambda m: (m["distance"], m["document_id"]))[:limit]


def _words(hex_hash: str, words: int) -> list[int]:
    value = int(hex_hash, 16)
    return [(value >> (64 * (words - 1 - i))) & 0xFFFFFFFFFFFFFFFF for i in range(words)]
