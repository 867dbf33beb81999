"""The host side of plugin storage (``paperchain_sdk.storage``): migrate a plugin's schema with
Alembic, then hand it a handle for transactions and reads on the deployment's database.

Each plugin has its own Alembic script directory and version table (``<plugin>_alembic_version``),
run programmatically through ``EnvironmentContext`` (no env.py, no alembic.ini): the kernel runs
every plugin's pending revisions when the plugin first asks for its handle. Migrations run in one
writing transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: under an advisory lock per plugin),
so two processes starting at once cannot both apply a revision.

A plugin that declares ``own_database=True`` gets a database of its own, so that its commits never
queue behind the kernel's journal or other plugins' writers (``OwnSyncDatabase``): on SQLite the
file ``<data_dir>/<plugin>/<plugin>.db`` (WAL, ``synchronous=FULL``); on PostgreSQL the deployment's
server with the plugin's tables in a PostgreSQL schema named after the plugin, reached through
pools of their own. Besides the usual async handle the plugin gets synchronous connections for its
own threads: pysqlite, or psycopg 3 on PostgreSQL (the plugin's threads then commit without a hop
through an event loop, which a blocked loop would stall, and work where no loop runs at all: a
command-line tool, a component run in a thread).
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from paperchain_sdk import ConfigError
from paperchain_sdk.storage import PluginSchema, check_statement

from .database import WRITE_OPTION, Database, _sqlite_events, check_url
from .sql import SqlHandle


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


class PluginStorage(SqlHandle):
    """A plugin's handle (``paperchain_sdk.storage.StorageAPI``): statements on its own tables only."""

    def __init__(self, database: Database, schema: PluginSchema, own: OwnSyncDatabase | None = None):
        super().__init__(database, _Checked(schema.prefix))
        self.schema = schema
        self.plugin = schema.plugin
        self._own = own

    def own_database(self) -> OwnSyncDatabase:
        if self._own is None:
            raise RuntimeError(f"plugin {self.plugin} shares the deployment's database: declare "
                               "PluginSchema(..., own_database=True) to get one of its own")
        return self._own

    async def migrate(self) -> str | None:
        """Apply the plugin's pending Alembic revisions; return the revision it is at."""
        if self._own is not None:
            return await asyncio.to_thread(self._own.migrate, self.schema)
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
            await conn.run_sync(_require_tables, self.schema)


def _require_tables(sync_conn, schema: PluginSchema) -> None:
    present = set(sa.inspect(sync_conn).get_table_names())
    missing = sorted(set(schema.metadata.tables) - present)
    if missing:
        raise ConfigError(f"plugin {schema.plugin}: its migrations did not create table(s) {', '.join(missing)}.",
                          hint=f"add an Alembic revision under {schema.migrations}/versions that creates them")


class OwnSyncDatabase:
    """A plugin's own database (``paperchain_sdk.storage.OwnDatabase``): a synchronous engine on
    the SQLite file or the plugin's PostgreSQL schema."""

    def __init__(self, engine: sa.Engine, schema_name: str | None = None):
        self.engine = engine
        self.dialect = engine.dialect.name
        self.schema_name = schema_name  # PostgreSQL: the plugin's schema, first on every connection's search_path

    def connect(self, *, write: bool = False) -> sa.Connection:
        conn = self.engine.connect()
        if write:
            return conn.execution_options(**{WRITE_OPTION: True})
        if self.dialect == "postgresql":  # a read is one statement: no BEGIN/ROLLBACK round trips
            return conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn  # SQLite: the driver's implicit BEGIN is off (database.py), so reads autocommit already

    def migrate(self, schema: PluginSchema) -> str | None:
        """Apply the plugin's pending revisions in one writing transaction; the revision it is at."""
        schema.check()
        with self.connect(write=True) as conn, conn.begin():
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": zlib.crc32(schema.version_table.encode())})
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema_name}"'))
            head = _upgrade(conn, schema)
        with self.connect() as conn:
            _require_tables(conn, schema)
        return head

    def close(self) -> None:
        self.engine.dispose()


