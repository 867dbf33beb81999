"""store/tables.py describes exactly what schema.migrate() builds on SQLite (the baseline: every table
but those ``tables.AFTER_BASELINE`` names), the Alembic baseline (store/migrations) builds that schema
on a fresh SQLite file and on PostgreSQL, and the later revisions add exactly the tables named there."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect

from paperchain.store import migrations, schema, tables
from paperchain.store.database import Database
from paperchain.store.search import fts5
from paperchain_sdk import ConfigError


def _affinity(declared: str) -> str:
    """SQLite's type affinity of a declared column type (https://sqlite.org/datatype3.html, 3.1)."""
    declared = declared.upper()
    if "INT" in declared:
        return "INTEGER"
    if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not declared or "BLOB" in declared:
        return "BLOB"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _declared(type_) -> str:
    return "" if isinstance(type_, sa.types.NullType) else type_.compile(dialect=sqlite_dialect.dialect())


def _search_tables() -> set[str]:
    """The FTS5 adapter's tables (search/fts5.py), search's own and not described here."""
    conn = sqlite3.connect(":memory:")
    for statement in fts5.TABLES:
        conn.execute(statement)
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _default(value) -> str | None:
    return None if value is None else str(getattr(value, "arg", value)).strip("'\"")


def differences(path: Path, *, head: bool = False) -> list[str]:
    """Every way the SQLite file at ``path`` differs from tables.METADATA's baseline tables (``head``: from
    all of them, as the newest revision leaves a database); empty when they agree."""
    engine = sa.create_engine(f"sqlite:///{path}")
    found: list[str] = []
    try:
        inspector = sa.inspect(engine)
        present = set(inspector.get_table_names()) - _search_tables() - {migrations.VERSION_TABLE}
        declared = set(tables.METADATA.tables) - (set() if head else set(tables.AFTER_BASELINE))
        found += [f"table {name} is in the database, not in tables.py" for name in sorted(present - declared)]
        found += [f"table {name} is in tables.py, not in the database" for name in sorted(declared - present)]
        for name in sorted(present & declared):
            table = tables.METADATA.tables[name]
            columns = [(c["name"], _affinity(_declared(c["type"])), c["nullable"], _default(c["default"]))
                       for c in inspector.get_columns(name)]
            expected = [(c.name, _affinity(_declared(c.type)), c.nullable, _default(c.server_default))
                        for c in table.columns]
            if columns != expected:
                found.append(f"table {name}: columns (name, affinity, nullable, default) are {columns}, "
                             f"tables.py says {expected}")
            key = inspector.get_pk_constraint(name)["constrained_columns"]
            if key != [c.name for c in table.primary_key.columns]:
                found.append(f"table {name}: primary key is {key}, tables.py says {list(table.primary_key.columns.keys())}")
            indexes = {(i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(name)}
            wanted = {(i.name, tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes}
            found += [f"table {name}: index {i} is in the database, not in tables.py" for i in sorted(indexes - wanted)]
            found += [f"table {name}: index {i} is in tables.py, not in the database" for i in sorted(wanted - indexes)]
            for kind in ("get_foreign_keys", "get_unique_constraints"):
                if getattr(inspector, kind)(name):  # tables.py declares none: one added must be added there
                    found.append(f"table {name}: {kind[4:]} {getattr(inspector, kind)(name)} not in tables.py")
    finally:
        engine.dispose()
    return found


def _objects(path: Path) -> dict[tuple[str, str], str]:
    """Triggers and the FTS5 tables by (type, name), their SQL with whitespace normalized."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE type = 'trigger' OR name LIKE 'search%'")
        return {(kind, name): re.sub(r"\s+", " ", sql or "") for kind, name, sql in rows}
    finally:
        conn.close()


@pytest.fixture
def migrated(tmp_path) -> Path:
    path = tmp_path / "migrated.db"
    schema.migrate(path)
    return path


def test_baseline_is_schema_py_newest_version():
    assert len(schema.MIGRATIONS) == tables.BASELINE_USER_VERSION, (
        "schema.py has a migration the Alembic baseline does not describe: add its tables, columns and "
        "indexes to store/tables.py and a revision to store/migrations/versions")


def test_tables_describe_what_schema_migrate_builds(migrated):
    assert differences(migrated) == []


@pytest.mark.parametrize("change, expected", [
    ("ALTER TABLE runs ADD COLUMN priority INTEGER", "table runs: columns"),
    ("CREATE INDEX idx_runs_kind ON runs (kind)", "index ('idx_runs_kind', ('kind',), False) is in the database"),
    ("DROP INDEX idx_documents_created", "index ('idx_documents_created', ('created',), False) is in tables.py"),
    ("CREATE TABLE notes (id TEXT PRIMARY KEY)", "table notes is in the database, not in tables.py"),
])
def test_a_change_made_only_in_schema_py_is_reported(migrated, change, expected):
    conn = sqlite3.connect(migrated)
    conn.execute(change)
    conn.commit()
    conn.close()
    assert any(expected in line for line in differences(migrated)), differences(migrated)


async def _upgrade(path: Path) -> str:
    database = await Database.open(f"sqlite+aiosqlite:///{path}")
    try:
        return await migrations.upgrade(database)
    finally:
        await database.close()


def _version(path: Path) -> tuple[int, list]:
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("PRAGMA user_version").fetchone()[0],
                conn.execute(f"SELECT version_num FROM {migrations.VERSION_TABLE}").fetchall())
    finally:
        conn.close()


def test_tables_after_the_baseline_name_an_existing_revision():
    assert set(tables.AFTER_BASELINE) <= set(tables.METADATA.tables)
    revisions = {path.name[:4] for path in (Path(migrations.__file__).parent / "versions").glob("0*.py")}
    assert set(tables.AFTER_BASELINE.values()) <= revisions  # (a later revision may add no table: 0003)
    assert max(tables.AFTER_BASELINE.values()) <= migrations.head() == max(revisions)
    assert {t.name for t in tables.baseline_tables()} == set(tables.METADATA.tables) - set(tables.AFTER_BASELINE)


async def test_baseline_on_a_fresh_sqlite_file_equals_schema_migrate(migrated, tmp_path):
    fresh = tmp_path / "alembic.db"
    assert await _upgrade(fresh) == migrations.head()
    assert differences(fresh, head=True) == []
    assert _objects(fresh) == _objects(migrated)  # the same triggers and FTS5 tables, word for word
    assert _version(fresh) == (tables.BASELINE_USER_VERSION, [(migrations.head(),)])
    assert schema.migrate(fresh) == tables.BASELINE_USER_VERSION  # schema.py sees it as current: no-op
    conn = sqlite3.connect(fresh)
    assert conn.execute("SELECT name, value FROM store_settings").fetchall() == [("encrypt_blobs", "1")]
    conn.close()


def _dump(path: Path) -> dict[str, list]:
    conn = sqlite3.connect(path)
    try:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: conn.execute(f'SELECT * FROM "{n}" ORDER BY 1').fetchall() for n in names}
    finally:
        conn.close()


async def test_an_existing_sqlite_file_is_stamped_without_changing_a_row(migrated):
    conn = sqlite3.connect(migrated)
    conn.execute("INSERT INTO batches (id, tenant, status) VALUES ('b1', 'acme', 'running')")
    conn.execute("INSERT INTO runs (id, batch_id, workflow, status) VALUES ('r1', 'b1', 'ocr', 'queued')")
    conn.execute("INSERT INTO documents (id, name, text, tenant) VALUES ('d1', 'a.txt', 'hello', 'acme')")
    conn.commit()
    conn.close()
    before = _dump(migrated)
    assert await _upgrade(migrated) == migrations.head()  # stamped at the baseline, then upgraded
    assert await _upgrade(migrated) == migrations.head()  # once there, nothing more to do
    after = _dump(migrated)
    assert after.pop(migrations.VERSION_TABLE) == [(migrations.head(),)]
    for name in tables.AFTER_BASELINE:
        assert after.pop(name) == []  # created empty by the revisions after the baseline
    assert after == before
    assert differences(migrated, head=True) == []


@pytest.mark.parametrize("version, says", [(13, "older than"), (15, "newer than")])
async def test_a_sqlite_file_at_another_schema_version_is_refused(migrated, version, says):
    conn = sqlite3.connect(migrated)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    with pytest.raises(ConfigError, match=says) as refused:
        await _upgrade(migrated)
    assert refused.value.hint
    assert migrations.VERSION_TABLE not in _dump(migrated)  # nothing stamped


def _row(table: sa.Table) -> dict:
    values = {sa.Text: "x", sa.Integer: 7, sa.Double: 1.5, sa.LargeBinary: b"\x00\xff"}
    row = {}
    for column in table.columns:
        kind = next(k for k in values if isinstance(column.type, k))
        row[column.name] = values[kind] if kind is not sa.Text else f"{table.name}.{column.name}"
    return row


async def test_baseline_tables_take_and_return_a_row_each(database_url):
    """On both databases (the database_url fixture): the baseline, a row in and out of every table,
    every index present, and the run counts kept by the triggers."""
    database = await Database.open(database_url)
    try:
        assert await migrations.upgrade(database) == migrations.head()
        assert await migrations.upgrade(database) == migrations.head()
        async with database.engine.begin() as conn:
            for table in tables.METADATA.sorted_tables:
                row = _row(table)
                await conn.execute(sa.insert(table), row)
                read = [dict(r._mapping) for r in (await conn.execute(sa.select(table))).all()]
                assert row in read, table.name
            inspected = await conn.run_sync(
                lambda sync: {t: {i["name"] for i in sa.inspect(sync).get_indexes(t)} for t in tables.METADATA.tables})
        for table in tables.METADATA.sorted_tables:
            assert {i.name for i in table.indexes} <= inspected[table.name], table.name
        await _check_run_counts(database)
    finally:
        await database.close()


async def _check_run_counts(database: Database) -> None:
    runs, counts = tables.runs, tables.run_counts

    async def count(status):
        async with database.engine.connect() as conn:
            return (await conn.execute(sa.select(counts.c.n).where(
                counts.c.tenant == "acme", counts.c.workflow == "ocr", counts.c.status == status))).scalar()

    async with database.engine.begin() as conn:
        await conn.execute(sa.insert(tables.batches).values(id="b-acme", tenant="acme"))
        await conn.execute(sa.insert(runs), [{"id": f"r{i}", "batch_id": "b-acme", "workflow": "ocr",
                                               "status": "queued"} for i in range(3)])
    assert await count("queued") == 3
    async with database.engine.begin() as conn:
        await conn.execute(sa.update(runs).where(runs.c.id == "r0").values(status="done"))
        await conn.execute(sa.delete(runs).where(runs.c.id == "r1"))
    assert (await count("queued"), await count("done")) == (1, 1)


def test_a_kernel_opens_a_data_directory_an_older_paperchain_made(tmp_path):
    """Its file goes through schema.py's history to the baseline's version, then is stamped, rows kept."""
    import sqlite_utils

    from paperchain.harness import KernelHarness

    path = tmp_path / "data" / "paperchain.db"
    path.parent.mkdir()
    db = sqlite_utils.Database(path)
    for number, migration in enumerate(schema.MIGRATIONS[:11], start=1):
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")
    db["users"].insert({"name": "ada", "password_hash": "x", "role": "admin", "tenant": "acme", "created": "",
                        "disabled": 0})
    db.conn.commit()
    db.close()
    harness = KernelHarness([], data_dir=tmp_path / "data")
    try:
        assert harness.call(harness.kernel.user_tenant("ada")) == "acme"
    finally:
        harness.close()
    assert _version(path) == (tables.BASELINE_USER_VERSION, [(migrations.head(),)])
    assert differences(path, head=True) == []
