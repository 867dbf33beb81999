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
so no process may hand out ids from a counter of its own. The database assigns each id inside the
transaction that commits the entry (an INSERT without id, returning the id). Ids are therefore
unique and become visible in increasing order, so a poller reading ``after=<last id seen>``
never skips one: SQLite has one writer at a time, and on PostgreSQL each entry's transaction
first takes the lock of one row (``_TURN``) and only then draws its id from the sequence, so
entries commit in the order of their ids there too (a sequence alone hands out ids in one order
and transactions may commit in another). Entries are never deleted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

import attrs
import sqlalchemy as sa

from ..documents import now
from ..store.tables import audit, store_settings

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


_OUT = ("id", "time", "actor", "tenant", "action", "target", "ip", "outcome", "status", "details")
_TURN_ROW = "audit.turn"  # the row whose lock audit writers take in turn (see the module's notes)


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
        turn = self.k.sql.insert(store_settings).values(name=_TURN_ROW, value="")
        turn = turn.on_conflict_do_update(index_elements=[store_settings.c.name], set_={"value": ""})
        async with self.k.sql.transaction() as tx:
            await tx.execute(turn)
            written = await tx.execute(sa.insert(audit).values(**entry, details=json.dumps(details or {}))
                                       .returning(audit.c.id))
            entry = {"id": written.scalar_one(), **entry}
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
        where = [audit.c.id > after]
        if before is not None:
            where.append(audit.c.id < before)
        if tenant is not None:
            where.append(sa.func.coalesce(audit.c.tenant, "") == tenant)
        for column, value in ((audit.c.actor, actor), (audit.c.outcome, outcome)):
            if value:
                where.append(column == value)
        for column, value in ((audit.c.action, action), (audit.c.target, target)):
            if value:  # a part, in any case (as SQLite's LIKE matched before)
                escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                where.append(column.ilike(f"%{escaped}%", escape="\\"))
        if since:
            where.append(audit.c.time >= since)
        if until:
            where.append(audit.c.time < until)
        await self.k.journal.flush()
        statement = (sa.select(*(audit.c[name] for name in _OUT)).where(*where)
                     .order_by(audit.c.id.desc() if newest_first else audit.c.id).limit(limit))
        return [{**row._mapping, "tenant": row.tenant or "", "details": json.loads(row.details or "{}")}
                for row in await self.k.sql.read(statement)]
