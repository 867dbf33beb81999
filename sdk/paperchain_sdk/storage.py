"""Plugin storage: tables declared with SQLAlchemy Core, migrated with Alembic, reached through the host.

A plugin never opens a database connection. It declares its tables once, at import::

    import sqlalchemy as sa
    from paperchain_sdk.storage import PluginSchema

    SCHEMA = PluginSchema("triggers", migrations="paperchain_triggers:migrations")
    state = SCHEMA.table("triggers_state",
        sa.Column("key", sa.Text, primary_key=True), sa.Column("value", sa.Text, nullable=False))

and, in ``paperchain_startup``, asks the kernel for its handle (which runs the plugin's pending
migrations first)::

    store = await kernel.storage(SCHEMA)
    async with store.transaction() as tx:          # several statements, all or nothing
        await tx.execute(sa.delete(state).where(state.c.key == "old"))
        await tx.execute(store.insert(state).values(key="k", value="v").on_conflict_do_nothing())
    await store.write(sa.update(state).values(value="w"))   # one statement, its own transaction
    rows = await store.read(sa.select(state.c.value).where(state.c.key == "k"))

The same code runs on SQLite (the deployment's file; writers take the write lock at BEGIN, so they
queue behind the kernel's journal instead of failing) and on PostgreSQL (asyncpg).

A plugin whose commits must not wait behind the deployment's other writers (the ledger: group commit
with one fsync per batch) asks for a database of its own, ``PluginSchema(..., own_database=True)``:
on SQLite the file ``<data_dir>/<plugin>/<plugin>.db`` with ``synchronous=FULL``; on PostgreSQL the
deployment's server, the plugin's tables in a PostgreSQL schema named after it, reached through
connection pools of its own. Its handle then also offers ``store.own_database()``: synchronous
SQLAlchemy connections for the plugin's own threads (pysqlite; psycopg 3 on PostgreSQL).

Migrations are a real Alembic script directory inside the plugin package (``migrations`` holds
``versions/*.py``, each with ``revision``, ``down_revision`` and ``upgrade()`` using
``alembic.op``), tracked in the plugin's own version table ``<plugin>_alembic_version``, so each
plugin's history is independent of every other's and of the kernel's.
"""

from __future__ import annotations

import importlib.util
import re
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

_PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class PluginSchema:
    """One plugin's tables (a ``MetaData`` whose table names all start with ``<plugin>_``) and the
    Alembic script directory that creates and changes them."""

    def __init__(self, plugin: str, *, migrations: str | Path, own_database: bool = False):
        if not _PLUGIN_NAME.match(plugin):
            raise ValueError(f"plugin name {plugin!r} must be lower-case letters, digits and _ (e.g. 'vision')")
        self.plugin = plugin
        self.own_database = own_database
        self.prefix = f"{plugin}_"
        self.metadata = sa.MetaData()
        self._migrations = migrations

    @property
    def version_table(self) -> str:
        """Where Alembic records this plugin's revision (one table per plugin)."""
        return f"{self.prefix}alembic_version"

    @property
    def migrations(self) -> Path:
        """The Alembic script directory: a path, or ``"package.module:folder"`` inside a package."""
        if isinstance(self._migrations, Path):
            return self._migrations
        package, _, folder = str(self._migrations).partition(":")
        if not folder:
            return Path(package)
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"migrations {self._migrations!r}: {package} is not an importable package")
        return Path(next(iter(spec.submodule_search_locations))) / folder

    def table(self, name: str, *columns: Any, **kw: Any) -> sa.Table:
        """Declare a table; its name must start with the plugin's prefix."""
        self._check_name(name)
        return sa.Table(name, self.metadata, *columns, **kw)

    def check(self) -> None:
        """Refuse a table or index added to ``metadata`` directly without the prefix."""
        for table in self.metadata.tables.values():
            self._check_name(table.name)
            for index in table.indexes:
                self._check_name(index.name or "")

    def _check_name(self, name: str) -> None:
        if not name.startswith(self.prefix) or name == self.version_table:
            raise ValueError(f"table or index {name!r} of plugin {self.plugin!r} must be named {self.prefix}<something> "
                             f"(and not {self.version_table}, Alembic's): a plugin's tables carry its prefix")


class Transaction(Protocol):
    """One database transaction of a plugin: committed when the ``async with`` block ends, rolled
    back if it raises."""

    async def execute(self, statement: Any, parameters: Any = None) -> sa.CursorResult:
        """Run a Core statement (select, insert, update, delete) on the plugin's own tables; the
        result is buffered (``.all()``, ``.scalar()``, ``.rowcount``)."""


