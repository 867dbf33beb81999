"""A MinHash LSH index in the host's plugin storage: "documents like this one" in milliseconds.

Each signature is cut into ``bands`` bands of ``rows`` values; documents sharing any band's key
are candidates, whose estimated Jaccard is then computed from their stored signatures. With the
defaults (128 permutations, 42 bands of 3 rows) a pair with Jaccard 0.5 becomes a candidate with
probability 1 - (1 - 0.5**3)**42 = 0.996, one with 0.3 with 0.68.

The tables (``text_minhash_meta``, ``text_minhash``, ``text_lsh_buckets``: see ``storage.py``) are
the plugin's, in the deployment's database (SQLite or PostgreSQL), reached through the handle the
kernel hands over (``await kernel.storage(SCHEMA)``). The index's database work is async and runs on
the kernel's event loop; the CPU-heavy part, signing a text, is the caller's, in a worker thread
for long texts (``near_duplicates.sign``). Each write is one transaction of three statements
whatever the number of documents (upsert the signatures, drop their old buckets, insert the new
ones) and a query is one statement; the statements are built once, so the storage handle checks
each only once.
"""

from __future__ import annotations

import json

import attrs
import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from paperchain_sdk import ConfigError

from .minhash import MinHasher, is_empty
from .minhash_kernel import band_keys
from .storage import buckets, meta, signatures

_META = sa.select(meta.c.key, meta.c.value)
_COUNT = sa.select(sa.func.count()).select_from(signatures)
_SIGNATURE = sa.select(signatures.c.signature).where(signatures.c.document_id == sa.bindparam("document_id"))


def _key_list(dialect: str):
    """The band keys as ONE bound value: SQLite a JSON array read by json_each, PostgreSQL a bigint[]
    unnested. One parameter and one SQL text for any number of keys: 42 separate parameters (or rows
    of an executemany) cost more in SQLAlchemy's parameter handling than the statement itself."""
    if dialect == "sqlite":
        return sa.select(sa.func.json_each(sa.bindparam("keys", type_=sa.Text)).table_valued("value").c.value)
    return sa.select(sa.func.unnest(sa.bindparam("keys", type_=postgresql.ARRAY(sa.BigInteger))))


def _statements(dialect: str) -> dict:
    keys = _key_list(dialect)
    return {
        # the documents sharing a bucket with the keys, with their signatures
        "candidates": sa.select(signatures.c.document_id, signatures.c.signature).where(
            signatures.c.id.in_(sa.select(buckets.c.doc).where(buckets.c.bucket.in_(keys)))),
        # one document's buckets, from its keys (executemany: one parameter set per document)
        "add_buckets": sa.insert(buckets).from_select(
            ["bucket", "doc"], sa.select(keys.subquery().c[0], sa.bindparam("doc", type_=sa.Integer))),
    }


_STATEMENTS = {dialect: _statements(dialect) for dialect in ("sqlite", "postgresql")}
_DROP_BUCKETS = sa.delete(buckets).where(buckets.c.doc.in_(sa.bindparam("docs", expanding=True)))
_REMOVE_BUCKETS = sa.delete(buckets).where(buckets.c.doc.in_(
    sa.select(signatures.c.id).where(signatures.c.document_id == sa.bindparam("document_id"))))
_REMOVE = sa.delete(signatures).where(signatures.c.document_id == sa.bindparam("document_id"))


@attrs.frozen
class Match:
    document_id: str
    jaccard: float


