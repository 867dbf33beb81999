"""Named leases in the ``leases`` table: who holds a name, until when, and its fence.

A lease is taken or renewed by one conditional upsert: it goes to ``holder`` when the name is free,
expired, or already its own; a new holder bumps ``fence``, so whatever the lease guards can tell
an old holder's late write from the current one's. Time is the database's clock
(``clock_timestamp()``), never a server's own, so servers whose clocks differ agree on expiry.
"""

from __future__ import annotations

import sqlalchemy as sa

NOW = "EXTRACT(EPOCH FROM clock_timestamp())::float8"

_TAKE = sa.text(
    f"INSERT INTO leases (name, holder, fence, until) VALUES (:name, :holder, 1, {NOW} + :ttl) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until, "
    "fence = leases.fence + CASE WHEN leases.holder = excluded.holder THEN 0 ELSE 1 END "
    f"WHERE leases.holder = excluded.holder OR leases.holder IS NULL OR leases.until < {NOW} "
    "RETURNING fence")
_RELEASE = sa.text("UPDATE leases SET holder = NULL, until = 0 WHERE name = :name AND holder = :holder")
_DROP = sa.text("DELETE FROM leases WHERE name = :name AND holder = :holder")
_RENEW_PREFIX = sa.text(f"UPDATE leases SET until = {NOW} + :ttl WHERE holder = :holder AND name LIKE :prefix "
                        "RETURNING name")
_RELEASE_PREFIX = sa.text("UPDATE leases SET holder = NULL, until = 0 WHERE holder = :holder AND name LIKE :prefix")
_HELD = sa.text(f"SELECT name FROM leases WHERE name = ANY(:names) AND holder IS NOT NULL AND until >= {NOW}")


class Leases:
    def __init__(self, sql, holder: str):
        self.sql, self.holder = sql, holder

    async def take(self, name: str, ttl: float) -> int | None:
        """Take or renew ``name`` for ``ttl`` seconds: its fence, or None while another holds it."""
        row = (await self.sql.write(_TAKE, {"name": name, "holder": self.holder, "ttl": ttl})).first()
        return None if row is None else row.fence

    async def release(self, name: str, *, drop: bool = False) -> None:
        """Give ``name`` up now (``drop``: delete the row, for names used once, such as a batch's)."""
        await self.sql.write(_DROP if drop else _RELEASE, {"name": name, "holder": self.holder})

    async def renew_prefix(self, prefix: str, ttl: float) -> set[str]:
        """Renew every lease of this holder whose name starts with ``prefix``; the names renewed."""
        rows = (await self.sql.write(_RENEW_PREFIX, {"holder": self.holder, "prefix": prefix + "%", "ttl": ttl})).all()
        return {row.name for row in rows}

    async def release_prefix(self, prefix: str) -> None:
        await self.sql.write(_RELEASE_PREFIX, {"holder": self.holder, "prefix": prefix + "%"})

    async def held(self, names: list[str]) -> set[str]:
        """Which of ``names`` someone holds now (a lease not expired)."""
        if not names:
            return set()
        return {row.name for row in await self.sql.read(_HELD, {"names": names})}
