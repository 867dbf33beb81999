"""What plugins may read of the kernel's own tables, as methods of the kernel (``KernelAPI``).

Plugins never query the kernel's tables: those are the kernel's to change. These methods are the
versioned surface instead; each is one indexed query on the kernel's connection.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any


class KernelReads:
    db: Any  # the kernel's aiosqlite connection (Kernel.open)

    @property
    def db_path(self) -> Path:
        """The SQLite file the reads open read-only; the Kernel, the only class built on these reads,
        says where it is."""
        raise NotImplementedError("Kernel.db_path")

    async def _row(self, sql: str, params: tuple):
        async with self.db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def batch(self, batch_id: str) -> dict | None:
        """A batch: id, workflow, status, inputs (a dict) and tenant; None when there is none."""
        row = await self._row("SELECT id, workflow, status, inputs, coalesce(tenant, '') FROM batches WHERE id = ?",
                              (batch_id,))
        if row is None:
            return None
        return {"id": row[0], "workflow": row[1], "status": row[2], "inputs": json.loads(row[3]) if row[3] else {},
                "tenant": row[4]}

    async def run(self, run_id: str) -> dict | None:
        """A run: id, batch_id, workflow, document_id and status; None when there is none."""
        row = await self._row("SELECT id, batch_id, workflow, document_id, status FROM runs WHERE id = ?", (run_id,))
        if row is None:
            return None
        return {"id": row[0], "batch_id": row[1], "workflow": row[2], "document_id": row[3], "status": row[4]}

    async def run_statuses(self, batch_id: str) -> list[str]:
        """The status of each run of a batch, in the batch's order."""
        async with self.db.execute("SELECT status FROM runs WHERE batch_id = ? ORDER BY seq", (batch_id,)) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def document_texts(self, *, limit: int) -> list[tuple[str, str | None]]:
        """``(id, text)`` of the live documents, oldest first (by ingest time, then id), at most ``limit``."""
        async with self.db.execute("SELECT id, text FROM documents WHERE deleted IS NULL ORDER BY created, id LIMIT ?",
                                   (int(limit),)) as cursor:
            return [(row[0], row[1]) for row in await cursor.fetchall()]

    async def count_events(self, type: str, *, since: str, until: str) -> int:
        """How many events of ``type`` were recorded between two ISO-8601 UTC times (inclusive)."""
        row = await self._row("SELECT count(*) FROM events WHERE type = ? AND time >= ? AND time <= ?",
                              (type, since, until))
        return row[0]

    async def query_number(self, sql: str, params: dict) -> float | None:
        """Run one operator-written read-only SELECT over the kernel's database (a read-only
        connection of its own, in a thread) and return the first column of its first row.
        Raises ValueError with the database's message when the query fails."""
        def run():
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
            try:
                conn.execute("PRAGMA query_only = ON")
                row = conn.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                raise ValueError(str(exc)) from None
            finally:
                conn.close()
            return None if row is None or row[0] is None else float(row[0])

        return await asyncio.to_thread(run)
