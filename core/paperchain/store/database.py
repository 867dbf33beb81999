"""The deployment's database (``database_url``): one SQLAlchemy 2 async engine, Core only.

``sqlite+aiosqlite:///<file>`` (the default: ``<data_dir>/paperchain.db``) or
``postgresql+asyncpg://user@host:port/db``. On SQLite every connection gets WAL, a busy timeout
and foreign keys, and transactions are begun by us (the driver's implicit BEGIN is off): writers
``BEGIN IMMEDIATE`` so that they queue on the file's write lock behind the journal's group commit
instead of failing with "database is locked" when a read snapshot goes stale, and the writers of
this process take turns on an asyncio lock first (SQLite has one writer at a time; waiting in
SQLite's busy handler sleeps in growing steps). A read is one statement in autocommit, which is
atomic on its own. On PostgreSQL the server does all of that itself.

SQLite is reached through two engines on the same file with the same settings: the async one
(aiosqlite) and a sync one (pysqlite) that plugin storage drives from worker threads. Every await
on aiosqlite is a hop to its thread, and SQLAlchemy's adapter makes about seven per one-statement
transaction (cursor, execute, close, for BEGIN and the statement, then commit): that was 5-10x the
plugins' old cost (bench/plugin_storage.py). The sync engine runs a statement, with its BEGIN,
in one hop and the commit in another. Single-statement writes (``store.write``) of every plugin
are group-committed by the writer thread (``WriteQueue``: what queued while it was busy runs in
one transaction, each caller answered once that commits), and reads run on a few reader threads
of their own, each keeping its connection (WAL readers do not block one another), not on the
loop's default thread pool, which sync components block in.

Every table lives where this URL points: the kernel's (``kernel.sql`` and the journal, both on
this ``Database``) and the plugins' (plugin storage). On PostgreSQL reads run in autocommit on
``read_engine`` (one round trip instead of BEGIN, the statement and ROLLBACK).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

from paperchain_sdk import ConfigError

log = logging.getLogger(__name__)

SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
WRITE_OPTION = "paperchain_write"  # execution option: this connection's transaction writes
READERS = 4  # SQLite reader threads (and connections) for plugin storage's reads


def default_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{Path(data_dir).resolve() / 'paperchain.db'}"


def check_url(url: str, *, where: str = "database_url"):
    """The parsed URL, or a ConfigError saying what is wrong and how to write it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    example = "sqlite+aiosqlite:///path/to/paperchain.db or postgresql+asyncpg://paperchain@127.0.0.1:5432/paperchain"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{where} {url!r} is not a database URL.", hint=f"write e.g. {example}") from None
    if parsed.drivername not in SCHEMES:
        raise ConfigError(f"{where}: the scheme {parsed.drivername!r} is not supported.",
                          hint=f"use {' or '.join(s + '://' for s in SCHEMES)}, e.g. {example}")
    if parsed.drivername.startswith("sqlite") and not parsed.database:
        raise ConfigError(f"{where}: a SQLite URL needs a file (an in-memory database would vanish).",
                          hint="write sqlite+aiosqlite:///relative/path.db or sqlite+aiosqlite:////absolute/path.db")
    if parsed.drivername.startswith("postgresql") and not parsed.database:
        raise ConfigError(f"{where}: a PostgreSQL URL needs a database name.",
                          hint="write postgresql+asyncpg://USER@HOST:PORT/DATABASE")
    return parsed


