"""Plugin storage (paperchain_sdk.storage + store/plugin_storage.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from paperchain.config import load_config
from paperchain.store.database import Database
from paperchain_sdk import ConfigError
from paperchain_sdk.storage import PluginSchema

FIRST = '''
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.create_table("demo_items", sa.Column("key", sa.Text, primary_key=True), sa.Column("count", sa.Integer))
'''
SECOND = '''
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.add_column("demo_items", sa.Column("note", sa.Text, nullable=True))
'''


def _schema(folder, *revisions, second_column=False):
    versions = folder / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    for number, source in enumerate(revisions, 1):
        (versions / f"{number:04d}_demo.py").write_text(textwrap.dedent(source))
    schema = PluginSchema("demo", migrations=folder)
    columns = [sa.Column("key", sa.Text, primary_key=True), sa.Column("count", sa.Integer)]
    if second_column:
        columns.append(sa.Column("note", sa.Text))
    return schema, schema.table("demo_items", *columns)


async def test_transactions_reads_and_upserts(paperchain_storage, tmp_path):
    schema, items = _schema(tmp_path / "migrations", FIRST)
    store = await paperchain_storage(schema)
    async with store.transaction() as tx:
        await tx.execute(store.insert(items).values(key="a", count=1))
    upsert = store.insert(items).values(key="a", count=5)
    async with store.transaction() as tx:
        await tx.execute(upsert.on_conflict_do_update(index_elements=["key"], set_={"count": items.c.count + 5}))
    assert await store.read(sa.select(items.c.key, items.c.count)) == [("a", 6)]
    with pytest.raises(RuntimeError, match="boom"):
        async with store.transaction() as tx:
            await tx.execute(sa.update(items).values(count=0))
            raise RuntimeError("boom")
    assert await store.scalar(sa.select(items.c.count)) == 6  # rolled back


async def test_concurrent_writers_all_commit(paperchain_storage, tmp_path):
    schema, items = _schema(tmp_path / "migrations", FIRST)
    store = await paperchain_storage(schema)
    async with store.transaction() as tx:
        await tx.execute(store.insert(items).values(key="n", count=0))

    async def bump():
        async with store.transaction() as tx:  # read-modify-write: IMMEDIATE on SQLite, row lock on PostgreSQL
            value = (await tx.execute(sa.select(items.c.count).where(items.c.key == "n").with_for_update())).scalar()
            await tx.execute(sa.update(items).where(items.c.key == "n").values(count=value + 1))

    await asyncio.gather(*(bump() for _ in range(20)))
    assert await store.scalar(sa.select(items.c.count)) == 20


async def test_a_new_revision_upgrades_in_place_and_migrating_twice_changes_nothing(database_url, tmp_path):
    folder = tmp_path / "migrations"
    from paperchain.store.plugin_storage import PluginStorages

    database = await Database.open(database_url)
    try:
        schema, items = _schema(folder, FIRST)
        store = await PluginStorages(database).get(schema)
        async with store.transaction() as tx:
            await tx.execute(store.insert(items).values(key="kept", count=7))
        schema, items = _schema(folder, FIRST, SECOND, second_column=True)
        store = await PluginStorages(database).get(schema)
        assert await store.migrate() == "0002"  # again: nothing left to do
        assert await store.read(sa.select(items)) == [("kept", 7, None)]
        async with database.engine.connect() as conn:
            version = (await conn.execute(sa.text("SELECT version_num FROM demo_alembic_version"))).scalar()
        assert version == "0002"
    finally:
        await database.close()


async def test_a_plugin_reads_and_writes_only_its_own_tables(paperchain_storage, tmp_path):
    schema, items = _schema(tmp_path / "migrations", FIRST)
    store = await paperchain_storage(schema)
    runs = sa.table("runs", sa.column("id"))
    with pytest.raises(PermissionError, match="only its own tables"):
        await store.read(sa.select(runs.c.id))
    with pytest.raises(PermissionError, match="only its own tables"):
        await store.read(sa.select(items.c.key).where(items.c.key.in_(sa.select(runs.c.id))))
    with pytest.raises(PermissionError, match="'runs'"):
        async with store.transaction() as tx:
            await tx.execute(sa.delete(runs))


def test_table_names_carry_the_plugin_prefix(tmp_path):
    schema = PluginSchema("demo", migrations=tmp_path)
    with pytest.raises(ValueError, match="demo_<something>"):
        schema.table("runs", sa.Column("id", sa.Text))
    with pytest.raises(ValueError, match="alembic"):
        schema.table("demo_alembic_version", sa.Column("id", sa.Text))
    sa.Table("events", schema.metadata, sa.Column("seq", sa.Integer))  # around the check...
    with pytest.raises(ValueError, match="'events'"):
        schema.check()  # ...caught before migrating
    with pytest.raises(ValueError, match="lower-case"):
        PluginSchema("Bad Name", migrations=tmp_path)


async def test_migrations_that_miss_a_declared_table_or_branch_are_refused(paperchain_storage, tmp_path):
    schema, _ = _schema(tmp_path / "one", FIRST)
    schema.table("demo_other", sa.Column("id", sa.Text, primary_key=True))
    with pytest.raises(ConfigError, match="did not create table.*demo_other"):
        await paperchain_storage(schema)
    forked = SECOND.replace('"0002"', '"0003"', 1).replace('"0001"\n', '"0001"\n', 1)
    schema, _ = _schema(tmp_path / "two", FIRST, SECOND, forked)
    with pytest.raises(ConfigError, match="2 heads"):
        await paperchain_storage(schema)


def test_takes_over_an_existing_sqlite_table_without_losing_rows(tmp_path):
    """What the plugins' first revisions do: a table made before plugin storage is kept."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE demo_items (key TEXT PRIMARY KEY, count INTEGER)")
        conn.execute("INSERT INTO demo_items VALUES ('old', 3)")
    takeover = FIRST.replace('    op.create_table(', '    if not sa.inspect(op.get_bind()).has_table("demo_items"):\n'
                                                   '        op.create_table(')
    schema, items = _schema(tmp_path / "migrations", takeover)

    async def scenario():
        from paperchain.store.plugin_storage import PluginStorages

        database = await Database.open(f"sqlite+aiosqlite:///{db}")
        try:
            store = await PluginStorages(database).get(schema)
            return await store.read(sa.select(items))
        finally:
            await database.close()

    assert asyncio.run(scenario()) == [("old", 3)]


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://x@localhost/db", "scheme 'mysql' is not supported"),
    ("sqlite+aiosqlite://", "needs a file"),
    ("postgresql+asyncpg://u@127.0.0.1:1/", "needs a database name"),
    ("not a url", "is not a database URL"),
])
def test_a_bad_database_url_is_a_clear_config_error(workdir, url, message):
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(env={"PAPERCHAIN_DATABASE_URL": url})
    assert "PAPERCHAIN_DATABASE_URL" in str(caught.value)


