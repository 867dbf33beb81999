"""``threshold``: fire once when a condition over a metric or a query becomes true.

``metric`` counts the kernel's events of one type within ``window`` (``metric = "run.failed"``,
``window = "10m"``, ``condition = "> 5"``); ``query`` is any read-only SELECT over the database
returning one number (``:since`` and ``:now`` are bound, ISO-8601 UTC). Evaluated every
``interval``; after firing it stays quiet until the condition has been false once. Whether it is
armed is kept in ``triggers_state`` so a restart while the condition holds does not fire again.

Tenants: ``query`` is the deployment operator's tool (deployment-wide workflows only). SQL text
cannot be confined to one tenant's rows (binding ``:tenant`` proves nothing: ``OR 1=1`` reads past
it, and a number is enough to read any column a bit at a time), so a tenant's workflow is refused
one. Its ``metric`` counts only its own tenant's events: the kernel's event log holds no tenant to
count by, so the trigger counts the events it hears (``listen`` passes it only its tenant's) since
it started, within ``window``.
"""

from __future__ import annotations

import collections
import datetime as dt
import operator
import re

from paperchain_sdk import ConfigError, RunRequest

from .base import HostedTrigger, log, parse_duration
from .clock import SystemClock
from .state import store_for

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne}
_CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


class ThresholdTrigger(HostedTrigger):
    name = "threshold"
    clock = SystemClock()
    _heard: collections.deque[dt.datetime] | None = None  # a tenant's metric: when its events were heard

    def _check(self) -> None:
        s = self.settings
        if bool(s.metric) == bool(s.query):
            raise ConfigError(f"{self.where}: give exactly one of 'metric' or 'query'.",
                              hint='e.g. metric = "run.failed", window = "10m", condition = "> 5"')
        match = _CONDITION.match(s.condition)
        if not match:
            raise ConfigError(f"{self.where}: condition {s.condition!r} is not a comparison.",
                              hint='write an operator and a number, e.g. "> 5" or "<= 0.5"')
        self.compare, self.limit = _OPS[match.group(1)], float(match.group(2))
        if s.query and not s.query.lstrip().lower().startswith(("select", "with")):
            raise ConfigError(f"{self.where}: the query must be a SELECT.", hint="it only reads; it returns one number")
        self.window = parse_duration(s.window, where=f"{self.where}, window")
        self.interval = parse_duration(s.interval, where=f"{self.where}, interval")

    @property
    def _key(self) -> str:
        return f"threshold:{self.workflow}:{self.settings.metric or self.settings.query}:{self.settings.condition}"

    def _refuse_query_of_a_tenant(self) -> None:
        if self.settings.query and self.tenant:
            raise ConfigError(
                f"{self.where}: a tenant's workflow may not use 'query': SQL over the deployment's database "
                f"would read every tenant's rows (workflow of tenant {self.tenant!r}).",
                hint='count your own events instead, e.g. metric = "run.failed", window = "10m", condition = "> 5"; '
                     "a query belongs in a deployment-wide workflow of the operator")

    async def begin(self) -> None:
        self._check()
        self._refuse_query_of_a_tenant()
        self.store = store_for(self.require_kernel())
        self.fired_armed = await self.store.get(self._key)  # {"active": bool, "count": n}
        self._heard = None
        if self.settings.metric and self.tenant:  # only its own tenant's events, as they come
            self._heard = collections.deque()
            self.listen(self._hear)
        self.spawn(self._loop())

    def _hear(self, event) -> None:
        if event.type == self.settings.metric and self._heard is not None:
            self._heard.append(self.clock.now())

    async def _loop(self) -> None:
        while True:
            await self.evaluate()
            await self.clock.sleep(self.interval)

    async def measure(self) -> float:
        now = self.clock.now()
        since = (now - dt.timedelta(seconds=self.window)).isoformat(timespec="microseconds")
        params = {"since": since, "now": now.isoformat(timespec="microseconds")}
        if self.settings.metric and self.tenant:
            return float(self._count_heard(now - dt.timedelta(seconds=self.window)))
        if self.settings.metric:
            return float(await self.require_kernel().count_events(self.settings.metric, since=since, until=params["now"]))
        self._refuse_query_of_a_tenant()  # begin refused it already; never run one for a tenant
        try:
            value = await self.store.query_number(self.settings.query, params)
        except ValueError as exc:
            raise ConfigError(f"{self.where}: the query failed: {exc}.", hint="check the SQL; it must be one SELECT") from None
        return 0.0 if value is None else value

    def _count_heard(self, since: dt.datetime) -> int:
        heard = self._heard if self._heard is not None else collections.deque()
        while heard and heard[0] < since:
            heard.popleft()
        return len(heard)

    async def evaluate(self) -> bool:
        """Measure once; fire if the condition just became true. Returns whether it holds."""
        try:
            value = await self.measure()
        except ConfigError as exc:
            log.error("%s", exc)
            return False
        state = self.fired_armed or {"active": False, "count": 0}
        holds = self.compare(value, self.limit)
        if holds and not state["active"]:
            state = {"active": True, "count": state["count"] + 1}
            await self.fire(RunRequest(
                workflow=self.workflow, source="trigger:threshold",
                inputs={**self.settings.inputs, "value": value, "condition": self.settings.condition,
                        "metric": self.settings.metric or "query"},
                idempotency_key=f"{self._key}:{state['count']}",
            ))
        elif not holds and state["active"]:
            state = {"active": False, "count": state["count"]}
        if state != self.fired_armed:
            self.fired_armed = state
            await self.store.put(self._key, state)
        return holds
