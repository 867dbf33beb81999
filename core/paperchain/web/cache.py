"""Answers of whole-table queries kept briefly, dropped when the kernel says the table changed.

A runs list's state chips count every run under the page's filters, and the documents list
offers every media type; at 100,000 rows each query scans an index (about 5 ms), more than the
rest of the page. ``EventCache`` keeps such an answer until an event of the kinds that could
change it arrives (``run.``, ``batch.`` and ``step.`` for runs, ``document.`` for documents), and
for at most ``ttl`` seconds, so a write that sends no event shows within that time.

Some writers queue their row and send the event before the row is committed, so an answer
computed less than ``settle`` seconds after an event (or while one arrived) is used but not kept:
while runs are changing, pages count afresh each time, as they would with no cache. What they
count most (runs by state, of a workflow, of a tenant) is therefore read from ``run_counts``,
which the database's own triggers keep exact as each run is written (schema v12): a few rows,
however many runs there are and however fast they change.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable


class EventCache:
    def __init__(self, kernel, prefixes: tuple[str, ...], *, ttl: float = 2.0, settle: float = 0.5,
                 size: int = 256):
        self.prefixes, self.ttl, self.settle, self.size = prefixes, ttl, settle, size
        self.entries: dict[Hashable, tuple[float, object]] = {}
        self.generation, self.changed = 0, 0.0
        kernel.listeners.append(self._on_event)
        remote = getattr(kernel, "remote_listeners", None)  # another server's events change figures too
        if remote is not None:
            remote.append(self._on_event)

    def _on_event(self, event) -> None:
        if event.type.startswith(self.prefixes):
            self.generation += 1
            self.changed = time.monotonic()
            self.entries.clear()

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[object]]):
        began = time.monotonic()
        entry = self.entries.get(key)
        if entry and began - entry[0] < self.ttl:
            return entry[1]
        generation = self.generation
        value = await compute()
        if generation == self.generation and began - self.changed >= self.settle:
            if len(self.entries) >= self.size:
                self.entries.clear()
            self.entries[key] = (began, value)
        return value


async def run_counts(sql, tenant: str | None, workflow: str = "") -> dict[str, int]:
    """Runs by state, of ``tenant`` (falsy: every tenant) and of ``workflow`` when given (``sql``: kernel.sql)."""
    import sqlalchemy as sa

    from ..store.tables import run_counts as kept

    statement = sa.select(kept.c.status, sa.func.sum(kept.c.n).label("n")).where(kept.c.n > 0).group_by(kept.c.status)
    for column, value in ((kept.c.tenant, tenant), (kept.c.workflow, workflow)):
        if value:
            statement = statement.where(column == value)
    return {row.status: row.n for row in await sql.read(statement)}
