"""Plugin storage: a plugin's own database (``PluginSchema(own_database=True)``) on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import textwrap

import pytest
import sqlalchemy as sa

from paperchain.store.database import Database
from paperchain.store.plugin_storage import PluginStorages
from paperchain_sdk.storage import PluginSchema, open_own_database

FIRST = '''
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table("demo_items", sa.Column("key", sa.Text, primary_key=True), sa.Column("count", sa.Integer))
'''


def _own_schema(folder):
    versions = folder / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (versions / "0001_demo.py").write_text(textwrap.dedent(FIRST))
    schema = PluginSchema("demo", migrations=folder, own_database=True)
    return schema, schema.table("demo_items", sa.Column("key", sa.Text, primary_key=True), sa.Column("count", sa.Integer))


async def test_an_own_database_keeps_the_plugins_tables_apart_and_serves_its_threads(database_url, tmp_path):
    schema, items = _own_schema(tmp_path / "migrations")
    database = await Database.open(database_url)
    storages = PluginStorages(database, data_dir=tmp_path / "data")
    try:
        store = await storages.get(schema)
        assert await storages.get(schema) is store
        await store.write(store.insert(items).values(key="async", count=1))
        own = store.own_database()
        with own.connect(write=True) as conn:  # one transaction from a thread of the plugin's own
            conn.begin()
            conn.execute(sa.insert(items), [{"key": f"k{i}", "count": i} for i in range(3)])
            conn.commit()
        with own.connect(write=True) as conn:  # rolled back: nothing of it stays
            conn.begin()
            conn.execute(sa.insert(items).values(key="gone", count=9))
            conn.rollback()
        assert [row.key for row in await store.read(sa.select(items.c.key).order_by(items.c.key))] == \
            ["async", "k0", "k1", "k2"]
        if database.dialect == "sqlite":  # its own file in the data directory, nothing in the deployment's
            assert (tmp_path / "data" / "demo" / "demo.db").is_file()
            main = sqlite3.connect(database.url.database)
            assert main.execute("SELECT name FROM sqlite_master WHERE name = 'demo_items'").fetchall() == []
            main.close()
        else:  # the same server, in a PostgreSQL schema named after the plugin
            async with database.engine.connect() as conn:
                where = await conn.execute(sa.text("SELECT table_schema FROM information_schema.tables "
                                                   "WHERE table_name = 'demo_items'"))
                assert where.scalars().all() == ["demo"]
        # Without a kernel (a command-line tool, a test): the same database, migrated once already.
        again = open_own_database(schema, folder=tmp_path / "data" / "demo", url=database_url)
        try:
            with again.connect() as conn:
                assert conn.execute(sa.select(sa.func.count()).select_from(items)).scalar() == 4
        finally:
            again.close()
    finally:
        await storages.close()
        await database.close()


async def test_a_shared_database_handle_has_no_own_database(paperchain_storage, tmp_path):
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "0001_demo.py").write_text(textwrap.dedent(FIRST))
    schema = PluginSchema("demo", migrations=tmp_path / "migrations")
    schema.table("demo_items", sa.Column("key", sa.Text, primary_key=True), sa.Column("count", sa.Integer))
    store = await paperchain_storage(schema)
    with pytest.raises(RuntimeError, match="own_database=True"):
        store.own_database()


def test_an_own_sqlite_database_commits_with_full_synchronous(tmp_path):
    schema, _items = _own_schema(tmp_path / "migrations")
    own = open_own_database(schema, folder=tmp_path / "demo")
    try:
        with own.connect(write=True) as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL: an fsync per commit
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        own.close()
