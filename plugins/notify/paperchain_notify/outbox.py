"""The durable outbox (``notify_outbox`` in the kernel's database) and the task that works it.

Each row is one message to one recipient. The worker claims due rows, most urgent first, sends
them concurrently, and records each outcome: ``sent``; back to ``queued`` with the reason and a
delay for a retryable failure (the SDK's one retry policy, ``paperchain_sdk.retry``, as the
engine's steps: doubling from the backoff, capped, with jitter); ``failed`` (the dead-letter list) after the last attempt
or at once for a failure no retry can fix. A repeated idempotency key returns the first message,
unless that one failed: then it is queued again. Each outcome is committed as it lands (group
commit); rows a crash left ``sending`` (posted, maybe received, outcome unknown) are queued again
at start, and the receiver sees the same Idempotency-Key, so it can drop a repeat.

Each message (and each in-app notification) records the tenant of the run that queued it (``''``
for the operator's); a caller of a tenant is answered about that tenant's messages only. Rows from
before tenants have none (NULL): the operator's alone, except a notification, which stays its
addressee's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from paperchain_sdk import InputError, PaperchainError
from paperchain_sdk.retry import RetryPolicy, retryable

from .transports import Item

log = logging.getLogger("paperchain.notify")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS notify_outbox (
        id TEXT PRIMARY KEY, channel TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE,
        recipient TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL, payload TEXT NOT NULL,
        priority INTEGER NOT NULL, send_at REAL NOT NULL, next_try REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL, backoff REAL NOT NULL,
        status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', created REAL NOT NULL, sent REAL, tenant TEXT)""",
    "CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (status, next_try)",
    """CREATE TABLE IF NOT EXISTS notify_inbox (
        id TEXT PRIMARY KEY, user TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
        data TEXT NOT NULL, created REAL NOT NULL, read REAL, tenant TEXT)""",
    "CREATE INDEX IF NOT EXISTS notify_inbox_user ON notify_inbox (user, created)",
)
_COLUMNS = ("id", "channel", "idempotency_key", "recipient", "subject", "body", "payload", "priority", "send_at",
            "next_try", "attempts", "max_attempts", "backoff", "status", "reason", "created", "sent", "tenant")
# Columns added since the tables were first created: (table, column, type), added on open.
_ADDED = (("notify_outbox", "tenant", "TEXT"), ("notify_inbox", "tenant", "TEXT"))
# What a dead letter takes from a message queued again under its key (id and created stay).
_REVIVED = ("channel", "recipient", "subject", "body", "payload", "priority", "send_at", "next_try", "attempts",
            "max_attempts", "backoff", "status", "reason", "sent")
# Rows a caller of a tenant (bound twice) may see; the operator ('') sees every tenant's.
_OF_TENANT = "AND (? = '' OR tenant = ?)"
CLAIM = 256  # most rows claimed (marked 'sending') and in flight at once
REFILL = CLAIM // 2  # claim again once this few are left in flight, so claims stay batched
CONCURRENCY = 64  # deliveries on the wire at once
MAX_DELAY = 3600.0  # the longest wait between two tries of one message (the policy doubles the backoff)
GAVE_UP = "gave up after"  # how a reason starts when every attempt met a retryable failure