class MinHashIndex:
    """An LSH index over MinHash signatures on a plugin storage handle ``store``; open it with
    ``await MinHashIndex.open(store, **parameters)``, which checks the parameters the stored index
    was built with."""

    def __init__(self, store, *, num_perm: int = 128, bands: int = 42, seed: int = 1,
                 scheme: str = "fnv1a-affine32", shingle_size: int = 3):
        if bands < 1 or num_perm // bands < 1:
            raise ConfigError(f"bands must be between 1 and num_perm ({num_perm}), got {bands}",
                              hint="use e.g. 42 bands for 128 permutations")
        self.hasher = MinHasher(num_perm=num_perm, seed=seed, scheme=scheme, shingle_size=shingle_size)
        self.bands = bands
        self.rows = num_perm // bands
        self.store = store
        insert = store.insert(signatures)
        self._upsert = insert.on_conflict_do_update(
            index_elements=[signatures.c.document_id], set_={"signature": insert.excluded.signature},
        ).returning(signatures.c.id, signatures.c.document_id)
        self._statements = _STATEMENTS[store.dialect]
        self._pack = json.dumps if store.dialect == "sqlite" else list
        self._meta_once = store.insert(meta).on_conflict_do_nothing(index_elements=[meta.c.key])

    @classmethod
    async def open(cls, store, **parameters) -> MinHashIndex:
        index = cls(store, **parameters)
        await index._check_meta()
        return index

    def parameters(self) -> dict[str, str]:
        h = self.hasher
        return {"num_perm": str(h.num_perm), "bands": str(self.bands), "seed": str(h.seed),
                "scheme": h.scheme, "shingle_size": str(h.shingle_size)}

    async def _check_meta(self) -> None:
        wanted = self.parameters()
        stored = dict(tuple(row) for row in await self.store.read(_META))
        if not stored:  # a new index: the first writer's parameters stay (two openers agree or one is refused)
            await self.store.write(self._meta_once, [{"key": k, "value": v} for k, v in wanted.items()])
            stored = dict(tuple(row) for row in await self.store.read(_META))
        differ = {k: (stored.get(k), v) for k, v in wanted.items() if stored.get(k) != v}
        if differ:
            said = ", ".join(f"{k}: index has {old}, settings say {new}" for k, (old, new) in differ.items())
            raise ConfigError(
                f"the near-duplicate index in the {self.store.dialect} database was built with other parameters ({said}).",
                hint="set the index's parameters in the step (or [components.\"text.near_duplicates\"]); "
                     "to rebuild it with new ones, see 'Rebuilding the index' in the text plugin's README",
            )

    async def count(self) -> int:
        return int(await self.store.scalar(_COUNT))

    async def contains(self, document_id: str) -> bool:
        return await self.signature(document_id) is not None

    def _keys(self, signature: np.ndarray) -> list[int]:
        if signature.shape != (self.hasher.num_perm,) or signature.dtype != np.uint32:
            raise ValueError(f"expected a uint32 signature of {self.hasher.num_perm} values, "
                             f"got {signature.dtype} {signature.shape}")
        return band_keys(signature, self.bands, self.rows).tolist()

    async def add(self, document_id: str, signature: np.ndarray) -> None:
        """Insert or replace ``document_id``'s signature (one transaction)."""
        await self.add_many([(document_id, signature)])

    async def add_many(self, items) -> None:
        """Insert or replace many ``(document_id, signature)`` pairs in one transaction."""
        keys: dict[str, set[int]] = {}
        rows: dict[str, bytes] = {}
        for doc_id, sig in items:  # the last signature of a document given twice wins
            keys[doc_id] = set(self._keys(sig))
            rows[doc_id] = np.ascontiguousarray(sig).tobytes()
        if not rows:
            return
        async with self.store.transaction() as tx:
            ids = (await tx.execute(self._upsert, [{"document_id": d, "signature": b} for d, b in rows.items()])).all()
            await tx.execute(_DROP_BUCKETS, {"docs": [row.id for row in ids]})
            await tx.execute(self._statements["add_buckets"],
                             [{"keys": self._pack(sorted(keys[row.document_id])), "doc": row.id} for row in ids])

    async def remove(self, document_id: str) -> bool:
        async with self.store.transaction() as tx:
            await tx.execute(_REMOVE_BUCKETS, {"document_id": document_id})
            return (await tx.execute(_REMOVE, {"document_id": document_id})).rowcount > 0

    async def signature(self, document_id: str) -> np.ndarray | None:
        blob = await self.store.scalar(_SIGNATURE, {"document_id": document_id})
        return np.frombuffer(blob, dtype=np.uint32) if blob is not None else None

    async def query(self, signature: np.ndarray, *, threshold: float = 0.5, limit: int = 20,
                    exclude: str | None = None) -> list[Match]:
        """Indexed documents whose estimated Jaccard with ``signature`` is at least ``threshold``,
        most similar first. An empty signature (a text without words) matches nothing."""
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        keys = self._keys(signature)
        if is_empty(signature):
            return []
        rows = [row for row in await self.store.read(self._statements["candidates"], {"keys": self._pack(keys)}) if row.document_id != exclude]
        if not rows:
            return []
        # All candidates scored at once (vectorised: microseconds even for thousands).
        stored = np.frombuffer(b"".join(bytes(row.signature) for row in rows), dtype=np.uint32)
        scores = np.count_nonzero(stored.reshape(len(rows), -1) == signature, axis=1) / signature.shape[0]
        matches = [Match(row.document_id, float(score)) for row, score in zip(rows, scores, strict=True)
                   if score >= threshold]
        matches.sort(key=lambda m: (-m.jaccard, m.document_id))
        return matches[:limit]

    async def similar(self, document_id: str, *, threshold: float = 0.5, limit: int = 20) -> list[Match] | None:
        """Near-duplicates of an indexed document, or None when it is not in the index."""
        sig = await self.signature(document_id)
        if sig is None:
            return None
        return await self.query(sig, threshold=threshold, limit=limit, exclude=document_id)