def test_database_url_defaults_to_the_data_directory_file_and_relative_files_follow_the_config(workdir):
    config = load_config(env={"PAPERCHAIN_DATA_DIR": str(workdir / "data")})
    assert config.database_url == f"sqlite+aiosqlite:///{(workdir / 'data' / 'paperchain.db').resolve()}"
    (workdir / "conf").mkdir()
    (workdir / "conf" / "plugins.toml").write_text('[paperchain]\ndatabase_url = "sqlite+aiosqlite:///plugins.db"\n')
    config = load_config(workdir / "conf" / "plugins.toml", env={})
    assert config.database_url == f"sqlite+aiosqlite:///{workdir / 'conf' / 'plugins.db'}"


async def test_an_unreachable_postgresql_says_so_and_how_to_fix_it():
    with pytest.raises(ConfigError, match="cannot be reached") as caught:
        await Database.open("postgresql+asyncpg://paperchain:secret@127.0.0.1:1/paperchain")
    assert "secret" not in str(caught.value) and "***" in str(caught.value)
    assert "PAPERCHAIN_DATABASE_URL" in caught.value.hint


async def test_write_is_one_statement_in_its_own_transaction(paperchain_storage, tmp_path):
    schema, items = _schema(tmp_path / "migrations", FIRST)
    store = await paperchain_storage(schema)
    await store.write(sa.insert(items), [{"key": "a", "count": 1}, {"key": "b", "count": 2}])  # executemany
    assert (await store.write(sa.update(items).values(count=items.c.count * 10))).rowcount == 2
    with pytest.raises(sa.exc.IntegrityError):
        await store.write(sa.insert(items).values(key="a", count=3))  # rolled back, nothing left open
    assert await store.write(store.insert(items).values(key="a", count=3).on_conflict_do_nothing()) is not None
    assert await store.read(sa.select(items.c.key, items.c.count).order_by(items.c.key)) == [("a", 10), ("b", 20)]
    with pytest.raises(PermissionError):
        await store.write(sa.delete(sa.table("documents")))


def test_a_kernel_keeps_its_own_tables_where_database_url_points(paperchain_kernel, database_url):
    harness = paperchain_kernel(config={"paperchain": {"database_url": database_url}})
    kernel = harness.kernel
    assert kernel.sql.dialect == kernel.database.dialect
    assert not hasattr(kernel, "db")  # no aiosqlite connection on either: every statement goes through kernel.sql
    assert not (kernel.data_dir / "paperchain.db").exists()  # not in the data directory's file
    users = sa.table("users", sa.column("name"), sa.column("tenant"))
    harness.call(kernel.sql.write(sa.insert(users).values(name="ada", tenant="acme")))
    assert harness.call(kernel.user_tenant("ada")) == "acme"
    assert harness.call(kernel.user_tenant("nobody")) is None
    if kernel.sql.dialect == "sqlite":
        assert kernel.db_path == Path(database_url.split(":///", 1)[1])
        with sqlite3.connect(kernel.db_path) as conn:
            assert conn.execute("SELECT tenant FROM users").fetchall() == [("acme",)]
        return
    with pytest.raises(RuntimeError, match="kernel.sql"):
        kernel.db_path  # noqa: B018 - the property refuses


