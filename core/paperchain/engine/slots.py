"""A counting semaphore that wakes the highest-priority waiter first (FIFO among equals)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools


class PrioritySlots:
    def __init__(self, size: int):
        self.size = size
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for *_, f in self._waiters if not f.done())

    @contextlib.asynccontextmanager
    async def acquire(self, priority: int = 0):
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            future = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiters, (-priority, next(self._order), future))
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():
                    self._release()  # we were handed a slot just as we were cancelled
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            *_, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self._free += 1
