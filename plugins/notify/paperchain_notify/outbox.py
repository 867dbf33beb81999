"""The durable outbox (``notify_outbox`` in the host's plugin storage) and the task that works it.

Each row is one message to one recipient. The worker claims due rows, most urgent first, sends
them concurrently, and records each outcome: ``sent``; back to ``queued`` with the reason and a
delay for a retryable failure (the SDK's one retry policy, ``paperchain_sdk.retry``, as the
engine's steps: doubling from the backoff, capped, with jitter); ``failed`` (the dead-letter list) after the last attempt
or at once for a failure no retry can fix. A repeated idempotency key returns the first message,
unless that one failed: then it is queued again. Each outcome is committed as it lands (group
commit).

Claims: a claimed row is ``sending``, with its outbox (``claimed_by``, a fresh id per start) and a
lease (``claimed_until``) the outbox renews while it runs. A row whose claim lapsed (its outbox
crashed or hung: posted, maybe received, outcome unknown) is queued again, by whichever outbox
on the database sees it first, and the receiver sees the same Idempotency-Key, so it can drop a
repeat; a live claim of another kernel's outbox on the same database is never touched, so two
kernels on one PostgreSQL do not send a message twice. A clean stop releases its own claims at
once. Kernels sharing a database keep their clocks within a few seconds (NTP): a lease is judged
by the clock of the outbox that reads it.

Each message (and each in-app notification) records the tenant of the run that queued it (``''``
for the operator's); a caller of a tenant is answered about that tenant's messages only. Rows from
before tenants have none (NULL): the operator's alone, except a notification, which stays its
addressee's.

The rows live in the plugin's storage (``storage.py``), on SQLite or PostgreSQL as the deployment
chose: a message is committed before ``enqueue`` returns (so before the step that queued it is
recorded done), and each batch of outcomes is committed before its rows can be claimed again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

import sqlalchemy as sa

from paperchain_sdk import InputError, PaperchainError
from paperchain_sdk.retry import RetryPolicy, retryable

from .storage import SCHEMA
from .storage import outbox as table
from .transports import Item

log = logging.getLogger("paperchain.notify")

# What a dead letter takes from a message queued again under its key (id and created stay).
_REVIVED = ("channel", "recipient", "subject", "body", "payload", "priority", "send_at", "next_try", "attempts",
            "max_attempts", "backoff", "status", "reason", "sent")
_DB_ERRORS = (sa.exc.SQLAlchemyError, OSError)  # a database that failed or went away; the rows stay as they were
CLAIM = 256  # most rows claimed (marked 'sending') and in flight at once
REFILL = CLAIM // 2  # claim again once this few are left in flight, so claims stay batched
CONCURRENCY = 64  # deliveries on the wire at once
MAX_DELAY = 3600.0  # the longest wait between two tries of one message (the policy doubles the backoff)
GAVE_UP = "gave up after"  # how a reason starts when every attempt met a retryable failure
LEASE = 60.0  # seconds a claim lasts unless renewed: the longest a crashed outbox's rows wait to go again
RENEW_EVERY = LEASE / 4  # how often a running outbox renews its claims and queues lapsed ones again


def _of_tenant(statement, tenant: str):
    """Rows a caller of ``tenant`` may see; the operator ('') sees every tenant's."""
    return statement.where(table.c.tenant == tenant) if tenant else statement


def _rows(found) -> list[dict]:
    return [dict(row._mapping) for row in found]


def _final_payload(payload: str) -> str:
    """A final row forgets the step's own secrets (see Channel._rows): nothing will send it again
    unless the step runs again, and then the step supplies them anew."""
    values = json.loads(payload)
    return json.dumps(values) if values.pop("secrets", None) is not None else payload


