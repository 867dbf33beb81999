"""Group commit: many writers, one transaction per flush, one fsync shared by all.

Writers hand the journal complete rows (``upsert``); a single task writes whatever has queued up
since its last commit in one transaction, one ``executemany`` per table. Because every write is a
whole-row upsert, rows of different tables need no ordering between them and the last state of a
row always wins. ``await journal.upsert(...)`` returns once the row is committed; callers that
only need ordering (not durability yet) need not await it.

``CoreJournal`` runs on the deployment's ``Database`` (SQLAlchemy Core, SQLite or PostgreSQL),
its upserts built from store/tables.py. On SQLite the upsert stays ``INSERT OR REPLACE``, not ``ON
CONFLICT DO UPDATE``: the run counts' triggers (schema._v12) uncount a replaced row in a BEFORE
INSERT trigger, which also fires before an upsert's UPDATE, so an upsert would be uncounted twice.
On PostgreSQL it is ``INSERT ... ON CONFLICT (primary key) DO UPDATE`` of the row's columns, which
fires the UPDATE triggers there. One difference remains: SQLite's REPLACE also removes another row
holding the same value of a unique index (runs' and batches' idempotency_key), where PostgreSQL
refuses the row.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


class CoreJournal:
    """On the deployment's ``Database`` (store/database.py), SQLite or PostgreSQL: upserts built
    from store/tables.py, and statements as Core (SQLite also takes SQL text with ``?``).

    A flush is one transaction. SQLite: one hop to the database's writer thread (``BEGIN
    IMMEDIATE``, an executemany per statement, commit), queued behind the process's other writers
    like plugin storage's writes. PostgreSQL: one asyncpg transaction, one commit (one fsync).
    """

    def __init__(self, database) -> None:
        self._database = database
        self._pending: list[tuple[Any, Any, asyncio.Future]] = []
        self._committing: list[tuple[Any, Any, asyncio.Future]] = []  # the flush in progress
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._statements: dict[tuple[str, tuple[str, ...]], Any] = {}
        self.commits = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="paperchain-journal")

    def upsert(self, table: str, row: dict) -> asyncio.Future:
        """Queue a whole-row insert-or-replace; the future resolves when it is committed."""
        columns = tuple(row)
        statement = self._statements.get((table, columns))
        if statement is None:
            statement = self._statements[(table, columns)] = self._upsert(table, columns)
        return self._queue(statement, row)

    def execute(self, sql: Any, params: Any) -> asyncio.Future:
        """Queue any statement (Core built once, with bind parameters). Statements of one identity
        run in order; await the future of one before queueing another that must follow it."""
        if isinstance(sql, str) and self._database.dialect != "sqlite":
            raise TypeError("the journal on PostgreSQL runs Core statements (sqlalchemy.update(...)), "
                            "not SQLite's SQL text")  # refused here, before it could fail a whole flush
        return self._queue(sql, params if isinstance(params, dict) else tuple(params))

    def _queue(self, statement: Any, params: Any) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)  # fire-and-forget writers are told through the log
        self._pending.append((statement, params, future))
        self._wake.set()
        return future

    def _upsert(self, table: str, columns: tuple[str, ...]) -> Any:
        from sqlalchemy.dialects import postgresql, sqlite

        from .tables import METADATA

        declared = METADATA.tables[table]
        if self._database.dialect == "sqlite":
            return sqlite.insert(declared).prefix_with("OR REPLACE")  # see the module's notes
        statement = postgresql.insert(declared)
        key = [c.name for c in declared.primary_key.columns]
        changed = {c: statement.excluded[c] for c in columns if c not in key}
        if not changed:
            return statement.on_conflict_do_nothing(index_elements=key)
        return statement.on_conflict_do_update(index_elements=key, set_=changed)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        waiting = self._committing + self._pending  # also what the commit under way took
        if waiting:
            await asyncio.gather(*(f for _, _, f in waiting), return_exceptions=True)

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
            self._committing = batch
            if not batch:
                continue
            groups: dict[Any, list] = {}
            for statement, params, _ in batch:
                groups.setdefault(statement, []).append(params)
            try:
                await self._commit(groups)
                self.commits += 1
            except Exception as exc:  # a failed commit (rolled back) fails every writer in it, loudly
                log.exception("journal commit failed")
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _commit(self, groups: dict[Any, list]) -> None:
        if self._database.dialect == "sqlite":
            async with self._database.write_turns:  # queue behind this process's other writers
                done = asyncio.get_running_loop().run_in_executor(self._database.writer, self._commit_sqlite, groups)
            await done
            return
        from .database import WRITE_OPTION

        async with self._database.engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                for statement, rows in groups.items():
                    await conn.execute(statement, rows)

    def _commit_sqlite(self, groups: dict[Any, list]) -> None:
        conn = self._database.writer_connection()
        conn.begin()  # BEGIN IMMEDIATE (database.py)
        try:
            for statement, rows in groups.items():
                if isinstance(statement, str):
                    conn.exec_driver_sql(statement, rows)
                else:
                    conn.execute(statement, rows)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()
