"""The audit log: who changed what, when, from where, and how it ended.

Rows are only ever inserted (the API has no route that updates or deletes them). Each entry is
also announced as an ``audit.recorded`` event, which a ledger plugin may anchor so that the log
is tamper-evident.

Every real change (a write by an authenticated caller, whether it succeeded or failed) is its own
entry. Refused traffic (rate-limited, unauthenticated, blocked before authentication) is counted
instead: one entry per (actor or address, route, status) per interval, written when the interval
ends and at shutdown, with the count and the first and last time in its details. A flood of 429s
then costs a handful of rows, not one row (and one ledger entry) per request.

Each entry records its tenant (the acting principal's; '' for the deployment's own and for
refusal counts), and a tenant's admin reads only its tenant's entries.

Ids: the API server and offline writers (the CLI) append to one table from separate processes,
so no process may hand out ids from a counter of its own. SQLite assigns each id inside the
transaction that commits the entry (an INSERT without id through the journal, so entries still
share its group commit); each writer then finds its id by the entry's unique key. Ids are
therefore unique and become visible in increasing order (SQLite has one writer at a time and
entries are never deleted), so a poller reading ``after=<last id seen>`` never skips one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

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


_COLUMNS = ("entry", "time", "actor", "tenant", "action", "target", "ip", "outcome", "status", "details")
_INSERT = f"INSERT INTO audit ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
_OUT = ("id", "time", "actor", "tenant", "action", "target", "ip", "outcome", "status", "details")


class Audit:
    def __init__(self, kernel, *, refused_interval: float = 60.0):
        self.k = kernel
        self.refused = RefusalCounts(refused_interval)
        self._flusher: asyncio.Task | None = None

    async def load(self) -> None:
        """Nothing to read ahead: ids come from SQLite as entries are committed (see the module's doc)."""

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
                     details: dict | None = None, tenant: str = "") -> dict:
        """Append an entry; returns once it is committed, with the id SQLite gave it."""
        entry = {"entry": uuid.uuid4().hex, "time": now(), "actor": actor, "tenant": tenant or "", "action": action,
                 "target": target, "ip": ip, "outcome": outcome, "status": status}
        await self.k.journal.execute(_INSERT, (*entry.values(), json.dumps(details or {})))
        async with self.k.db.execute("SELECT id FROM audit WHERE entry = ?", (entry["entry"],)) as cursor:
            entry = {"id": (await cursor.fetchone())[0], **entry}
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
                    since: str | None = None, after: int = 0, limit: int = 100, tenant: str | None = None,
                    target: str | None = None, until: str | None = None, before: int | None = None,
                    newest_first: bool = False) -> list[dict]:
        """Entries after id ``after``, oldest first; ``tenant``: only that tenant's (None: all).
        ``target`` and ``action`` match a part; ``until`` is exclusive; ``before`` and
        ``newest_first`` page backwards (keyset on the id, as the web UI's audit page does)."""
        where, params = ["id > ?"], [after]
        if before is not None:
            where.append("id < ?")
            params.append(before)
        if tenant is not None:
            where.append("coalesce(tenant, '') = ?")
            params.append(tenant)
        for column, value in (("actor", actor), ("outcome", outcome)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        for column, value in (("action", action), ("target", target)):
            if value:
                where.append(f"{column} LIKE ? ESCAPE '\\'")
                params.append("%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if since:
            where.append("time >= ?")
            params.append(since)
        if until:
            where.append("time < ?")
            params.append(until)
        await self.k.journal.flush()
        order = "id DESC" if newest_first else "id"
        async with self.k.db.execute(
            f"SELECT {', '.join(_OUT)} FROM audit WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?", (*params, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [{**dict(zip(_OUT, r)), "tenant": r[3] or "", "details": json.loads(r[9] or "{}")} for r in rows]
