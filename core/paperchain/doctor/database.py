"""The database: reachable, migrated to the kernel's Alembic head, and the master key that unwraps its keys."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import attrs

from ..config import Config, masked_url
from .findings import OK, PROBLEM, WARNING, Finding, one_line

CONNECT_TIMEOUT = 5.0  # seconds for the database to answer
START_TO_MIGRATE = "start `paperchain serve` once with this installation: at start it creates the tables and migrates them to head"


@attrs.define
@attrs.define
class DatabaseReport:
    findings: list[Finding]
    members: list[dict] | None = None  # the members table's rows; None when it could not be read
    now: float | None = None  # the database's clock, which members' heartbeats are written by
    masters: set[str] | None = None  # fingerprints of the master keys that wrapped its keys; None: not read


async def check_database(url: str) -> DatabaseReport:
    """Reachable, migrated to head, and the members table's rows for the checks after it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    shown = masked_url(url)
    parsed = make_url(url)
    sqlite = parsed.drivername.startswith("sqlite")
    if sqlite and not Path(parsed.database or "").exists():
        return DatabaseReport([Finding("database", PROBLEM, f"the database {shown} does not exist yet.",
                                       f"{START_TO_MIGRATE}; or point data_dir or "
                                       "database_url (PAPERCHAIN_DATABASE_URL) at the existing one")])
    engine = create_async_engine(parsed, connect_args={} if sqlite else {"timeout": CONNECT_TIMEOUT})
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT * 2):
            async with engine.connect() as conn:
                revision = await _revision(conn)
                members = await _members(conn) if revision is not None else None
                masters = await _masters(conn) if revision is not None else None
                now = await _now(conn)
    except Exception as exc:  # noqa: BLE001 - every driver error means "not reachable" here
        return DatabaseReport([Finding("database", PROBLEM, f"the database {shown} cannot be reached: {one_line(exc, url)}",
                                       "start the PostgreSQL server, create the database and user it names "
                                       "(createuser, createdb), check host, port and password in database_url "
                                       "(PAPERCHAIN_DATABASE_URL)" if not sqlite
                                       else "check that the file is readable and not damaged (sqlite3 FILE 'PRAGMA integrity_check')")])
    finally:
        await engine.dispose()
    return DatabaseReport([Finding("database", OK, f"the database {shown} answers."), _migration_finding(revision)],
                          members, now, masters)


async def _revision(conn) -> str | None:
    """The kernel's Alembic revision, or None when its version table is missing or empty."""
    import sqlalchemy as sa

    from ..store.migrations import VERSION_TABLE

    if not await conn.run_sync(lambda sync: sa.inspect(sync).has_table(VERSION_TABLE)):
        return None
    return (await conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))).scalar()


async def _members(conn) -> list[dict] | None:
    import sqlalchemy as sa

    if not await conn.run_sync(lambda sync: sa.inspect(sync).has_table("members")):
        return None
    rows = await conn.execute(sa.text("SELECT id, kind, host, pid, address, queues, plugins, heartbeat, stopped "
                                      "FROM members WHERE stopped IS NULL"))
    return [dict(row._mapping) for row in rows]


async def _masters(conn) -> set[str]:
    import sqlalchemy as sa

    return set((await conn.execute(sa.text("SELECT DISTINCT master FROM blob_keys"))).scalars())


async def _now(conn) -> float:
    import sqlalchemy as sa

    if conn.dialect.name != "postgresql":
        return time.time()  # SQLite: every member runs on this machine's clock
    return (await conn.execute(sa.text("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8"))).scalar()


def _migration_finding(current: str | None) -> Finding:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from ..store.migrations import FOLDER

    alembic = AlembicConfig()
    alembic.set_main_option("script_location", str(FOLDER))
    script = ScriptDirectory.from_config(alembic)
    head = script.get_current_head()
    if current is None:
        return Finding("migrations", PROBLEM, f"the database has no Paperchain tables (Alembic: none; head: {head}).",
                       START_TO_MIGRATE)
    if current == head:
        return Finding("migrations", OK, f"the database is migrated to head ({head}).")
    known = {revision.revision for revision in script.walk_revisions()}
    if current in known:
        return Finding("migrations", PROBLEM, f"the database is at revision {current}, behind this installation's "
                                              f"head {head}.", START_TO_MIGRATE)
    return Finding("migrations", PROBLEM, f"the database is at revision {current}, which this installation does not "
                                          f"know (its head is {head}): a newer Paperchain migrated it.",
                   "install the same Paperchain version here as on the servers that migrated it")


def check_master_key(config: Config, masters: set[str]) -> Finding:
    """This machine's master key (PAPERCHAIN_MASTER_KEY, else the data directory's master.key)
    unwraps the keys in the database: every server and worker needs the same one."""
    import os

    from paperchain_sdk import PaperchainError

    from ..store.keys import ENV, KEY_FILE, decode_key, fingerprint, read_key_file

    key_file = config.data_dir / KEY_FILE
    shared = not config.database_url.startswith("sqlite")
    share = f"set {ENV} to the deployment's master key, the same on every server and worker"
    try:
        if os.environ.get(ENV):
            origin, key = ENV, decode_key(os.environ[ENV], f"the environment variable {ENV}")
        elif key_file.exists():
            origin, key = str(key_file), read_key_file(key_file)
        else:
            origin, key = "", b""
    except (PaperchainError, OSError) as exc:
        fix = getattr(exc, "hint", "") or f"make {key_file} readable by the user that runs paperchain"
        return Finding("keys", PROBLEM, f"the master key cannot be read: {one_line(exc)}", fix)
    if not key:
        if masters:
            return Finding("keys", PROBLEM, f"this machine has no master key ({ENV} is unset and {key_file} does not "
                                            f"exist), and the database's keys are wrapped by {', '.join(sorted(masters))}.",
                           share)
        return Finding("keys", OK, f"no master key yet: the first start makes {key_file}"
                                   + (f" (with more than one process, {share} instead)." if shared else "."))
    mine = fingerprint(key)
    if masters and mine not in masters:
        return Finding("keys", PROBLEM, f"the master key from {origin} ({mine}) is not the one that wrapped the "
                                        f"database's keys ({', '.join(sorted(masters))}): nothing encrypted can be read.",
                       share + " (or restore the data directory's master.key)")
    if shared and origin != ENV:
        return Finding("keys", WARNING, f"the master key comes from {origin}, a file of this machine's data directory.",
                       f"{share}: another machine's data directory would make a master key of its own")
    return Finding("keys", OK, f"the master key from {origin} ({mine}) unwraps the database's keys.")
