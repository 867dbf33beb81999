"""Group commit: many writers, one transaction per flush, one fsync shared by all.

Writers hand the journal complete rows (``upsert``); a single task writes whatever has queued up
since its last commit in one transaction, one ``executemany`` per table. Because every write is a
whole-row upsert, rows of different tables need no ordering between them and the last state of a
row always wins. ``await journal.upsert(...)`` returns once the row is committed; callers that
only need ordering (not durability yet) need not await it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import aiosqlite

log = logging.getLogger(__name__)


class Journal:
    def __init__(self, conn: aiosqlite.Connection):
        self._conn = conn
        self._pending: list[tuple[str, tuple, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}
        self.commits = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="paperchain-journal")

    def upsert(self, table: str, row: dict) -> asyncio.Future:
        """Queue a whole-row insert-or-replace; the future resolves when it is committed."""
        columns = tuple(row)
        sql = self._sql.get((table, columns))
        if sql is None:
            sql = (
                f"INSERT OR REPLACE INTO [{table}] ({', '.join(f'[{c}]' for c in columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            self._sql[(table, columns)] = sql
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)  # fire-and-forget writers are told through the log
        self._pending.append((sql, tuple(row.values()), future))
        self._wake.set()
        return future

    def execute(self, sql: str, params: tuple) -> asyncio.Future:
        """Queue any statement. Statements of one SQL text run in order; await the future of one
        before queueing another that must follow it."""
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._pending.append((sql, tuple(params), future))
        self._wake.set()
        return future

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        if self._pending:
            await asyncio.gather(*(f for _, _, f in self._pending), return_exceptions=True)

    async def close(self) -> None:
        await self.flush()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            groups: dict[str, list[tuple]] = {}
            for sql, params, _ in batch:
                groups.setdefault(sql, []).append(params)
            try:
                await self._commit(groups)
                self.commits += 1
            except Exception as exc:  # a failed commit fails every writer in it, loudly
                log.exception("journal commit failed")
                try:
                    await self._conn.rollback()
                except Exception:
                    pass
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)


    async def _commit(self, groups: dict[str, list[tuple]], tries: int = 50) -> None:
        for attempt in range(tries):
            try:
                for sql, rows in groups.items():
                    await self._conn.executemany(sql, rows)
                await self._conn.commit()
                return
            except sqlite3.OperationalError as exc:
                # Plugins write this database on their own connections. When this connection still
                # reads an older snapshot (a cursor being iterated), SQLite refuses the write at
                # once (SQLITE_BUSY_SNAPSHOT) instead of waiting out busy_timeout: retry shortly.
                if "locked" not in str(exc) or attempt == tries - 1:
                    raise
                await self._conn.rollback()
                await asyncio.sleep(0.005 * (attempt + 1))


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()
