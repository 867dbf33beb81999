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
        self._dispatching = False

    @property
    def waiting(self) -> int:
        return sum(1 for *_, f in self._waiters if not f.done())

    @contextlib.asynccontextmanager
    async def acquire(self, priority: int = 0):
        # Everyone queues, and slots are handed out on the next loop iteration, so steps that
        # become ready together are served by priority rather than by who asked first.
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        heapq.heappush(self._waiters, (-priority, next(self._order), future))
        self._schedule(loop)
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

    def _schedule(self, loop) -> None:
        if not self._dispatching:
            self._dispatching = True
            loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._dispatching = False
        while self._free > 0 and self._waiters:
            *_, future = heapq.heappop(self._waiters)
            if not future.done():
                self._free -= 1
                future.set_result(None)

    def _release(self) -> None:
        self._free += 1
        if self._waiters:
            self._schedule(asyncio.get_running_loop())
