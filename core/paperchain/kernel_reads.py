"""What plugins may read of the kernel's own tables, as methods of the kernel (``KernelAPI``).

Plugins never query the kernel's tables: those are the kernel's to change. These methods are the
versioned surface instead; each is one indexed query through ``kernel.sql`` (SQLite or PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .store.tables import batches, documents, events, runs

# An operator's query on PostgreSQL may run this long before the server cancels it.
QUERY_TIMEOUT_MS = 10_000

_BATCH = sa.select(batches.c.id, batches.c.workflow, batches.c.status, batches.c.inputs,
                   sa.func.coalesce(batches.c.tenant, "").label("tenant")).where(batches.c.id == sa.bindparam("id"))
_RUN = sa.select(runs.c.id, runs.c.batch_id, runs.c.workflow, runs.c.document_id, runs.c.status).where(
    runs.c.id == sa.bindparam("id"))
_RUN_STATUSES = (sa.select(runs.c.status).where(runs.c.batch_id == sa.bindparam("batch_id"))
                 .order_by(runs.c.seq, runs.c.id))
_EVENT_COUNT = sa.select(sa.func.count()).where(events.c.type == sa.bindparam("type"),
                                                events.c.time >= sa.bindparam("since"),
                                                events.c.time <= sa.bindparam("until"))


class KernelReads:
    sql: Any  # the kernel's SqlHandle (Kernel.open)
    documents: Any  # the kernel's Documents (its full-text search adapter)

    @property
    def db_path(self) -> Path:
        """The SQLite file the reads open read-only; the Kernel, the only class built on these reads,
        says where it is."""
        raise NotImplementedError("Kernel.db_path")

    async def batch(self, batch_id: str) -> dict | None:
        """A batch: id, workflow, status, inputs (a dict) and tenant; None when there is none."""
        row = await self.sql.first(_BATCH, {"id": batch_id})
        if row is None:
            return None
        return {"id": row.id, "workflow": row.workflow, "status": row.status,
                "inputs": json.loads(row.inputs) if row.inputs else {}, "tenant": row.tenant}

    async def run(self, run_id: str) -> dict | None:
        """A run: id, batch_id, workflow, document_id and status; None when there is none."""
        row = await self.sql.first(_RUN, {"id": run_id})
        return None if row is None else dict(row._mapping)

    async def run_statuses(self, batch_id: str) -> list[str]:
        """The status of each run of a batch, in the batch's order."""
        return [row.status for row in await self.sql.read(_RUN_STATUSES, {"batch_id": batch_id})]

    async def document_texts(self, *, limit: int) -> list[tuple[str, str | None]]:
        """``(id, text)`` of the live documents, oldest first (by ingest time, then id), at most ``limit``."""
        rows = await self.sql.read(sa.select(documents.c.id, documents.c.text).where(documents.c.deleted.is_(None))
                                   .order_by(documents.c.created, documents.c.id).limit(int(limit)))
        return [(row.id, row.text) for row in rows]

    async def document_text_page(self, *, after: str = "", limit: int) -> list[tuple[str, str, str | None]]:
        """``(id, tenant, text)`` of the live documents in id order, those after ``after`` only, at
        most ``limit``: a resumable walk over every tenant's documents (e.g. an embedding backfill)."""
        rows = await self.sql.read(
            sa.select(documents.c.id, documents.c.tenant, documents.c.text)
            .where(documents.c.deleted.is_(None), documents.c.id > after).order_by(documents.c.id).limit(int(limit)))
        return [(row.id, row.tenant or "", row.text) for row in rows]

    async def search_documents(self, query: str, *, tenant: str, limit: int = 20) -> list[tuple[str, float, str]]:
        """The full-text search of ``GET /api/v1/documents/search``: ``(id, rank, snippet)`` of the
        live documents a caller of ``tenant`` may see (``''``: the operator, every tenant's), best
        first, matched words in the snippet between ``[`` and ``]``. InputError for a query the
        search grammar refuses."""
        from .store.search import ALL_TENANTS, marked

        hits, _ = await self.documents.search.query(query, tenant or ALL_TENANTS, limit)
        return [(hit.id, hit.rank, marked(hit.snippet, "[", "]")) for hit in hits]

    async def count_events(self, type: str, *, since: str, until: str) -> int:
        """How many events of ``type`` were recorded between two ISO-8601 UTC times (inclusive)."""
        return await self.sql.scalar(_EVENT_COUNT, {"type": type, "since": since, "until": until})

    async def query_number(self, sql: str, params: dict) -> float | None:
        """Run one operator-written read-only SELECT over the kernel's database and return the
        first column of its first row. Raises ValueError with the database's message when the
        query fails. SQLite: a read-only connection of its own, in a thread. PostgreSQL: a READ
        ONLY transaction with a statement timeout (``QUERY_TIMEOUT_MS``)."""
        if self.sql.dialect == "sqlite":
            row = await asyncio.to_thread(self._query_sqlite, sql, params)
        else:
            row = await self._query_postgresql(sql, params)
        return None if row is None or row[0] is None else float(row[0])

    def _query_sqlite(self, sql: str, params: dict):
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA query_only = ON")
            return conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise ValueError(str(exc)) from None
        finally:
            conn.close()

    async def _query_postgresql(self, sql: str, params: dict):
        try:
            async with self.sql.database.engine.connect() as conn, conn.begin():
                # Whole statements, identical wherever they run; SET takes no bind parameters.
                await conn.execute(sa.text("SET TRANSACTION READ ONLY"))
                await conn.execute(sa.text(f"SET LOCAL statement_timeout = {int(QUERY_TIMEOUT_MS)}"))
                return (await conn.execute(sa.text(sql), params)).first()
        except sa.exc.DBAPIError as exc:
            raise ValueError(_database_message(exc)) from None
        except sa.exc.StatementError as exc:  # e.g. a :name the params do not hold
            inner = exc.orig if exc.orig is not None else exc
            raise ValueError(str(inner.args[0]) if inner.args else type(inner).__name__) from None


def _database_message(exc: sa.exc.DBAPIError) -> str:
    """The server's own words: asyncpg's error behind SQLAlchemy's adapter and its class name."""
    cause = exc.orig.__cause__ if exc.orig is not None and exc.orig.__cause__ is not None else exc.orig
    return str(cause).strip() or type(cause).__name__