def _own_location(schema: PluginSchema, folder: Path, url) -> tuple[str, str | None]:
    """The own database's SQLAlchemy URL for a sync driver, and its PostgreSQL schema (None on SQLite)."""
    if url is None or url.drivername.startswith("sqlite"):
        return f"sqlite+pysqlite:///{(Path(folder) / f'{schema.plugin}.db').resolve()}", None
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False), schema.plugin


def open_own(schema: PluginSchema, *, folder: Path, url: str | None = None, migrate: bool = True,
             busy_timeout_ms: int = 10000) -> OwnSyncDatabase:
    """A plugin's own database (see the module's notes), its migrations applied unless ``migrate=False``."""
    parsed = check_url(url) if url else None
    sync_url, schema_name = _own_location(schema, folder, parsed)
    if schema_name is None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(sync_url, pool_size=8, max_overflow=32)
        _sqlite_events(engine, synchronous="FULL", busy_timeout_ms=busy_timeout_ms)
    else:
        try:
            import psycopg  # noqa: F401 - the sync PostgreSQL driver of an own database
        except ImportError:
            raise ConfigError(f"plugin {schema.plugin} keeps its tables apart on PostgreSQL, which needs the "
                              "psycopg driver.", hint="pip install 'psycopg[binary]>=3.1'") from None
        engine = sa.create_engine(sync_url, pool_size=5, max_overflow=20, pool_pre_ping=True,
                                  connect_args={"options": f"-csearch_path={schema_name}"})
    own = OwnSyncDatabase(engine, schema_name)
    try:
        if migrate:
            own.migrate(schema)
    except BaseException:
        own.close()
        raise
    return own


def _own_async(own: OwnSyncDatabase, url) -> Database:
    """The async side of an own database (the StorageAPI handle's reads and writes). It connects on
    first use only: a plugin that works from its own threads alone (the ledger) opens nothing here."""
    from sqlalchemy.ext.asyncio import create_async_engine

    if own.schema_name is None:
        engine = create_async_engine(own.engine.url.set(drivername="sqlite+aiosqlite"))
        _sqlite_events(engine.sync_engine, synchronous="FULL", busy_timeout_ms=10000)
        return Database(engine, engine.url, sync_engine=own.engine)  # SQLite's reads and writes: threads, as the host's
    engine = create_async_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                                 connect_args={"server_settings": {"search_path": own.schema_name}})
    return Database(engine, url)


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

    def __init__(self, database: Database, data_dir: Path | None = None):
        self.database = database
        # where own SQLite databases go: the data directory (default: beside the deployment's SQLite file)
        self.data_dir = data_dir
        self._handles: dict[str, PluginStorage] = {}
        self._schemas: dict[str, PluginSchema] = {}
        self._owned: list[tuple[Database, OwnSyncDatabase]] = []

    async def get(self, schema: PluginSchema) -> PluginStorage:
        handle = self._handles.get(schema.plugin)
        if handle is not None:
            if self._schemas[schema.plugin] is not schema:
                raise ConfigError(f"two different schemas claim plugin storage {schema.plugin!r}.",
                                  hint="a plugin declares one PluginSchema and passes that same object")
            return handle
        handle = await self._own_handle(schema) if schema.own_database else PluginStorage(self.database, schema)
        if not schema.own_database:
            await handle.migrate()
        self._schemas[schema.plugin] = schema
        return self._handles.setdefault(schema.plugin, handle)

    async def _own_handle(self, schema: PluginSchema) -> PluginStorage:
        url = self.database.url
        base = self.data_dir
        if base is None and url.drivername.startswith("sqlite"):
            base = Path(url.database).resolve().parent
        own = await asyncio.to_thread(open_own, schema, folder=Path(base or ".") / schema.plugin,
                                      url=url.render_as_string(hide_password=False))
        database = _own_async(own, url)
        self._owned.append((database, own))
        return PluginStorage(database, schema, own)

    async def close(self) -> None:
        """Close the plugins' own databases (the kernel's own Database is closed by the kernel)."""
        owned, self._owned = self._owned, []
        for database, own in owned:
            await database.close()
            await asyncio.to_thread(own.close)
