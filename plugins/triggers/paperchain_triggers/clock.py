"""Time as triggers see it: the system clock, or a fake one tests move by hand."""

from __future__ import annotations

import asyncio
import datetime as dt


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def sleep_until(self, when: dt.datetime) -> None:
        # Sleep in slices so a changed wall clock (suspend, NTP step) is noticed within a minute.
        while (left := (when - self.now()).total_seconds()) > 0:
            await asyncio.sleep(min(left, 60.0))

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that only moves when told: ``await clock.advance(seconds)``."""

    def __init__(self, start: dt.datetime):
        self._now = start
        self._changed = asyncio.Condition()

    def now(self) -> dt.datetime:
        return self._now

    async def sleep_until(self, when: dt.datetime) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._now >= when)

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + dt.timedelta(seconds=seconds))

    async def advance(self, seconds: float, settle_steps: int = 10) -> None:
        async with self._changed:
            self._now += dt.timedelta(seconds=seconds)
            self._changed.notify_all()
        # Let woken sleepers run their firing (which may wait on the state thread) before the caller looks.
        for _ in range(settle_steps):
            await asyncio.sleep(0.01)
