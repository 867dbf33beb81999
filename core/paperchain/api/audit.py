"""The audit log: who changed what, when, from where, and how it ended.

Rows are only ever inserted (the API has no route that updates or deletes them). Each entry is
also announced as an ``audit.recorded`` event, which a ledger plugin may anchor so that the log
is tamper-evident.

Every real change (a write by an authenticated caller, whether it succeeded or failed) is its own
entry. Refused traffic (rate-limited, unauthenticated, blocked before authentication) is counted
instead: one entry per (actor or address, route, status) per interval, written when the interval
ends and at shutdown, with the count and the first and last time in its details. A flood of 429s
then costs a handful of rows, not one row (and one ledger entry) per request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import attrs

from ..documents import now

log = logging.getLogger("paperchain.api")
_OVERFLOW = ("*", "*")  # actor and address of the bucket that takes keys past ``max_keys``


@attrs.define
class Tally:
    count: int
    first: str
    last: str


class RefusalCounts:
    """Refused requests counted per (actor, address, action, outcome, status) in fixed
    intervals of wall-clock time. ``max_keys`` bounds memory under a spray from many addresses:
    keys past it are counted together under actor and address '*'."""

    def __init__(self, interval: float, *, max_keys: int = 10_000, clock=time.time):
        self.interval, self.max_keys, self.clock = interval, max_keys, clock
        self.window = self._window(clock())
        self.tallies: dict[tuple, Tally] = {}

    def _window(self, when: float) -> int:
        return int(when // self.interval)

    def add(self, key: tuple) -> dict[tuple, Tally]:
        """Count one request; returns the tallies of a window that has just ended (to write), else {}."""
        ended = self.take_ended()
        stamp = now()
        if key not in self.tallies and len(self.tallies) >= self.max_keys:
            key = (*_OVERFLOW, *key[2:])
        tally = self.tallies.get(key)
        if tally is None:
            self.tallies[key] = Tally(1, stamp, stamp)
        else:
            tally.count += 1
            tally.last = stamp
        return ended

    def take_ended(self) -> dict[tuple, Tally]:
        window = self._window(self.clock())
        if window == self.window:
            return {}
        self.window = window
        return self.take_all()

    def take_all(self) -> dict[tuple, Tally]:
        tallies, self.tallies = self.tallies, {}
        return tallies

    def seconds_left(self) -> float:
        return (self.window + 1) * self.interval - self.clock()


class Audit:
    def __init__(self, kernel, *, refused_interval: float = 60.0):
        self.k = kernel
        self._next = 0
        self.refused = RefusalCounts(refused_interval)
        self._flusher: asyncio.Task | None = None

    async def load(self) -> None:
        async with self.k.db.execute("SELECT coalesce(max(id), 0) FROM audit") as cursor:
            self._next = (await cursor.fetchone())[0]

    def start(self) -> None:
        """Write each interval's refusal counts when it ends, even if no request comes after it."""
        self._flusher = asyncio.get_running_loop().create_task(self._flush_at_interval_ends())

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        await self.write_refused(self.refused.take_all())

    async def record(self, *, actor: str, action: str, target: str, ip: str, outcome: str, status: int,
                     details: dict | None = None) -> dict:
        self._next += 1
        entry = {"id": self._next, "time": now(), "actor": actor, "action": action, "target": target, "ip": ip,
                 "outcome": outcome, "status": status}
        self.k.journal.upsert("audit", {**entry, "details": json.dumps(details or {})})
        await self.k.emit("audit.recorded", str(entry["id"]), entry)
        return entry

    async def count_refused(self, *, actor: str, action: str, ip: str, outcome: str, status: int) -> None:
        """Count a refused request; its entry is written when the interval ends. No target: the
        route (in ``action``) says enough, and paths with ids would make the counts unbounded."""
        ended = self.refused.add((actor, ip, action, outcome, status))
        if ended:
            await self.write_refused(ended)

    async def write_refused(self, tallies: dict[tuple, Tally]) -> None:
        for (actor, ip, action, outcome, status), tally in tallies.items():
            await self.record(actor=actor, action=action, target="", ip=ip, outcome=outcome, status=status,
                              details={"count": tally.count, "first": tally.first, "last": tally.last})

    async def _flush_at_interval_ends(self) -> None:
        while True:
            await asyncio.sleep(max(self.refused.seconds_left(), 0.0) + 0.01)
            try:
                await self.write_refused(self.refused.take_ended())
            except Exception:  # noqa: BLE001 - the counts stay lost, the flusher lives on
                log.exception("refused-request counts not recorded")

    async def query(self, *, actor: str | None = None, action: str | None = None, outcome: str | None = None,
                    since: str | None = None, after: int = 0, limit: int = 100) -> list[dict]:
        where, params = ["id > ?"], [after]
        for column, value in (("actor", actor), ("outcome", outcome)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if action:
            where.append("action LIKE ?")
            params.append(f"%{action}%")
        if since:
            where.append("time >= ?")
            params.append(since)
        await self.k.journal.flush()
        async with self.k.db.execute(
            f"SELECT id, time, actor, action, target, ip, outcome, status, details FROM audit WHERE {' AND '.join(where)} "
            f"ORDER BY id LIMIT ?", (*params, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        keys = ("id", "time", "actor", "action", "target", "ip", "outcome", "status", "details")
        return [{**dict(zip(keys, r)), "details": json.loads(r[8] or "{}")} for r in rows]
