"""A MinHash LSH index persisted in SQLite: "documents like this one" in milliseconds.

Each signature is cut into ``bands`` bands of ``rows`` values; documents sharing any band's key
are candidates, whose estimated Jaccard is then computed from their stored signatures. With the
defaults (128 permutations, 42 bands of 3 rows) a pair with Jaccard 0.5 becomes a candidate with
probability 1 - (1 - 0.5**3)**42 = 0.996, one with 0.3 with 0.68.

Tables (prefixed ``text_`` in the kernel's database, or in a file of their own):
``text_minhash_meta`` (the index's parameters, checked on open), ``text_minhash`` (one row per
document: its signature) and ``text_lsh_buckets`` (band key -> document row).
Every connection uses WAL and a busy timeout, so the kernel, API handlers and worker threads can
share the file.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import attrs
import numpy as np
from paperchain_sdk import ConfigError

from .minhash import MinHasher, estimate_jaccard, is_empty
from .minhash_kernel import band_keys

SCHEMA = """
CREATE TABLE IF NOT EXISTS text_minhash_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS text_minhash (
    id INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL UNIQUE,
    signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS text_lsh_buckets (
    bucket INTEGER NOT NULL,
    doc INTEGER NOT NULL,
    PRIMARY KEY (bucket, doc)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS text_lsh_buckets_doc ON text_lsh_buckets (doc);
"""


@attrs.frozen
class Match:
    document_id: str
    jaccard: float


class MinHashIndex:
    """An LSH index over MinHash signatures in the SQLite file ``path``.

    >>> index = MinHashIndex(":memory:")
    >>> sig = index.hasher.sign("a b c d e f")
    >>> index.add("doc-1", sig)
    >>> [m.document_id for m in index.query(sig, threshold=0.9)]
    ['doc-1']
    """

    def __init__(self, path: str | Path, *, num_perm: int = 128, bands: int = 42, seed: int = 1,
                 scheme: str = "fnv1a-affine32", shingle_size: int = 3, busy_timeout_ms: int = 10_000):
        if bands < 1 or num_perm // bands < 1:
            raise ConfigError(f"bands must be between 1 and num_perm ({num_perm}), got {bands}",
                              hint="use e.g. 42 bands for 128 permutations")
        self.hasher = MinHasher(num_perm=num_perm, seed=seed, scheme=scheme, shingle_size=shingle_size)
        self.bands = bands
        self.rows = num_perm // bands
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=busy_timeout_ms / 1000, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        # Bucket rows arrive in random key order; a larger page cache keeps bulk inserts off the disk.
        self._db.execute("PRAGMA cache_size = -32768")  # KiB
        with self._lock:
            self._db.executescript(SCHEMA)
            self._check_meta()

    def _parameters(self) -> dict[str, str]:
        h = self.hasher
        return {"num_perm": str(h.num_perm), "bands": str(self.bands), "seed": str(h.seed),
                "scheme": h.scheme, "shingle_size": str(h.shingle_size)}

    def _check_meta(self) -> None:
        wanted = self._parameters()
        stored = dict(self._db.execute("SELECT key, value FROM text_minhash_meta"))
        if not stored:
            self._db.executemany("INSERT OR IGNORE INTO text_minhash_meta VALUES (?, ?)", wanted.items())
            return
        differ = {k: (stored.get(k), v) for k, v in wanted.items() if stored.get(k) != v}
        if differ:
            said = ", ".join(f"{k}: index has {old}, settings say {new}" for k, (old, new) in differ.items())
            raise ConfigError(
                f"the near-duplicate index at {self.path} was built with other parameters ({said}).",
                hint="use the index's parameters, or point index_path at a new file to build another index",
            )

    def close(self) -> None:
        self._db.close()

    def _fetch(self, sql: str, params=()) -> list:
        # One connection serves every thread of the process; the lock keeps each statement whole.
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def __len__(self) -> int:
        return self._fetch("SELECT count(*) FROM text_minhash")[0][0]

    def __contains__(self, document_id: str) -> bool:
        return bool(self._fetch("SELECT 1 FROM text_minhash WHERE document_id = ?", (document_id,)))

    def _keys(self, signature: np.ndarray) -> list[int]:
        if signature.shape != (self.hasher.num_perm,) or signature.dtype != np.uint32:
            raise ValueError(f"expected a uint32 signature of {self.hasher.num_perm} values, "
                             f"got {signature.dtype} {signature.shape}")
        return band_keys(signature, self.bands, self.rows).tolist()

    def add(self, document_id: str, signature: np.ndarray) -> None:
        """Insert or replace ``document_id``'s signature (one transaction)."""
        self.add_many([(document_id, signature)])

    def add_many(self, items) -> None:
        """Insert or replace many ``(document_id, signature)`` pairs in one transaction."""
        rows = [(doc_id, np.ascontiguousarray(sig).tobytes(), self._keys(sig)) for doc_id, sig in items]
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for doc_id, blob, keys in rows:
                    old = db.execute("SELECT id FROM text_minhash WHERE document_id = ?", (doc_id,)).fetchone()
                    if old:
                        db.execute("DELETE FROM text_lsh_buckets WHERE doc = ?", old)
                        db.execute("UPDATE text_minhash SET signature = ? WHERE id = ?", (blob, old[0]))
                        row = old[0]
                    else:
                        row = db.execute("INSERT INTO text_minhash (document_id, signature) VALUES (?, ?)",
                                         (doc_id, blob)).lastrowid
                    db.executemany("INSERT OR IGNORE INTO text_lsh_buckets VALUES (?, ?)", ((k, row) for k in keys))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def remove(self, document_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT id FROM text_minhash WHERE document_id = ?", (document_id,)).fetchone()
            if not row:
                return False
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM text_lsh_buckets WHERE doc = ?", row)
            self._db.execute("DELETE FROM text_minhash WHERE id = ?", row)
            self._db.execute("COMMIT")
            return True

    def signature(self, document_id: str) -> np.ndarray | None:
        rows = self._fetch("SELECT signature FROM text_minhash WHERE document_id = ?", (document_id,))
        return np.frombuffer(rows[0][0], dtype=np.uint32) if rows else None

    def query(self, signature: np.ndarray, *, threshold: float = 0.5, limit: int = 20,
              exclude: str | None = None) -> list[Match]:
        """Indexed documents whose estimated Jaccard with ``signature`` is at least ``threshold``,
        most similar first. An empty signature (a text without words) matches nothing."""
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        keys = self._keys(signature)
        if is_empty(signature):
            return []
        marks = ",".join("?" * len(keys))
        sql = (f"SELECT m.document_id, m.signature FROM text_minhash m WHERE m.id IN "
               f"(SELECT DISTINCT doc FROM text_lsh_buckets WHERE bucket IN ({marks}))")
        matches = []
        for doc_id, blob in self._fetch(sql, keys):
            if doc_id == exclude:
                continue
            score = estimate_jaccard(signature, np.frombuffer(blob, dtype=np.uint32))
            if score >= threshold:
                matches.append(Match(doc_id, score))
        matches.sort(key=lambda m: (-m.jaccard, m.document_id))
        return matches[:limit]

    def similar(self, document_id: str, *, threshold: float = 0.5, limit: int = 20) -> list[Match] | None:
        """Near-duplicates of an indexed document, or None when it is not in the index."""
        sig = self.signature(document_id)
        if sig is None:
            return None
        return self.query(sig, threshold=threshold, limit=limit, exclude=document_id)
