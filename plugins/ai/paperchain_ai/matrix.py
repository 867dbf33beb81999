"""The vectors search scores, in memory: one block of rows per tenant (float32, unit length, so a
dot product is the cosine), each row with its chunk id and document.

A tenant's search multiplies only its own block; the operator's (tenant ``''``) every block. A
write rebuilds only the blocks of the tenants it touched, the others are shared with the matrix
before it. ``versions`` records, per document, the time it was embedded and its tenant: what a
refresh compares with ``ai_documents`` to find what changed.
"""

from __future__ import annotations

import attrs
import numpy as np


@attrs.frozen
class ChunkHit:
    chunk_id: int
    document_id: str
    score: float


class Block:
    """One tenant's rows, in chunk id order."""

    def __init__(self, vectors: np.ndarray, chunk_ids: np.ndarray, documents: np.ndarray):
        if len(chunk_ids) > 1 and not np.all(chunk_ids[1:] > chunk_ids[:-1]):
            order = np.argsort(chunk_ids, kind="stable")  # ids of deleted rows can be reused (SQLite)
            vectors, chunk_ids, documents = vectors[order], chunk_ids[order], documents[order]
        self.vectors, self.chunk_ids, self.documents = vectors, chunk_ids, documents

    def __len__(self) -> int:
        return len(self.chunk_ids)

    @classmethod
    def of_rows(cls, rows: list, dim: int) -> Block:
        count = len(rows)
        # One buffer for every vector: a single copy instead of one NumPy call per row.
        vectors = np.frombuffer(b"".join(row.vector for row in rows), dtype="<f4").reshape(count, dim)
        return cls(vectors, np.fromiter((row.id for row in rows), dtype=np.int64, count=count),
                   np.array([row.document_id for row in rows], dtype=object))

    def merged(self, dropped: set[str], added: Block) -> Block:
        """These rows less those of ``dropped`` documents, plus ``added``'s: one new array each."""
        keep = np.fromiter((d not in dropped for d in self.documents), dtype=bool, count=len(self))
        kept = int(keep.sum())
        vectors = np.empty((kept + len(added), self.vectors.shape[1]), dtype=np.float32)
        np.compress(keep, self.vectors, axis=0, out=vectors[:kept])
        vectors[kept:] = added.vectors
        return Block(vectors, np.concatenate([self.chunk_ids[keep], added.chunk_ids]),
                     np.concatenate([self.documents[keep], added.documents]))

    def top(self, vector: np.ndarray, limit: int, exclude: str | None) -> list[ChunkHit]:
        """The best chunk of each of the ``limit`` documents nearest to ``vector``, best first."""
        scores = self.vectors @ vector
        if exclude is not None:
            scores[self.documents == exclude] = -np.inf
        # Take more chunks than documents wanted (a document may have several near the top),
        # widening until enough documents are found or every chunk has been looked at.
        want = min(len(scores), max(limit * 8, 64))
        while True:
            top = np.argpartition(-scores, want - 1)[:want] if want < len(scores) else np.arange(len(scores))
            top = top[np.argsort(-scores[top], kind="stable")]
            hits: list[ChunkHit] = []
            seen: set[str] = set()
            for i in top:
                if not np.isfinite(scores[i]):
                    return hits
                document = self.documents[i]
                if document not in seen:
                    seen.add(document)
                    hits.append(ChunkHit(int(self.chunk_ids[i]), document, float(scores[i])))
                    if len(hits) == limit:
                        return hits
            if want >= len(scores):
                return hits
            want = min(len(scores), want * 4)

    def means(self) -> tuple[list[str], np.ndarray]:
        """Each document's mean chunk vector, unit length, with the documents in sorted order."""
        ids, inverse = np.unique(self.documents.astype(str), return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        firsts = np.searchsorted(inverse[order], np.arange(len(ids)))
        sums = np.add.reduceat(self.vectors[order].astype(np.float64), firsts, axis=0)
        sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        return ids.tolist(), sums.astype(np.float32)


class Matrix:
    def __init__(self, blocks: dict[str, Block], versions: dict[str, tuple[float, str]], dim: int):
        self.blocks, self.versions, self.dim = blocks, versions, dim

    @classmethod
    def of_rows(cls, rows: list, dim: int, versions: dict[str, tuple[float, str]]) -> Matrix:
        by_tenant: dict[str, list] = {}
        for row in rows:
            by_tenant.setdefault(row.tenant, []).append(row)
        return cls({tenant: Block.of_rows(part, dim) for tenant, part in by_tenant.items()}, versions, dim)

    def updated(self, dropped: set[str], rows: list, versions: dict[str, tuple[float, str]]) -> Matrix:
        """This matrix without the rows of ``dropped`` documents and with ``rows``; only the blocks
        of the tenants concerned are rebuilt."""
        added = Matrix.of_rows(rows, self.dim, {}).blocks
        touched = {self.versions[d][1] for d in dropped if d in self.versions} | added.keys()
        blocks = dict(self.blocks)
        for tenant in touched:
            empty = Block.of_rows([], self.dim)
            block = blocks.get(tenant, empty).merged(dropped, added.get(tenant, empty))
            if len(block):
                blocks[tenant] = block
            else:
                blocks.pop(tenant, None)
        return Matrix(blocks, versions, self.dim)

    def scope(self, tenant: str) -> list[Block]:
        """The blocks a caller of ``tenant`` may score (``''``: every tenant's)."""
        if not tenant:
            return list(self.blocks.values())
        return [self.blocks[tenant]] if tenant in self.blocks else []

    @property
    def chunk_ids(self) -> np.ndarray:
        """Every row's chunk id (tenant by tenant)."""
        return np.concatenate([b.chunk_ids for b in self.blocks.values()]) if self.blocks else np.zeros(0, np.int64)


def nearest(blocks: list[Block], vector: np.ndarray, limit: int, exclude: str | None) -> list[ChunkHit]:
    """The best chunk of each of the ``limit`` documents nearest to ``vector`` over ``blocks``
    (a document's rows are all in one block), best first."""
    vector = vector.astype(np.float32)
    hits = [hit for block in blocks for hit in block.top(vector, limit, exclude)]
    return sorted(hits, key=lambda h: -h.score)[:limit] if len(blocks) > 1 else hits


def document_means(blocks: list[Block], dim: int) -> tuple[list[str], np.ndarray]:
    parts = [block.means() for block in blocks]
    ids = [d for part_ids, _ in parts for d in part_ids]
    vectors = np.concatenate([v for _, v in parts]) if parts else np.zeros((0, dim), dtype=np.float32)
    return ids, vectors