class Outbox:
    def __init__(self, kernel, channels: dict[str, Any]):
        self.kernel = kernel
        self.channels = channels  # component name -> channel component (has .deliver(item))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify-outbox")
        self._conn: sqlite3.Connection | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._limit = asyncio.Semaphore(CONCURRENCY)
        self._in_flight: set[asyncio.Task] = set()
        self._landed_results: list[tuple[dict, str, str]] = []
        self._record_lock = asyncio.Lock()

    # -- database (one thread, one connection) ---------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(str(self.kernel.db_path), isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "busy_timeout=10000", "synchronous=NORMAL"):
                conn.execute(f"PRAGMA {pragma}")
            for statement in _SCHEMA:
                conn.execute(statement)
            for table, column, kind in _ADDED:
                if column not in [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            self._conn = conn
        return self._conn

    async def call(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False

        def recover():
            self._db().execute("UPDATE notify_outbox SET status = 'queued' WHERE status = 'sending'")

        await self.call(recover)
        self._task = asyncio.ensure_future(self._work())

    async def stop(self) -> None:
        if self._task is not None:
            # A flag as well as cancel(): on Python 3.11, wait_for() can swallow a cancellation that
            # lands just as its inner wait finishes, and the loop would go on waiting forever.
            self._stopping = True
            self._wake.set()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        # Deliveries cut short stay 'sending'; the next start queues them again (same keys).
        in_flight, self._in_flight = list(self._in_flight), set()
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        landed, self._landed_results = self._landed_results, []
        if landed:  # outcomes cancelled while waiting for their commit: record them, not send them again
            await self.call(self._record, landed)
        for channel in {id(c): c for c in self.channels.values()}.values():
            await channel.close()

        def shut():
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self.call(shut)
        self._pool.shutdown(wait=False)

    # -- queueing ------------------------------------------------------------------------------------

    async def enqueue(self, rows: list[dict]) -> list[dict]:
        """Store messages (dicts of the outbox columns); return each stored row. A repeated
        idempotency key returns the first message, so a sent or pending one never goes twice; a
        dead-lettered one is queued again with the new content (a retried run means to send it)."""
        now = time.time()
        for row in rows:
            row.setdefault("id", "msg_" + uuid.uuid4().hex)
            row.update(status="queued", attempts=0, reason="", created=now, sent=None,
                       next_try=max(row["send_at"], now))

        def insert():
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    f"INSERT OR IGNORE INTO notify_outbox ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    [tuple(r[c] for c in _COLUMNS) for r in rows],
                )
                db.executemany(
                    f"UPDATE notify_outbox SET {', '.join(f'{c} = ?' for c in _REVIVED)} "
                    "WHERE idempotency_key = ? AND status = 'failed' AND tenant IS ?",
                    [tuple(r[c] for c in _REVIVED) + (r["idempotency_key"], r["tenant"]) for r in rows],
                )
                stored = []
                for r in rows:
                    found = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM notify_outbox WHERE idempotency_key = ? "
                                       "AND tenant IS ?", (r["idempotency_key"], r["tenant"])).fetchone()
                    if found is None:  # the key is another tenant's: never answer with that message
                        raise InputError(f"the idempotency key {r['idempotency_key']!r} is already taken.",
                                         hint="give this message a key of its own")
                    stored.append(dict(zip(_COLUMNS, found)))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return stored

        stored = await self.call(insert)
        self._wake.set()
        return stored

    async def get(self, message_id: str, *, tenant: str = "") -> dict | None:
        """The message, if a caller of ``tenant`` may see it (``''``: the operator, who sees all)."""
        def read():
            row = self._db().execute(f"SELECT {', '.join(_COLUMNS)} FROM notify_outbox WHERE id = ? {_OF_TENANT}",
                                     (message_id, tenant, tenant)).fetchone()
            return dict(zip(_COLUMNS, row)) if row else None

        return await self.call(read)

    async def dead_letters(self, limit: int = 100, *, tenant: str = "") -> list[dict]:
        def read():
            cursor = self._db().execute(
                f"SELECT {', '.join(_COLUMNS)} FROM notify_outbox WHERE status = 'failed' {_OF_TENANT} "
                "ORDER BY created DESC LIMIT ?", (tenant, tenant, limit))
            return [dict(zip(_COLUMNS, r)) for r in cursor]

        return await self.call(read)

    async def recent(self, limit: int = 100, *, tenant: str = "", status: str | None = None) -> list[dict]:
        """The newest messages a caller of ``tenant`` may see, optionally of one ``status`` (as the
        API names them: ``queued`` includes those being sent)."""
        def read():
            where, params = "", ()
            if status:
                where, params = ("AND status IN ('queued', 'sending')", ()) if status == "queued" else \
                    ("AND status = ?", (status,))
            cursor = self._db().execute(
                f"SELECT {', '.join(_COLUMNS)} FROM notify_outbox WHERE 1 = 1 {where} {_OF_TENANT} "
                "ORDER BY created DESC LIMIT ?", params + (tenant, tenant, limit))
            return [dict(zip(_COLUMNS, r)) for r in cursor]

        return await self.call(read)

    async def counts(self, *, tenant: str = "") -> dict[str, int]:
        """How many messages a caller of ``tenant`` may see are in each status (as the API names them)."""
        def read():
            cursor = self._db().execute(
                "SELECT CASE status WHEN 'sending' THEN 'queued' ELSE status END, count(*) FROM notify_outbox "
                f"WHERE 1 = 1 {_OF_TENANT} GROUP BY 1", (tenant, tenant))
            return dict(cursor.fetchall())

        return await self.call(read)

    async def resend(self, message_id: str, *, tenant: str = "") -> dict | None:
        """Queue a dead letter (``failed``) of ``tenant`` again with fresh attempts; None when there is
        no such dead letter. The step's own secrets were erased when it failed, so the resend uses
        the deployment's settings (run the step again to send with its own)."""
        def revive():
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                changed = db.execute(
                    f"UPDATE notify_outbox SET status = 'queued', attempts = 0, reason = '', next_try = ? "
                    f"WHERE id = ? AND status = 'failed' {_OF_TENANT}",
                    (time.time(), message_id, tenant, tenant)).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return changed

        if not await self.call(revive):
            return None
        self._wake.set()
        return await self.get(message_id, tenant=tenant)

    async def wait(self, message_ids: list[str], timeout: float) -> list[dict]:
        """Wait until each message is sent or failed (or the timeout passes); return the rows."""
        deadline = time.monotonic() + timeout
        rows = []
        for message_id in message_ids:
            while True:
                row = await self.get(message_id)
                if row is None or row["status"] in ("sent", "failed") or time.monotonic() >= deadline:
                    break
                future = asyncio.get_running_loop().create_future()
                self._waiters.setdefault(message_id, []).append(future)
                try:
                    await asyncio.wait_for(future, timeout=min(1.0, max(0.01, deadline - time.monotonic())))
                except TimeoutError:
                    pass
            rows.append(row)
        return rows

    # -- the worker -----------------------------------------------------------------------------------

    async def _work(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before looking, so a wake-up that comes while we look is kept
            claimed = []
            if len(self._in_flight) <= REFILL:
                try:
                    claimed = await self.call(self._claim, time.time(), CLAIM - len(self._in_flight))
                except sqlite3.Error as exc:
                    log.error("notify outbox: %s", exc)
            for row in claimed:
                task = asyncio.ensure_future(self._deliver_and_record(row))
                self._in_flight.add(task)
                task.add_done_callback(self._landed)
            if claimed:
                continue
            if len(self._in_flight) > REFILL:
                delay = 1.0  # woken when enough have landed to claim again
            else:
                next_due = await self.call(self._next_due)
                delay = 1.0 if next_due is None else min(1.0, max(0.0, next_due - time.time()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    def _landed(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        if len(self._in_flight) == REFILL:
            self._wake.set()

    def _claim(self, now: float, limit: int = CLAIM) -> list[dict]:
        db = self._db()
        # Look before taking the write lock: an idle outbox never blocks the kernel's writers.
        if db.execute("SELECT 1 FROM notify_outbox WHERE status = 'queued' AND next_try <= ? LIMIT 1", (now,)).fetchone() is None:
            return []
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = [dict(zip(_COLUMNS, r)) for r in db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM notify_outbox WHERE status = 'queued' AND next_try <= ? "
                "ORDER BY priority DESC, next_try, created LIMIT ?", (now, limit))]
            db.executemany("UPDATE notify_outbox SET status = 'sending' WHERE id = ?", [(r["id"],) for r in rows])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return rows

    def _next_due(self) -> float | None:
        row = self._db().execute("SELECT min(next_try) FROM notify_outbox WHERE status = 'queued'").fetchone()
        return row[0] if row else None

    async def _deliver_and_record(self, row: dict) -> None:
        await self._record_landed(await self._deliver(row))

    async def _record_landed(self, result: tuple[dict, str, str]) -> None:
        """Commit ``result`` before returning. Group commit: outcomes that land while a commit is
        under way wait for the lock and go together in the next one, so a burst costs a few
        transactions, not one each, and no outcome waits for a whole round."""
        self._landed_results.append(result)
        async with self._record_lock:
            batch, self._landed_results = self._landed_results, []
            if not batch:  # an earlier commit took ours
                return
            try:
                await self.call(self._record, batch)
            except sqlite3.Error as exc:
                # The rows stay 'sending': a restart queues them again under the same idempotency keys.
                log.error("notify outbox: could not record %d outcome(s): %s", len(batch), exc)
                return
        self._notify_waiters(batch)

    async def _deliver(self, row: dict) -> tuple[dict, str, str]:
        """(row, new status, reason or detail)."""
        attempts = row["attempts"] + 1
        channel = self.channels.get(row["channel"])
        async with self._limit:
            try:
                if channel is None:
                    raise PaperchainError(f"no notifier {row['channel']!r} is installed")
                payload = json.loads(row["payload"])
                item = Item(id=row["id"], channel=row["channel"], recipient=row["recipient"], subject=row["subject"],
                            body=row["body"], data=payload.get("data", {}), attachments=payload.get("attachments", []),
                            options={**payload.get("options", {}), **payload.get("secrets", {})},
                            key=row["idempotency_key"], priority=row["priority"], tenant=row["tenant"])
                detail = await channel.deliver(item)
                return row, "sent", detail or ""
            except Exception as exc:  # noqa: BLE001 - recorded; retried when the policy says so
                failure = exc
                reason = str(exc) if isinstance(exc, PaperchainError) else f"{type(exc).__name__}: {exc}"
        policy = RetryPolicy(attempts=row["max_attempts"], backoff=row["backoff"], max_delay=MAX_DELAY)
        if policy.should_retry(attempts, failure):
            row["next_try"] = time.time() + policy.delay(attempts)
            return row, "queued", f"attempt {attempts} failed: {reason}"
        if retryable(failure):
            reason = f"{GAVE_UP} {attempts} attempts: {reason}"
        log.warning("notify: message %s to %s failed: %s", row["id"], row["recipient"], reason)
        return row, "failed", reason

    def _record(self, results) -> None:
        db = self._db()
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            # A final row forgets the step's own secrets (see Channel._rows): nothing will send it
            # again unless the step runs again, and then the step supplies them anew.
            db.executemany(
                "UPDATE notify_outbox SET status = ?, reason = ?, attempts = attempts + 1, next_try = ?, sent = ?, "
                "payload = CASE WHEN ? = 'queued' THEN payload ELSE json_remove(payload, '$.secrets') END WHERE id = ?",
                [(status, reason if status != "sent" else "", row["next_try"], now if status == "sent" else None,
                  status, row["id"]) for row, status, reason in results],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _notify_waiters(self, results) -> None:
        for row, status, _ in results:
            for future in self._waiters.pop(row["id"], []):
                if not future.done():
                    future.set_result(status)