class OwnDatabase(Protocol):
    """A plugin's own database (``PluginSchema(own_database=True)``) for threads of the plugin's own
    that need synchronous SQL (a writer thread doing group commit). Thread-safe."""

    dialect: str
    """``"sqlite"`` or ``"postgresql"``."""

    def connect(self, *, write: bool = False) -> sa.Connection:
        """A pooled synchronous connection (close it, or use ``with``). ``write=False``: autocommit,
        each statement atomic on its own. ``write=True``: run ``conn.begin()`` ... ``conn.commit()``;
        on SQLite the transaction takes the file's write lock at BEGIN (``BEGIN IMMEDIATE``), and a
        commit is durable (``synchronous=FULL``) when it returns."""

    def close(self) -> None:
        """Close every pooled connection (the host does it when the kernel closes)."""


class StorageAPI(Protocol):
    """A plugin's handle on its tables, from ``await kernel.storage(SCHEMA)``."""

    plugin: str
    dialect: str
    """``"sqlite"`` or ``"postgresql"``: only for the rare statement that must differ."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A writing transaction (SQLite: ``BEGIN IMMEDIATE``, waiting up to the busy timeout).
        Inside the block run every statement, reads included, with ``tx.execute``: ``read`` sees
        only committed rows, and ``write`` or a nested ``transaction()`` raise RuntimeError. Keep
        blocks short: on SQLite the deployment's other writers wait for it."""

    async def write(self, statement: Any, parameters: Any = None) -> sa.Result:
        """One statement in a transaction of its own: the cheapest write; the result as
        ``Transaction.execute`` gives it. Returns once the statement is committed. On SQLite, writes
        made at the same time (by this plugin or another) are committed together in one transaction
        by the host's writer thread, in the order they were made; a write that fails is retried alone
        and fails alone, the others commit. Prefer it to a one-statement ``transaction()`` block."""

    async def read(self, statement: Any, parameters: Any = None) -> list[sa.Row]:
        """Run a SELECT (one statement: atomic on its own) and return every row (on SQLite in one of
        the host's reader threads, which run beside one another and beside the writer)."""

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        """The first column of the first row of a SELECT, None when there is none."""

    def insert(self, table: sa.Table) -> Any:
        """The database's own INSERT for ``table``: both dialects' constructs offer
        ``on_conflict_do_nothing(index_elements=...)`` and ``on_conflict_do_update(index_elements=...,
        set_=...)`` with the same arguments, so an upsert is written once."""

    def own_database(self) -> OwnDatabase:
        """The plugin's own database for its own threads; only for ``PluginSchema(own_database=True)``
        (RuntimeError otherwise)."""


def open_own_database(schema: PluginSchema, *, folder: str | Path, url: str | None = None,
                      migrate: bool = True) -> OwnDatabase:
    """Without a kernel (a command-line tool, a test, a benchmark): a plugin's own database, its
    migrations applied unless ``migrate=False``. ``url`` None or SQLite: the file
    ``<folder>/<plugin>.db``; a ``postgresql+asyncpg://`` URL: the plugin's schema on that server.
    The caller closes it. Needs the kernel package, which holds the migration runner."""
    try:
        from paperchain.store.plugin_storage import open_own
    except ImportError as exc:
        from . import ConfigError

        raise ConfigError(f"plugin {schema.plugin}'s own database needs the Paperchain kernel: {exc}",
                          hint="pip install paperchain") from None
    return open_own(schema, folder=Path(folder), url=url, migrate=migrate)


def check_statement(statement: Any, prefix: str) -> None:
    """Refuse a Core statement that names a table outside the plugin's prefix (its own tables
    only: what a plugin needs of the kernel comes through the kernel interface)."""
    from sqlalchemy.sql.util import find_tables

    if not isinstance(statement, sa.sql.ClauseElement) or isinstance(statement, sa.TextClause):
        return  # raw SQL text is the author's responsibility (documented)
    for table in find_tables(statement, include_crud=True, include_selects=True, include_joins=True):
        name = getattr(table, "name", "")
        if isinstance(table, sa.TableClause) and not name.startswith(prefix):
            raise PermissionError(f"a plugin's storage reads and writes only its own tables ({prefix}*), not {name!r}; "
                                  "ask the kernel interface (paperchain_sdk.kernel.KernelAPI) for kernel data")