# Statements built once with bound parameters (a busy outbox runs them often).
_BY_KEYS = sa.select(table).where(table.c.idempotency_key.in_(sa.bindparam("keys", expanding=True)))
# An outcome is recorded only while the claim is still this outbox's: after a lapse another outbox
# may hold the row, and its own outcome will be the one recorded.
_RECORD = (sa.update(table).where(table.c.id == sa.bindparam("b_id"), table.c.claimed_by == sa.bindparam("b_owner"))
           .values(status=sa.bindparam("b_status"), reason=sa.bindparam("b_reason"), attempts=table.c.attempts + 1,
                   next_try=sa.bindparam("b_next_try"), sent=sa.bindparam("b_sent"), payload=sa.bindparam("b_payload"),
                   claimed_by=None, claimed_until=None))
_SENDING = table.c.status == "sending"
_RENEW = (sa.update(table).where(_SENDING, table.c.claimed_by == sa.bindparam("b_owner"))
          .values(claimed_until=sa.bindparam("b_until")))
_RELEASE = (sa.update(table).where(_SENDING, table.c.claimed_by == sa.bindparam("b_owner"))
            .values(status="queued", claimed_by=None, claimed_until=None))
# NULL: claimed before claims had an owner (0002), by an outbox long gone.
_HAS_LAPSED = sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until < sa.bindparam("now"))
_ANY_LAPSED = sa.select(sa.literal(1)).select_from(table).where(_SENDING, _HAS_LAPSED).limit(1)
_LAPSED = sa.update(table).where(_SENDING, _HAS_LAPSED).values(status="queued", claimed_by=None, claimed_until=None)
_DUE = sa.select(sa.literal(1)).select_from(table).where(table.c.status == "queued",
                                                         table.c.next_try <= sa.bindparam("now")).limit(1)
_NEXT_DUE = sa.select(sa.func.min(table.c.next_try)).where(table.c.status == "queued")
_QUEUED = table.c.status == "queued"
# Claiming is one statement: the most urgent due rows marked 'sending' and returned. On PostgreSQL
# the rows chosen are locked (and their status checked again once locked), and another kernel's
# outbox skips them instead of sending them too. The outer WHERE is the key alone: with the status
# there too, SQLite walks every queued row through the status index instead of seeking 16 keys.
_CLAIM = (sa.update(table)
          .where(table.c.id.in_(
              sa.select(table.c.id).where(_QUEUED, table.c.next_try <= sa.bindparam("now"))
              .order_by(table.c.priority.desc(), table.c.next_try, table.c.created)
              .limit(sa.bindparam("limit", type_=sa.Integer)).with_for_update(skip_locked=True).scalar_subquery()))
          .values(status="sending", claimed_by=sa.bindparam("b_owner"), claimed_until=sa.bindparam("b_until"))
          .returning(*table.columns))


def _urgency(row: dict) -> tuple:
    return -row["priority"], row["next_try"], row["created"]


