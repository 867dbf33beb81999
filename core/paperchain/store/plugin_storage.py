"""The host side of plugin storage (``paperchain_sdk.storage``): migrate a plugin's schema with
Alembic, then hand it a handle for transactions and reads on the deployment's database.

Each plugin has its own Alembic script directory and version table (``<plugin>_alembic_version``),
run programmatically through ``EnvironmentContext`` (no env.py, no alembic.ini): the kernel runs
every plugin's pending revisions when the plugin first asks for its handle. Migrations run in one
writing transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: under an advisory lock per plugin),
so two processes starting at once cannot both apply a revision.
"""

from __future__ import annotations

import zlib
from typing import Any

import sqlalchemy as sa

from paperchain_sdk import ConfigError
from paperchain_sdk.storage import PluginSchema, check_statement

from .database import WRITE_OPTION, Database
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

    def __init__(self, database: Database, schema: PluginSchema):
        super().__init__(database, _Checked(schema.prefix))
        self.schema = schema
        self.plugin = schema.plugin

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