def test_a_kernel_whose_database_cannot_be_reached_does_not_start(tmp_path):
    from paperchain.config import Config, KernelSettings
    from paperchain.kernel import Kernel

    settings = KernelSettings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/paperchain")
    kernel = Kernel(Config(source="test", data_dir=tmp_path, kernel=settings), plugins=[])
    with pytest.raises(ConfigError, match="cannot be reached"):
        asyncio.run(kernel.open())
    assert kernel.database is None and kernel.sql is None and kernel.journal is None  # nothing was left open


async def test_a_write_inside_a_transaction_block_is_refused_not_deadlocked(paperchain_storage, tmp_path):
    schema, items = _schema(tmp_path / "migrations", FIRST)
    store = await paperchain_storage(schema)
    with pytest.raises(RuntimeError, match="tx.execute"):
        async with store.transaction() as tx:
            await tx.execute(sa.insert(items).values(key="a", count=1))
            await store.write(sa.insert(items).values(key="b", count=2))
    with pytest.raises(RuntimeError, match="another transaction"):
        async with store.transaction(), store.transaction():
            pass
    assert await store.read(sa.select(items)) == []  # the block was rolled back
    await store.write(sa.insert(items).values(key="c", count=3))  # and the storage is usable again
    assert await store.scalar(sa.select(items.c.key)) == "c"


async def test_writes_queued_together_commit_together_and_a_bad_one_fails_alone(paperchain_storage, tmp_path):
    schema, items = _schema(tmp_path / "migrations", FIRST)
    store = await paperchain_storage(schema)
    await store.write(sa.insert(items).values(key="taken", count=0))
    writes = store.database.writes  # SQLite's group commit (None on PostgreSQL: the server's own)
    if writes is not None:  # hold the writer thread so that every write below queues behind it
        release = threading.Event()
        store.database.writer.submit(release.wait)
        flushes = writes.flushes
    tasks = [asyncio.create_task(store.write(sa.insert(items).values(key=f"k{i}", count=i))) for i in range(40)]
    tasks.insert(20, asyncio.create_task(store.write(sa.insert(items).values(key="taken", count=1))))
    await asyncio.sleep(0.05)
    if writes is not None:
        assert not any(task.done() for task in tasks)  # nobody is answered before the commit
        release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outcomes.pop(20), sa.exc.IntegrityError)
    assert [outcome.rowcount for outcome in outcomes] == [1] * 40
    if writes is not None:
        assert writes.flushes == flushes + 1  # one transaction tried for all 41, then each alone
    rows = await store.read(sa.select(items.c.key, items.c.count).order_by(items.c.count, items.c.key))
    assert rows == [("k0", 0), ("taken", 0)] + [(f"k{i}", i) for i in range(1, 40)]


async def test_reads_do_not_wait_for_the_loops_default_thread_pool(paperchain_storage, tmp_path):
    # Sync components block in the default pool (waiting on the loop); a read must not queue behind them.
    schema, items = _schema(tmp_path / "migrations", FIRST)
    store = await paperchain_storage(schema)
    await store.write(sa.insert(items).values(key="a", count=1))
    loop = asyncio.get_running_loop()
    busy, release = ThreadPoolExecutor(max_workers=1), threading.Event()
    loop.set_default_executor(busy)
    blocked = loop.run_in_executor(None, release.wait)
    try:
        assert await asyncio.wait_for(store.scalar(sa.select(items.c.count)), 10) == 1
        assert await asyncio.wait_for(store.read(sa.select(items.c.key)), 10) == [("a",)]
    finally:
        release.set()
        await blocked


async def test_a_statement_shaped_like_a_checked_one_but_naming_a_kernel_table_is_still_refused(paperchain_storage,
                                                                                                 tmp_path):
    schema, items = _schema(tmp_path / "migrations", FIRST)
    store = await paperchain_storage(schema)
    documents = sa.table("documents", sa.column("key"), sa.column("count"))
    for key in ("a", "b"):  # built afresh each time: checked once by its shape
        await store.write(sa.insert(items).values(key=key, count=sa.select(sa.func.count()).where(items.c.key == key)
                                                  .scalar_subquery()))
    with pytest.raises(PermissionError, match="'documents'"):
        await store.write(sa.insert(items).values(key="c", count=sa.select(sa.func.count()).where(documents.c.key == "c")
                                                  .scalar_subquery()))
    with pytest.raises(PermissionError, match="'documents'"):
        await store.read(sa.select(documents.c.key).where(documents.c.key == "a"))
    assert await store.read(sa.select(items.c.key, items.c.count).order_by(items.c.key)) == [("a", 0), ("b", 0)]
