"""The host side of plugin storage (``paperchain_sdk.storage``): migrate a plugin's schema with
Alembic, then hand it a handle for transactions and reads on the deployment's database.

Each plugin has its own Alembic script directory and version table (``<plugin>_alembic_version``),
run programmatically through ``EnvironmentContext`` (no env.py, no alembic.ini): the kernel runs
every plugin's pending revisions when the plugin first asks for its handle. Migrations run in one
writing transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: under an advisory lock per plugin),
so two processes starting at once cannot both apply a revision.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import zlib
from typing import Any

import sqlalchemy as sa

from paperchain_sdk import ConfigError
from paperchain_sdk.storage import PluginSchema, check_statement

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


class _Checked:
    """Statements already checked, so the walk over a statement's tree (``check_statement``, about
    as dear as running it) is paid once per kind of statement: by identity (a statement built once),
    and by SQLAlchemy's cache key (one built afresh per call, e.g. ``.values(**row)``): statements
    with equal keys compile to the same SQL, so they name the same tables. The key is memoized on
    the statement, and execution reuses it for the compiled cache, so computing it here costs
    nothing extra. Kept with the statement itself held, so an id is never reused while it is here."""

    def __init__(self, prefix: str, size: int = 512):
        self.prefix = prefix
        self.size = size
        self._seen: dict[int, Any] = {}
        self._shapes: set = set()

    def __call__(self, statement) -> None:
        if id(statement) in self._seen:
            return
        shape = _cache_key(statement)
        if shape is None or shape not in self._shapes:
            check_statement(statement, self.prefix)
            if shape is not None:
                if len(self._shapes) >= self.size:
                    self._shapes.clear()
                self._shapes.add(shape)
        if len(self._seen) >= self.size:
            self._seen.clear()
        self._seen[id(statement)] = statement


def _cache_key(statement):
    """The statement's SQLAlchemy cache key (its SQL's shape, without bound values), None if it has none."""
    if not isinstance(statement, sa.sql.ClauseElement) or isinstance(statement, sa.TextClause):
        return None
    key = statement._generate_cache_key()  # noqa: SLF001 - what Connection.execute computes (memoized)
    return None if key is None else key.key


def _buffered(result) -> sa.Result:
    """Every row now (the connection moves on), as a Result; ``rowcount`` kept for DML."""
    if result.returns_rows:
        buffered = result.freeze()()
    else:
        buffered = sa.engine.IteratorResult(sa.engine.result.SimpleResultMetaData([]), iter(()))
    buffered.rowcount = result.rowcount
    return buffered


class PluginStorage:
    """A plugin's handle (``paperchain_sdk.storage.StorageAPI``)."""

    def __init__(self, database: Database, schema: PluginSchema):
        self.database = database
        self.schema = schema
        self.plugin = schema.plugin
        self.dialect = database.dialect
        from sqlalchemy.dialects import postgresql, sqlite

        self._insert: Any = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        self._check = _Checked(schema.prefix)

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
        async with self.database.engine.connect() as conn:
            return list((await conn.execute(statement, parameters)).all())

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        self._check(statement)
        if self.dialect == "sqlite":
            return await asyncio.get_running_loop().run_in_executor(
                self.database.readers, self._read_sqlite, statement, parameters, lambda result: result.scalar())
        async with self.database.engine.connect() as conn:
            return (await conn.execute(statement, parameters)).scalar()

    def _read_sqlite(self, statement, parameters, take):
        # Autocommit: one statement is atomic on its own, and no BEGIN is needed (database.py); the
        # reader thread's connection is kept, and ending SQLAlchemy's transaction releases nothing else.
        conn = self.database.reader_connection()
        try:
            return take(conn.execute(statement, parameters))
        finally:
            conn.rollback()

    async def migrate(self) -> str | None:
        """Apply the plugin's pending Alembic revisions; return the revision it is at."""
        self.schema.check()
        async with self.database.write_turns, self.database.engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin():
                if self.dialect == "postgresql":
                    lock = zlib.crc32(self.schema.version_table.encode())
                    await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
                head = await conn.run_sync(_upgrade, self.schema)
        await self._check_tables()
        return head

    async def _check_tables(self) -> None:
        async with self.database.engine.connect() as conn:
            present = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
        missing = sorted(set(self.schema.metadata.tables) - present)
        if missing:
            raise ConfigError(f"plugin {self.plugin}: its migrations did not create table(s) {', '.join(missing)}.",
                              hint=f"add an Alembic revision under {self.schema.migrations}/versions that creates them")


def _upgrade(sync_conn, schema: PluginSchema) -> str | None:
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    folder = schema.migrations
    if not (folder / "versions").is_dir():
        raise ConfigError(f"plugin {schema.plugin}: its migrations folder {folder} has no versions/ folder.",
                          hint="the PluginSchema's migrations= names a folder holding versions/<revision>.py files")
    config = Config()
    config.set_main_option("script_location", str(folder))
    script = ScriptDirectory.from_config(config)
    heads = script.get_heads()
    if len(heads) != 1:
        raise ConfigError(f"plugin {schema.plugin}: its migrations have {len(heads)} heads ({', '.join(heads) or 'none'}).",
                          hint="each revision's down_revision names the one before it, in one line of history")

    def upgrade(revision, _context):
        return script._upgrade_revs("head", revision)  # what `alembic upgrade head` runs

    with EnvironmentContext(config, script, fn=upgrade, destination_rev="head") as env:
        env.configure(connection=sync_conn, target_metadata=schema.metadata, version_table=schema.version_table,
                      render_as_batch=sync_conn.dialect.name == "sqlite")
        with env.begin_transaction():
            env.run_migrations()
    return heads[0]


class PluginStorages:
    """The kernel's handles, one per plugin, migrated on first use."""

    def __init__(self, database: Database):
        self.database = database
        self._handles: dict[str, PluginStorage] = {}
        self._schemas: dict[str, PluginSchema] = {}

    async def get(self, schema: PluginSchema) -> PluginStorage:
        handle = self._handles.get(schema.plugin)
        if handle is not None:
            if self._schemas[schema.plugin] is not schema:
                raise ConfigError(f"two different schemas claim plugin storage {schema.plugin!r}.",
                                  hint="a plugin declares one PluginSchema and passes that same object")
            return handle
        handle = PluginStorage(self.database, schema)
        await handle.migrate()
        self._schemas[schema.plugin] = schema
        return self._handles.setdefault(schema.plugin, handle)