def shown(url) -> str:
    """The URL with its password hidden, for messages and logs."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class Database:
    """The engine and what the rest of the kernel asks of it (``dialect``, ``close``)."""

    def __init__(self, engine, url, sync_engine=None):
        self.engine = engine
        self.url = url
        self.dialect = engine.dialect.name  # "sqlite" or "postgresql"
        # Reads: one statement is atomic on its own, so on PostgreSQL no BEGIN and ROLLBACK around it
        # (two round trips of three); on SQLite reads go through the reader threads (``readers``).
        self.read_engine = engine.execution_options(isolation_level="AUTOCOMMIT") if self.dialect != "sqlite" else engine
        self.sync_engine = sync_engine  # SQLite only: see the module's notes
        self.write_turns = asyncio.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        self.writer = self.readers = self.writes = None
        self._writer_connection = None
        self._reader_local = threading.local()
        self._reader_connections: list = []
        if sync_engine is not None:
            from concurrent.futures import ThreadPoolExecutor

            self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperchain-sqlite-writer")
            self.readers = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="paperchain-sqlite-reader")
            self.writes = WriteQueue(self)

    @classmethod
    async def open(cls, url: str, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 10000) -> Database:
        """Create the engine and prove it reaches its database (a clear ConfigError if not)."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.ext.asyncio import create_async_engine

        parsed = check_url(url)
        sync_engine = None
        if parsed.drivername.startswith("sqlite"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(parsed)
            sync_engine = create_engine(parsed.set(drivername="sqlite+pysqlite"), pool_size=8, max_overflow=8)
            for each in (engine.sync_engine, sync_engine):
                _sqlite_events(each, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
        else:
            # The kernel's and plugins' statements share it: each request, the journal's flush and the
            # engine's reads hold one connection while they run (30 at most, well under the server's 100).
            # No pre-ping: it is a round trip per checkout. After a server restart the first statement on
            # an old connection fails, and SQLAlchemy then drops every pooled connection made before it.
            engine = create_async_engine(parsed, pool_size=10, max_overflow=20)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - every driver error means the same to the user
            await engine.dispose()
            raise ConfigError(
                f"database_url {shown(parsed)} cannot be reached: {type(exc).__name__}: {exc}",
                hint=("start the PostgreSQL server, create the database and user it names (createdb), and check "
                      "host, port and password; or remove database_url (PAPERCHAIN_DATABASE_URL) to use the "
                      "SQLite file in the data directory" if parsed.drivername.startswith("postgresql")
                      else "check that the file's folder is writable"),
            ) from None
        return cls(engine, parsed, sync_engine)

    def writer_connection(self):
        """SQLite: the writer thread's own connection (made there on first use, kept open)."""
        if self._writer_connection is None:
            self._writer_connection = self.sync_engine.connect().execution_options(**{WRITE_OPTION: True})
        return self._writer_connection

    def reader_connection(self):
        """SQLite: this reader thread's own connection (autocommit reads; kept open)."""
        conn = getattr(self._reader_local, "conn", None)
        if conn is None:
            conn = self._reader_local.conn = self.sync_engine.connect()
            self._reader_connections.append(conn)
        return conn

    async def close(self) -> None:
        await self.engine.dispose()
        if self.sync_engine is not None:
            if self._writer_connection is not None:
                self.writer.submit(self._writer_connection.close).result()
            self.writer.shutdown(wait=True)
            self.readers.shutdown(wait=True)
            for conn in self._reader_connections:  # pysqlite on a file allows another thread here
                conn.close()
            self.sync_engine.dispose()


class WriteQueue:
    """SQLite: group commit of single-statement writes, like the journal's. A write is queued and
    the writer thread runs everything queued since its last flush in one ``BEGIN IMMEDIATE``
    transaction, in order; each caller's future resolves once that transaction commits (durability
    as before: a caller returns only after its commit). If any statement of a batch fails, the batch
    is rolled back and each write runs again in a transaction of its own, so a bad write fails alone.
    Queue only while holding ``Database.write_turns``: a transaction block that takes the turns later
    then runs its statements after every flush queued before it."""

    def __init__(self, database: Database):
        self._database = database
        self._lock = threading.Lock()
        self._pending: list[tuple[Any, Any, asyncio.Future]] = []
        self._scheduled = False
        self.flushes = 0

    def submit(self, statement: Any, parameters: Any, buffer) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        with self._lock:
            self._pending.append((statement, parameters, future))
            schedule, self._scheduled = not self._scheduled, True
        if schedule:
            self._database.writer.submit(self._flush, buffer)
        return future

    def _flush(self, buffer) -> None:  # in the writer thread
        with self._lock:
            batch, self._pending = self._pending, []
            self._scheduled = False
        outcomes = self._run(batch, buffer)
        self.flushes += 1
        by_loop: dict = {}
        for (_, _, future), outcome in zip(batch, outcomes):
            by_loop.setdefault(future.get_loop(), []).append((future, outcome))
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile has nobody to answer
                loop.call_soon_threadsafe(_answer, answers)

    def _run(self, batch, buffer) -> list[tuple[bool, Any]]:
        conn = None
        try:
            conn = self._database.writer_connection()
            conn.begin()
            results = [buffer(conn.execute(statement, parameters)) for statement, parameters, _ in batch]
            conn.commit()
            return [(True, result) for result in results]
        except Exception as exc:  # noqa: BLE001 - handed to the caller(s)
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.rollback()
            if len(batch) == 1:
                return [(False, exc)]
        return [self._run([item], buffer)[0] for item in batch]


def _answer(answers) -> None:
    for future, (ok, value) in answers:
        if future.done():  # the caller was cancelled; its write committed (or failed) anyway
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _sqlite_events(sync_engine, *, synchronous: str, busy_timeout_ms: int) -> None:
    from sqlalchemy import event

    @event.listens_for(sync_engine, "connect")
    def on_connect(dbapi_connection, _record):
        # Turn off the driver's implicit BEGIN so that ``on_begin`` decides how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", f"busy_timeout={busy_timeout_ms}",
                       "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def on_begin(connection):
        if connection.get_execution_options().get(WRITE_OPTION, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
