"""The ``step_attempts`` table's statements: the one place the attempts' states change.

An attempt goes queued -> running (claimed: ``fence`` + 1, a lease until ``lease_until``) ->
succeeded | failed, or cancelled from queued or running; the reaper puts a running attempt whose
lease expired back to queued. Every write of a worker names the fence its claim returned, so a
worker that lost its lease (paused, partitioned, reaped) can no longer renew or finish: its late
result is refused and the attempt's current holder's stands. For a queued attempt, ``lease_until``
is when it is re-sent if nobody claimed it (a lost message).
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from ...store.tables import step_attempts as t

FINISHED = ("succeeded", "failed", "cancelled")


class Attempts:
    def __init__(self, sql):
        self.sql = sql

    async def enqueue(self, row: dict[str, Any], *, resend_after: float) -> tuple[sa.Row, bool]:
        """Record a new attempt as queued, or keep the row already there (the same attempt submitted
        again, e.g. after a restart); return the row as it stands and whether this call made it."""
        now = time.time()
        values = {**row, "state": "queued", "fence": 0, "created": now, "lease_until": now + resend_after, "sends": 1}
        inserted = (await self.sql.write(self.sql.insert(t).values(values).on_conflict_do_nothing(
            index_elements=["id"]).returning(*t.c))).first()
        if inserted is not None:
            return inserted, True
        found = await self.get(row["id"])
        assert found is not None
        return found, False

    async def get(self, attempt_id: str) -> sa.Row | None:
        return await self.sql.first(sa.select(t).where(t.c.id == attempt_id))

    async def finished(self, attempt_ids) -> list[sa.Row]:
        """Those of ``attempt_ids`` that are finished, with their results."""
        ids = list(attempt_ids)
        if not ids:
            return []
        return await self.sql.read(sa.select(t).where(t.c.id.in_(ids), t.c.state.in_(FINISHED)))

    async def claim(self, attempt_id: str, worker: str, lease: float) -> sa.Row | None:
        """Take a queued attempt for ``worker``; the claimed row (``fence`` its new fence), or None when
        it is not queued (claimed by another, finished, cancelled: the message is a duplicate, dropped)."""
        values = {"state": "running", "fence": t.c.fence + 1, "worker": worker, "claimed": time.time(),
                  "lease_until": time.time() + lease}
        if self.sql.dialect == "postgresql":
            # Two workers racing for one attempt: the loser skips the locked row at once instead of
            # waiting for the winner's commit and then re-checking the state.
            free = (sa.select(t.c.id).where(t.c.id == attempt_id, t.c.state == "queued")
                    .with_for_update(skip_locked=True).scalar_subquery())
            where = t.c.id == free
        else:
            where = sa.and_(t.c.id == attempt_id, t.c.state == "queued")
        return (await self.sql.write(sa.update(t).where(where).values(values).returning(*t.c))).first()

    async def renew(self, attempt_id: str, fence: int, lease: float) -> bool:
        """Extend the holder's lease; False when the fence moved on or the attempt is no longer running
        (reaped, cancelled): the holder must stop."""
        result = await self.sql.write(sa.update(t).where(
            t.c.id == attempt_id, t.c.fence == fence, t.c.state == "running").values(lease_until=time.time() + lease))
        return result.rowcount == 1

    async def finish(self, attempt_id: str, fence: int, *, result: Any = None, error: str | None = None,
                     error_detail: str | None = None, retryable: bool = True, timed_out: bool = False) -> bool:
        """Record the holder's outcome; False (nothing written) for a stale fence or an attempt no
        longer running."""
        values: dict[str, Any] = {"finished": time.time(), "lease_until": None}
        if error is None:
            values.update(state="succeeded", result=json.dumps(result))
        else:
            values.update(state="failed", error=error, error_detail=error_detail, retryable=int(retryable),
                          result=json.dumps({"timed_out": True}) if timed_out else None)
        done = await self.sql.write(sa.update(t).where(
            t.c.id == attempt_id, t.c.fence == fence, t.c.state == "running").values(values))
        return done.rowcount == 1

    async def cancel(self, attempt_id: str) -> bool:
        done = await self.sql.write(sa.update(t).where(t.c.id == attempt_id, t.c.state.in_(("queued", "running")))
                                    .values(state="cancelled", finished=time.time(), lease_until=None))
        return done.rowcount == 1

    async def due(self, limit: int = 100) -> list[sa.Row]:
        """Queued attempts nobody claimed in time and running ones whose lease expired."""
        return await self.sql.read(sa.select(t.c.id, t.c.state, t.c.fence, t.c.queue, t.c.timeout, t.c.sends,
                                             t.c.created)
                                   .where(t.c.state.in_(("queued", "running")), t.c.lease_until < time.time())
                                   .order_by(t.c.lease_until).limit(limit))

    async def requeue(self, row: sa.Row, resend_after: float) -> bool:
        """Put a due attempt back in the queue to be sent again (only if it is as ``due`` saw it: no
        worker claimed, renewed or finished it meanwhile); True when this call did."""
        done = await self.sql.write(sa.update(t).where(
            t.c.id == row.id, t.c.state == row.state, t.c.fence == row.fence, t.c.lease_until < time.time())
            .values(state="queued", worker=None, lease_until=time.time() + resend_after, sends=t.c.sends + 1))
        return done.rowcount == 1

    async def postpone(self, row: sa.Row, resend_after: float) -> None:
        """A queued attempt still waiting its turn: look at it again later, without sending it."""
        await self.sql.write(sa.update(t).where(t.c.id == row.id, t.c.state == "queued", t.c.fence == row.fence)
                             .values(lease_until=time.time() + resend_after))
