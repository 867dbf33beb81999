"""Which server runs a batch: the holder of the lease ``batch:<id>``.

The server that creates a batch takes its lease before the batch row exists, so no other server
ever sees it unowned; it renews all its batch leases in one statement every tick and drops a
batch's lease when the batch is done. A server stopped cleanly releases its leases at once; one
that dies stops renewing them, and after ``ttl`` seconds a restarted server's start-up resume or
the leader's sweep (``Cluster``) takes the batch and finishes it. A server that finds a lease of
its own gone (it stalled longer than ``ttl`` and another took over) cancels its copy of the batch,
as a shutdown would: the runs stay unfinished for the new owner.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from ..store.tables import batches
from .leases import Leases

PREFIX = "batch:"
_UNFINISHED = sa.select(batches.c.id).where(batches.c.status.in_(("ingesting", "running"))).order_by(
    batches.c.created, batches.c.id)
log = logging.getLogger(__name__)


class BatchOwnership:
    def __init__(self, leases: Leases, ttl: float):
        self.leases, self.ttl = leases, ttl
        self.owned: set[str] = set()

    async def claim(self, batch_id: str) -> bool:
        """Take the batch for this server: False while another live server runs it."""
        if await self.leases.take(PREFIX + batch_id, self.ttl) is None:
            return False
        self.owned.add(batch_id)
        return True

    async def release(self, batch_id: str, *, finished: bool) -> None:
        """Give the batch up: ``finished`` drops its lease row, else it is free to take at once."""
        self.owned.discard(batch_id)
        await self.leases.release(PREFIX + batch_id, drop=finished)

    async def renew(self) -> set[str]:
        """Renew every batch lease held here; the batches whose lease another server has taken."""
        before = set(self.owned)  # a claim that lands during the renewal is not "lost"
        renewed = {name[len(PREFIX):] for name in await self.leases.renew_prefix(PREFIX, self.ttl)}
        lost = {b for b in before - renewed if b in self.owned}  # not released meanwhile
        self.owned -= lost
        return lost

    async def orphans(self, sql, running_here) -> list[str]:
        """Unfinished batches no live server holds (their owner died or stopped), oldest first."""
        unfinished = [row.id for row in await sql.read(_UNFINISHED) if row.id not in running_here]
        held = await self.leases.held([PREFIX + b for b in unfinished])
        return [b for b in unfinished if PREFIX + b not in held]
