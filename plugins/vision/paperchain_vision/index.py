"""The similar-image index: perceptual hashes per document page in SQLite, searched by Hamming distance.

It lives in the kernel's database (``kernel.db_path``), in tables prefixed ``vision_``: one file
to back up, and the API route and the event hook both have the kernel, so no extra path setting
can drift out of step. Rows are written by the ``paperchain_event`` hook when a run that used
``vision.hashes`` ends, so the analyzer itself stays a pure function (safe in the process pool,
safe to retry). A search loads the hashes of one algorithm as uint64 and XOR-popcounts them all
in one vectorised step: about a millisecond per 100,000 pages.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from .settings import HASH_ALGORITHMS

SCHEMA = """
CREATE TABLE IF NOT EXISTS vision_hashes (
    document_id TEXT NOT NULL,
    page INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    bits INTEGER NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (document_id, page, algorithm)
);
CREATE INDEX IF NOT EXISTS vision_hashes_by_algorithm ON vision_hashes (algorithm, bits);
"""


class HashIndex:
    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=10)
        conn.execute("PRAGMA busy_timeout=10000")
        conn.executescript(SCHEMA)
        return conn

    def add(self, document_id: str, findings: dict) -> int:
        """Store the hashes of ``vision.hashes`` findings for a document (replacing older ones)."""
        rows = []
        bits = int(findings.get("hash_size", 8)) ** 2
        for page in findings.get("pages", ()):
            for algorithm in HASH_ALGORITHMS:
                if algorithm in page:
                    rows.append((document_id, int(page["page"]), algorithm, bits, page[algorithm]))
        with self._connect() as conn:
            conn.execute("DELETE FROM vision_hashes WHERE document_id = ?", (document_id,))
            conn.executemany("INSERT INTO vision_hashes VALUES (?, ?, ?, ?, ?)", rows)
        return len(rows)

    def hashes_of(self, document_id: str, algorithm: str) -> list[tuple[int, int, str]]:
        with self._connect() as conn:
            return conn.execute(
                "SELECT page, bits, hash FROM vision_hashes WHERE document_id = ? AND algorithm = ? ORDER BY page",
                (document_id, algorithm)).fetchall()

    def similar(self, document_id: str, *, algorithm: str = "phash", max_distance: int = 10, limit: int = 50) -> list[dict]:
        """Other documents with a page within ``max_distance`` bits of one of this document's pages."""
        mine = self.hashes_of(document_id, algorithm)
        if not mine:
            return []
        bits = mine[0][1]
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT document_id, page, hash FROM vision_hashes WHERE algorithm = ? AND bits = ? AND document_id != ?",
                (algorithm, bits, document_id)).fetchall()
        if not rows:
            return []
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
