"""Event sequence numbers unique across every process on one PostgreSQL database.

The number comes from the ``counters`` row ``events``: ``UPDATE ... SET value = value + n
RETURNING value`` hands out n consecutive numbers. Emits that ask while one allocation is in flight
wait for the next one together, so a burst of events costs one round trip, not one each, and the
numbers follow the order in which this process asked for them. Numbers are not handed out in
blocks kept ahead: a server that held 1001-2000 while another used 1-1000 would make a ``since``
cursor jump over the other's later events. The order in which numbers are *committed* can still
differ from their order across servers; the live hub deals with that (``ordering.py``).

Allocation runs on a connection of its own, one statement in autocommit with
``synchronous_commit = off``: it does not wait for its WAL to reach the disk. That is safe here
because WAL is flushed in order: the commit of any event row that uses a number flushes the
counter's earlier update with it, so after a crash the counter can only have lost numbers that no
recorded event holds. Waiting for that flush made an emit about ten times slower
(``bench/cluster_events.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from .bus import CLOSE_TIMEOUT, CONNECT_TIMEOUT, close_connection

NAME = "events"
_START = ("INSERT INTO counters (name, value) SELECT $1, COALESCE(MAX(seq), 0) FROM events "
          "ON CONFLICT (name) DO UPDATE SET value = GREATEST(counters.value, excluded.value) RETURNING value")
_TAKE = "UPDATE counters SET value = value + $1 WHERE name = $2 RETURNING value"


class EventSequence:
    def __init__(self, dsn: str):
        self.dsn = dsn
        self.last = 0  # the highest number known to be handed out (here or, at open, anywhere)
        self._conn: Any = None  # asyncpg's Connection, made again after a failure
        self._waiting: list[asyncio.Future] = []
        self._allocating: asyncio.Task | None = None

    async def open(self) -> int:
        """Make sure the counter exists and is past every recorded event; the current value."""
        self.last = await (await self._connection()).fetchval(_START, NAME)
        return self.last

    async def close(self) -> None:
        if self._allocating is not None:
            await asyncio.wait([self._allocating], timeout=CLOSE_TIMEOUT)
            self._allocating.cancel()
            await asyncio.gather(self._allocating, return_exceptions=True)
        if self._conn is not None:
            await close_connection(self._conn)
            self._conn = None

    async def _connection(self):
        if self._conn is None or self._conn.is_closed():
            import asyncpg

            self._conn = await asyncpg.connect(self.dsn, server_settings={"synchronous_commit": "off"},
                                               timeout=CONNECT_TIMEOUT)
        return self._conn

    async def next(self) -> int:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        if self._allocating is None or self._allocating.done():
            self._allocating = asyncio.create_task(self._allocate())
        return await future

    async def _allocate(self) -> None:
        while self._waiting:
            # An emit cancelled while waiting takes no number: a number never used holds the live hub's
            # order back for a moment (ordering.py).
            waiting, self._waiting = [f for f in self._waiting if not f.done()], []
            if not waiting:
                continue
            try:
                end = await (await self._connection()).fetchval(_TAKE, len(waiting), NAME)
            except BaseException as exc:
                if self._conn is not None and not self._conn.is_closed() and isinstance(exc, Exception):
                    self._conn.terminate()  # in an unknown state: the next allocation connects again
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
