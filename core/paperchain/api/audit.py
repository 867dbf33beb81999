"""The audit log: who changed what, when, from where, and how it ended.

Rows are only ever inserted (the API has no route that updates or deletes them). Each entry is
also announced as an ``audit.recorded`` event, which a ledger plugin may anchor so that the log
is tamper-evident.
"""

from __future__ import annotations

import json

from ..documents import now


class Audit:
    def __init__(self, kernel):
        self.k = kernel
        self._next = 0

    async def load(self) -> None:
        async with self.k.db.execute("SELECT coalesce(max(id), 0) FROM audit") as cursor:
            self._next = (await cursor.fetchone())[0]

    async def record(self, *, actor: str, action: str, target: str, ip: str, outcome: str, status: int,
                     details: dict | None = None) -> dict:
        self._next += 1
        entry = {"id": self._next, "time": now(), "actor": actor, "action": action, "target": target, "ip": ip,
                 "outcome": outcome, "status": status}
        self.k.journal.upsert("audit", {**entry, "details": json.dumps(details or {})})
        await self.k.emit("audit.recorded", str(entry["id"]), entry)
        return entry

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