class Outbox:
    def __init__(self, kernel, channels: dict[str, Any]):
        self.kernel = kernel
        self.channels = channels  # component name -> channel component (has .deliver(item))
        self.store = None  # the plugin's StorageAPI handle, from the kernel at start
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._limit = asyncio.Semaphore(CONCURRENCY)
        self._in_flight: set[asyncio.Task] = set()
        self._landed_results: list[tuple[dict, str, str]] = []
        self._record_lock = asyncio.Lock()
        self.owner = ""  # this start's claims (a fresh id each start)
        self._renewed = 0.0  # time.monotonic() of the last renewal

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self.bind(await self.kernel.storage(SCHEMA))  # runs the plugin's pending migrations first
        self.owner = "outbox_" + uuid.uuid4().hex
        await self._requeue_lapsed(time.time())  # a crashed outbox's rows; never a live claim
        self._renewed = time.monotonic()
        self._task = asyncio.ensure_future(self._work())

    def bind(self, store) -> None:
        """Take the plugin's storage handle; build the statement that depends on its dialect once."""
        self.store = store
        insert = store.insert(table)
        # A new key inserts; a dead letter's key comes back with the new content (a retried run
        # means to send it), only for the same tenant; any other repeat changes nothing.
        self._upsert = insert.on_conflict_do_update(
            index_elements=["idempotency_key"], set_={name: insert.excluded[name] for name in _REVIVED},
            where=(table.c.status == "failed") & table.c.tenant.is_not_distinct_from(insert.excluded.tenant))
        self._upsert_one = self._upsert.returning(*table.columns)

    async def stop(self) -> None:
        if self._task is not None:
            # A flag as well as cancel(): on Python 3.11, wait_for() can swallow a cancellation that
            # lands just as its inner wait finishes, and the loop would go on waiting forever.
            self._stopping = True
            self._wake.set()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        in_flight, self._in_flight = list(self._in_flight), set()
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        landed, self._landed_results = self._landed_results, []
        if landed:  # outcomes cancelled while waiting for their commit: record them, not send them again
            await self._record(landed)
        if self.owner:  # deliveries cut short: queued again now (same keys), not when the lease lapses
            await self.store.write(_RELEASE, {"b_owner": self.owner})
        for channel in {id(c): c for c in self.channels.values()}.values():
            await channel.close()

    # -- queueing ------------------------------------------------------------------------------------

    async def enqueue(self, rows: list[dict]) -> list[dict]:
        """Store messages (dicts of the outbox columns); return each stored row. A repeated
        idempotency key returns the first message, so a sent or pending one never goes twice; a
        dead-lettered one is queued again with the new content (a retried run means to send it)."""
        if not rows:
            return []
        now = time.time()
        for row in rows:
            row.setdefault("id", "msg_" + uuid.uuid4().hex)
            row.update(status="queued", attempts=0, reason="", created=now, sent=None,
                       next_try=max(row["send_at"], now), claimed_by=None, claimed_until=None)

        stored = await self._insert(rows)
        self._wake.set()
        return stored

    async def _insert(self, rows: list[dict]) -> list[dict]:
        columns = [column.name for column in table.columns]
        values = [{c: r[c] for c in columns} for r in rows]
        # One statement, committed before we answer (so before the step that queued it is recorded
        # done). One message: it answers with the row it inserted or revived, the usual case; a
        # repeat of a live key (nothing changed, nothing returned) and several messages read back.
        # Rows are never deleted, so the read finds each key's row.
        if len(values) == 1:
            returned = _rows(await self.store.write(self._upsert_one, values[0]))
        else:
            await self.store.write(self._upsert, values)
            returned = []
        if len(returned) < len(rows):
            returned = _rows(await self.store.read(_BY_KEYS, {"keys": [r["idempotency_key"] for r in rows]}))
        found = {row["idempotency_key"]: row for row in returned}
        stored = []
        for r in rows:
            row = found.get(r["idempotency_key"])
            if row is None or row["tenant"] != r["tenant"]:  # another tenant's key: never answer with its message
                raise InputError(f"the idempotency key {r['idempotency_key']!r} is already taken.",
                                 hint="give this message a key of its own")
            stored.append(row)
        return stored

    async def get(self, message_id: str, *, tenant: str = "") -> dict | None:
        """The message, if a caller of ``tenant`` may see it (``''``: the operator, who sees all)."""
        found = _rows(await self.store.read(_of_tenant(sa.select(table).where(table.c.id == message_id), tenant)))
        return found[0] if found else None

    async def dead_letters(self, limit: int = 100, *, tenant: str = "") -> list[dict]:
        return await self.recent(limit, tenant=tenant, status="failed")

    async def recent(self, limit: int = 100, *, tenant: str = "", status: str | None = None) -> list[dict]:
        """The newest messages a caller of ``tenant`` may see, optionally of one ``status`` (as the
        API names them: ``queued`` includes those being sent)."""
        query = sa.select(table).order_by(table.c.created.desc()).limit(limit)
        if status:
            query = query.where(table.c.status.in_(("queued", "sending")) if status == "queued"
                                else table.c.status == status)
        return _rows(await self.store.read(_of_tenant(query, tenant)))

    async def counts(self, *, tenant: str = "") -> dict[str, int]:
        """How many messages a caller of ``tenant`` may see are in each status (as the API names them)."""
        query = _of_tenant(sa.select(table.c.status, sa.func.count()).group_by(table.c.status), tenant)
        counted: dict[str, int] = {}
        for status, count in await self.store.read(query):
            status = "queued" if status == "sending" else status
            counted[status] = counted.get(status, 0) + count
        return counted

    async def resend(self, message_id: str, *, tenant: str = "") -> dict | None:
        """Queue a dead letter (``failed``) of ``tenant`` again with fresh attempts; None when there is
        no such dead letter. The step's own secrets were erased when it failed, so the resend uses
        the deployment's settings (run the step again to send with its own)."""
        revive = _of_tenant(sa.update(table).where(table.c.id == message_id, table.c.status == "failed"), tenant)
        changed = await self.store.write(revive.values(status="queued", attempts=0, reason="", next_try=time.time()))
        if not changed.rowcount:
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
            if time.monotonic() - self._renewed >= RENEW_EVERY:
                try:
                    await self._renew_claims()
                except _DB_ERRORS as exc:
                    log.error("notify outbox: %s", exc)
            claimed = []
            if len(self._in_flight) <= REFILL:
                try:
                    claimed = await self._claim(time.time(), CLAIM - len(self._in_flight))
                except _DB_ERRORS as exc:
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
                try:
                    next_due = await self.store.scalar(_NEXT_DUE)
                except _DB_ERRORS as exc:
                    log.error("notify outbox: %s", exc)
                    next_due = None
                delay = 1.0 if next_due is None else min(1.0, max(0.0, next_due - time.time()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    def _landed(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        if len(self._in_flight) == REFILL:
            self._wake.set()

    async def _renew_claims(self) -> None:
        """Extend this outbox's claims (rows in flight, or waiting for a slot) and queue again the
        rows whose claim lapsed (another kernel's outbox that crashed or hung)."""
        self._renewed = time.monotonic()
        now = time.time()
        if self._in_flight:
            await self.store.write(_RENEW, {"b_owner": self.owner, "b_until": now + LEASE})
        await self._requeue_lapsed(now)

    async def _requeue_lapsed(self, now: float) -> None:
        # Look before writing, as _claim does: an idle outbox never takes the write lock (SQLite).
        if await self.store.scalar(_ANY_LAPSED, {"now": now}) is None:
            return
        lapsed = await self.store.write(_LAPSED, {"now": now})
        if lapsed.rowcount:
            log.warning("notify outbox: %d message(s) whose sender stopped are queued again", lapsed.rowcount)
            self._wake.set()

    async def _claim(self, now: float, limit: int = CLAIM) -> list[dict]:
        # Look before writing: an idle outbox never takes the kernel's write lock (SQLite).
        if await self.store.scalar(_DUE, {"now": now}) is None:
            return []
        claimed = await self.store.write(_CLAIM, {"now": now, "limit": limit, "b_owner": self.owner,
                                                  "b_until": now + LEASE})
        return sorted(_rows(claimed), key=_urgency)

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
                await self._record(batch)
            except _DB_ERRORS as exc:
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

    async def _record(self, results) -> None:
        now = time.time()
        await self.store.write(_RECORD, [
            {"b_id": row["id"], "b_owner": self.owner, "b_status": status, "b_reason": reason if status != "sent" else "",
             "b_next_try": row["next_try"], "b_sent": now if status == "sent" else None,
             "b_payload": row["payload"] if status == "queued" else _final_payload(row["payload"])}
            for row, status, reason in results])

    def _notify_waiters(self, results) -> None:
        for row, status, _ in results:
            for future in self._waiters.pop(row["id"], []):
                if not future.done():
                    future.set_result(status)
