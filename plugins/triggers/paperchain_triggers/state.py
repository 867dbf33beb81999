"""A small durable key-value table (``triggers_state``) in the kernel's SQLite database.

Triggers keep what must survive a restart here: a schedule's last firing, a threshold's state,
the webhook signatures seen within the replay window. Every call runs on one worker thread with
its own connection, so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS triggers_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS triggers_webhook_seen (signature TEXT PRIMARY KEY, workflow TEXT NOT NULL, seen REAL NOT NULL)",
)


class StateStore:
    def __init__(self, db_path: str | Path):
        self.db_path = str(db_path)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triggers-state")
        self._conn: sqlite3.Connection | None = None
        self._swept = 0.0

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement)
            self._conn = conn
        return self._conn

    def _write(self, sql: str, params: tuple) -> int:
        # BEGIN IMMEDIATE waits for the write lock (busy_timeout) instead of failing on a stale snapshot.
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            count = db.execute(sql, params).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return count

    async def _call(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def get(self, key: str) -> Any:
        def read():
            row = self._db().execute("SELECT value FROM triggers_state WHERE key = ?", (key,)).fetchone()
            return json.loads(row[0]) if row else None

        return await self._call(read)

    async def put(self, key: str, value: Any) -> None:
        def write():
            self._write(
                "INSERT INTO triggers_state (key, value, updated) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
                (key, json.dumps(value), time.time()),
            )

        await self._call(write)

    async def claim_signature(self, signature: str, workflow: str, window: float) -> bool:
        """Remember a webhook signature; False when it was seen within ``window`` seconds (a replay)."""
        def claim():
            now = time.time()
            if now - self._swept > 60:  # forget signatures older than the window, once a minute
                self._write("DELETE FROM triggers_webhook_seen WHERE seen < ?", (now - window,))
                self._swept = now
            inserted = self._write(
                "INSERT OR IGNORE INTO triggers_webhook_seen (signature, workflow, seen) VALUES (?, ?, ?)",
                (signature, workflow, now),
            )
            return inserted == 1

        return await self._call(claim)

    async def query_number(self, sql: str, params: dict) -> float | None:
        """Run a read-only SELECT (its own read-only connection) and return the first column of the first row."""
        def run():
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
            try:
                conn.execute("PRAGMA query_only = ON")
                row = conn.execute(sql, params).fetchone()
            finally:
                conn.close()
            return None if row is None or row[0] is None else float(row[0])

        return await self._call(run)

    async def batch_inputs(self, batch_id: str) -> dict:
        """The inputs a batch was submitted with (the kernel's ``batches`` table), {} if unknown."""
        def read():
            row = self._db().execute("SELECT inputs FROM batches WHERE id = ?", (batch_id,)).fetchone()
            return json.loads(row[0]) if row and row[0] else {}

        return await self._call(read)

    async def batch_of_run(self, run_id: str) -> str:
        def read():
            row = self._db().execute("SELECT batch_id FROM runs WHERE id = ?", (run_id,)).fetchone()
            return row[0] if row else ""

        return await self._call(read)

    async def run_statuses(self, batch_id: str) -> list[str]:
        def read():
            return [r[0] for r in self._db().execute("SELECT status FROM runs WHERE batch_id = ?", (batch_id,))]

        return await self._call(read)

    async def close(self) -> None:
        def shut():
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._call(shut)
        self._pool.shutdown(wait=False)


_STORES: dict[str, StateStore] = {}


def store_for(kernel) -> StateStore:
    """One store per database, shared by every trigger of a kernel."""
    key = str(kernel.db_path)
    store = _STORES.get(key)
    if store is None:
        store = _STORES[key] = StateStore(kernel.db_path)
    return store


async def close_store(kernel) -> None:
    store = _STORES.pop(str(kernel.db_path), None)
    if store is not None:
        await store.close()
