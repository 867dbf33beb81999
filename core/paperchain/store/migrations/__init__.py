"""The kernel's Alembic migrations (``versions/``), in the kernel's own version table.

Run programmatically as plugin storage runs a plugin's (``EnvironmentContext``, no env.py or
alembic.ini), by ``Kernel.open()`` at every start on the database ``database_url`` names. Revision
``0001`` creates store/tables.py's baseline schema on PostgreSQL or a new SQLite file, and the later
revisions the tables ``tables.AFTER_BASELINE`` names (``0002``: the scale-out tables). A SQLite file made
before Alembic is first brought to ``tables.BASELINE_USER_VERSION`` by ``schema.migrate_existing``
(the kernel does that just before), and then stamped at ``0001`` without changing a row. A later
change to the kernel's schema is a revision here (and its tables in store/tables.py), on both
databases.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import sqlalchemy as sa

from paperchain_sdk import ConfigError

from ..database import WRITE_OPTION, Database
from ..tables import BASELINE_USER_VERSION

FOLDER = Path(__file__).parent
VERSION_TABLE = "paperchain_alembic_version"
BASELINE = "0001"


async def upgrade(database: Database) -> str:
    """Bring the kernel's tables to the newest revision (stamping a current SQLite file); return it.
    One writing transaction; on PostgreSQL under an advisory lock, so two starting processes queue."""
    async with database.write_turns, database.engine.connect() as conn:
        conn = await conn.execution_options(**{WRITE_OPTION: True})
        async with conn.begin():
            if database.dialect == "postgresql":
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": zlib.crc32(VERSION_TABLE.encode())})
            return await conn.run_sync(_upgrade)


def _script():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(FOLDER))
    return config, ScriptDirectory.from_config(config)


def head() -> str:
    """The newest revision in versions/ (what ``upgrade`` brings a database to)."""
    revision = _script()[1].get_current_head()
    assert revision is not None, "store/migrations/versions holds the baseline"
    return revision


def _upgrade(sync_conn) -> str:
    from alembic.runtime.environment import EnvironmentContext

    config, script = _script()
    newest = script.get_current_head()
    assert newest is not None, "store/migrations/versions holds the baseline"
    stamp = _existing_sqlite(sync_conn)

    def run(revision, _context):
        if stamp:  # what `alembic stamp 0001` runs: the version row only
            return script._stamp_revs(BASELINE, revision)
        return script._upgrade_revs("head", revision)

    with EnvironmentContext(config, script, fn=run, destination_rev=BASELINE if stamp else "head") as env:
        env.configure(connection=sync_conn, version_table=VERSION_TABLE)
        with env.begin_transaction():
            env.run_migrations()
    if stamp and newest != BASELINE:
        return _upgrade(sync_conn)  # then the revisions after the baseline, as for any database
    return newest


def _existing_sqlite(sync_conn) -> bool:
    """True for a SQLite file schema.migrate() built and Alembic never saw; refuse one at another version."""
    if sync_conn.dialect.name != "sqlite":
        return False
    inspector = sa.inspect(sync_conn)
    if inspector.has_table(VERSION_TABLE) or not inspector.has_table("documents"):
        return False
    version = sync_conn.exec_driver_sql("PRAGMA user_version").scalar()
    if version < BASELINE_USER_VERSION:
        raise ConfigError(f"the kernel's SQLite database is at schema version {version}, older than the Alembic "
                          f"baseline ({BASELINE_USER_VERSION}).",
                          hint="start Paperchain on it once (schema.migrate() upgrades it), then run this again")
    if version > BASELINE_USER_VERSION:
        raise ConfigError(f"the kernel's SQLite database is at schema version {version}, newer than the Alembic "
                          f"baseline ({BASELINE_USER_VERSION}) and no revision after it says what changed.",
                          hint="add store/migrations/versions revisions for schema.py's migrations after "
                               f"_v{BASELINE_USER_VERSION}, and their tables and columns to store/tables.py")
    return True
