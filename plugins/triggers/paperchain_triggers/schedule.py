"""``schedule``: cron expressions (with time zones) or fixed intervals.

The last firing is kept in ``triggers_state``; at start the firings missed while the server was
down are run once (``missed = "once"``) or skipped. Each firing's idempotency key is its time, so
a firing repeated after a crash starts nothing new.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from paperchain_sdk import ConfigError, RunRequest

from .base import HostedTrigger, parse_duration
from .clock import SystemClock
from .state import store_for


class ScheduleTrigger(HostedTrigger):
    name = "schedule"
    clock = SystemClock()

    def __init__(self, settings=None):
        super().__init__(settings)
        self.fired: list[dt.datetime] = []
        self.ready = asyncio.Event()  # set once missed firings are dealt with (tests wait on it)

    def _check(self) -> None:
        s = self.settings
        if bool(s.cron) == (s.interval is not None):
            raise ConfigError(f"{self.where}: give exactly one of 'cron' or 'interval'.",
                              hint='e.g. cron = "0 7 * * mon-fri" or interval = "15m"')
        try:
            self.zone = ZoneInfo(s.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{self.where}: unknown time zone {s.timezone!r}.", hint='use an IANA name such as "Europe/Madrid"') from None
        if s.cron:
            from croniter import croniter

            if not croniter.is_valid(s.cron):
                raise ConfigError(f"{self.where}: {s.cron!r} is not a cron expression.",
                                  hint='five fields: minute hour day month weekday, e.g. "*/5 * * * *"')
        else:
            self.every = dt.timedelta(seconds=parse_duration(s.interval, where=f"{self.where}, interval"))

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first firing strictly after ``moment`` (UTC in, UTC out; cron read in the zone)."""
        if self.settings.cron:
            from croniter import croniter

            local = moment.astimezone(self.zone)
            return croniter(self.settings.cron, local).get_next(dt.datetime).astimezone(dt.UTC)
        return moment + self.every

    @property
    def _key(self) -> str:
        s = self.settings
        return f"schedule:{self.workflow}:{s.cron or s.interval}:{s.timezone}"

    async def begin(self) -> None:
        self._check()
        self.store = store_for(self.require_kernel())
        self.spawn(self._loop())

    async def _loop(self) -> None:
        now = self.clock.now()
        saved = await self.store.get(self._key)
        last = dt.datetime.fromisoformat(saved) if saved else now
        if not saved:
            await self.store.put(self._key, last.isoformat())
        missed = None
        moment = self.next_after(last)
        while moment <= now:  # firings while the server was down
            missed, moment = moment, self.next_after(moment)
        if missed is not None:
            if self.settings.missed == "once":
                await self._fire(missed, catch_up=True)
            else:
                await self.store.put(self._key, missed.isoformat())
            last = missed
        self.ready.set()
        while True:
            due = self.next_after(last)
            await self.clock.sleep_until(due)
            await self._fire(due)
            last = due

    async def _fire(self, moment: dt.datetime, *, catch_up: bool = False) -> None:
        inputs = {**self.settings.inputs, "scheduled_for": moment.isoformat(), "catch_up": catch_up}
        await self.fire(RunRequest(workflow=self.workflow, inputs=inputs, source="trigger:schedule",
                                   idempotency_key=f"{self._key}:{moment.isoformat()}"))
        self.fired.append(moment)
        await self.store.put(self._key, moment.isoformat())
