"""One handle for SQL on the deployment's ``Database``: reads, group-committed single writes and
transaction blocks, the same on SQLite and PostgreSQL. The kernel runs its own statements through
one (``kernel.sql``); each plugin gets one that sees only its own tables (store/plugin_storage.py).

A statement is SQLAlchemy Core built from the tables it touches (store/tables.py for the kernel's),
so it compiles for whichever database the deployment uses; what differs between the two lives in
store/portable.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from .database import WRITE_OPTION, Database

# The storage whose transaction block the current task is in: on SQLite a write or a second block
# from inside one would wait for the block's own turn forever, so both databases refuse it alike.
_IN_TRANSACTION: contextvars.ContextVar = contextvars.ContextVar("paperchain_storage_transaction", default=None)


def _refuse_nesting(database) -> None:
    if _IN_TRANSACTION.get() is database:
        raise RuntimeError("inside `async with store.transaction() as tx`, run statements with "
                           "`await tx.execute(...)`, not store.write() or another transaction()")


class PluginTransaction:
    """PostgreSQL: statements on an asyncpg connection (native async)."""

    def __init__(self, conn, check):
        self._conn = conn
        self._check = check

    async def execute(self, statement: Any, parameters: Any = None) -> sa.CursorResult:
        self._check(statement)
        return await self._conn.execute(statement, parameters)


class SqliteTransaction:
    """SQLite: statements on a pysqlite connection in the database's writer thread; the connection
    is taken and ``BEGIN IMMEDIATE`` issued in the same hop as the first statement."""

    def __init__(self, database: Database, check):
        self._database = database
        self._check = check
        self.conn = None

    async def execute(self, statement: Any, parameters: Any = None):
        self._check(statement)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._database.writer, self._execute, statement, parameters)

    def _execute(self, statement, parameters):
        if self.conn is None:
            conn = self._database.writer_connection()
            conn.begin()
            self.conn = conn
        return _buffered(self.conn.execute(statement, parameters))

    def end(self, commit: bool) -> None:
        if self.conn is None:
            return
        try:
            (self.conn.commit if commit else self.conn.rollback)()
        finally:
            self.conn = None  # the writer thread's own connection stays open for the next


def _buffered(result) -> sa.Result:
    """Every row now (the connection moves on), as a Result; ``rowcount`` kept for DML."""
    if result.returns_rows:
        buffered = result.freeze()()
    else:
        buffered = sa.engine.IteratorResult(sa.engine.result.SimpleResultMetaData([]), iter(()))
    buffered.rowcount = result.rowcount
    return buffered


class SqlHandle:
    """Reads, single writes and transaction blocks on a ``Database`` (``paperchain_sdk.storage.StorageAPI``).

    ``check`` sees every statement before it runs (plugin storage refuses another plugin's tables).
    """

    def __init__(self, database: Database, check: Callable[[Any], None] = lambda _statement: None):
        self.database = database
        self.dialect = database.dialect
        from sqlalchemy.dialects import postgresql, sqlite

        self._insert: Any = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        self._check = check

    def insert(self, table: sa.Table):
        return self._insert(table)

    @contextlib.asynccontextmanager
    async def transaction(self):
        _refuse_nesting(self.database)
        token = _IN_TRANSACTION.set(self.database)
        try:
            async with self._transaction() as tx:
                yield tx
        finally:
            _IN_TRANSACTION.reset(token)

    @contextlib.asynccontextmanager
    async def _transaction(self):
        if self.dialect == "sqlite":
            async with self.database.write_turns:  # one writer at a time in this process
                tx = SqliteTransaction(self.database, self._check)
                loop = asyncio.get_running_loop()
                try:
                    yield tx
                except BaseException:
                    await asyncio.shield(loop.run_in_executor(self.database.writer, tx.end, False))
                    raise
                await loop.run_in_executor(self.database.writer, tx.end, True)
            return
        async with self.database.engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                yield PluginTransaction(conn, self._check)

    async def write(self, statement: Any, parameters: Any = None) -> sa.Result:
        """One statement in a transaction of its own (on SQLite: one hop to the writer thread)."""
        self._check(statement)
        _refuse_nesting(self.database)
        if self.dialect != "sqlite":
            async with self.transaction() as tx:
                return await tx.execute(statement, parameters)
        async with self.database.write_turns:  # waits only while a transaction block is open; then queue
            done = self.database.writes.submit(statement, parameters, _buffered)
        return await done  # group-committed with the writes queued beside it (database.WriteQueue)

    async def read(self, statement: Any, parameters: Any = None) -> list[sa.Row]:
        self._check(statement)
        if self.dialect == "sqlite":
            return await asyncio.get_running_loop().run_in_executor(
                self.database.readers, self._read_sqlite, statement, parameters, lambda result: result.all())
        async with self.database.read_engine.connect() as conn:
            return list((await conn.execute(statement, parameters)).all())

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        self._check(statement)
        if self.dialect == "sqlite":
            return await asyncio.get_running_loop().run_in_executor(
                self.database.readers, self._read_sqlite, statement, parameters, lambda result: result.scalar())
        async with self.database.read_engine.connect() as conn:
            return (await conn.execute(statement, parameters)).scalar()

    async def first(self, statement: Any, parameters: Any = None) -> sa.Row | None:
        """The first row, or None."""
        self._check(statement)
        if self.dialect == "sqlite":
            return await asyncio.get_running_loop().run_in_executor(
                self.database.readers, self._read_sqlite, statement, parameters, lambda result: result.first())
        async with self.database.read_engine.connect() as conn:
            return (await conn.execute(statement, parameters)).first()

    def _read_sqlite(self, statement, parameters, take):
        # Autocommit: one statement is atomic on its own, and no BEGIN is needed (database.py); the
        # reader thread's connection is kept, and ending SQLAlchemy's transaction releases nothing else.
        conn = self.database.reader_connection()
        try:
            return take(conn.execute(statement, parameters))
        finally:
            conn.rollback()
