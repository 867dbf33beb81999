"""Event sequence numbers unique across every process on one PostgreSQL database.

The number comes from the ``counters`` row ``events``: ``UPDATE ... SET value = value + n
RETURNING value`` hands out n consecutive numbers. Emits that ask while one allocation is in flight
wait for the next one together, so a burst of events costs one round trip, not one each, and the
numbers follow the order in which this process asked for them. Numbers are not handed out in
blocks kept ahead: a server that held 1001-2000 while another used 1-1000 would make a ``since``
cursor jump over the other's later events. The order in which numbers are *committed* can still
differ from their order across servers; the live hub deals with that (``ordering.py``).
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

NAME = "events"
_START = sa.text(
    "INSERT INTO counters (name, value) SELECT :name, COALESCE(MAX(seq), 0) FROM events "
    "ON CONFLICT (name) DO UPDATE SET value = GREATEST(counters.value, excluded.value) RETURNING value")
_TAKE = sa.text("UPDATE counters SET value = value + :n WHERE name = :name RETURNING value")


class EventSequence:
    def __init__(self, sql):
        self.sql = sql
        self.last = 0  # the highest number known to be handed out (here or, at open, anywhere)
        self._waiting: list[asyncio.Future] = []
        self._allocating: asyncio.Task | None = None

    async def open(self) -> int:
        """Make sure the counter exists and is past every recorded event; the current value."""
        self.last = (await self.sql.write(_START, {"name": NAME})).scalar_one()
        return self.last

    async def next(self) -> int:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        if self._allocating is None or self._allocating.done():
            self._allocating = asyncio.create_task(self._allocate())
        return await future

    async def _allocate(self) -> None:
        while self._waiting:
            waiting, self._waiting = self._waiting, []
            try:
                end = (await self.sql.write(_TAKE, {"n": len(waiting), "name": NAME})).scalar_one()
            except BaseException as exc:
                for future in waiting:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
                if not isinstance(exc, Exception):
                    raise
                continue
            self.last = max(self.last, end)
            for number, future in enumerate(waiting, start=end - len(waiting) + 1):
                if not future.done():
                    future.set_result(number)
