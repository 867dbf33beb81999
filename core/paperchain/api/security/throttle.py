"""Login throttling: an exponential delay after failed logins, then a temporary lockout.

Failures are counted per account name ("user:<name>") and per client address ("ip:<address>")
over a window (``window_minutes``). From ``delay_after`` failures on, the next attempt must wait
``delay_seconds``, doubling with each further failure up to ``max_delay_seconds``; at
``max_failures`` the account is locked for ``lockout_minutes`` (an address is blocked instead,
see ``ipblock``). A refused attempt checks no password and counts no failure, so a locked
account cannot be guessed at and an attacker cannot keep it locked by hammering it.

Names that belong to no user are counted exactly like real ones: the answers never tell whether
an account exists. Counters live in memory for speed and in the ``login_failures`` table so that
a restart forgets nothing; an unlock made from the command line (on the database) is seen by a
running server at the next login. A failure is counted in the database by one upsert that
increments the stored counter (no read-modify-write), so servers sharing one PostgreSQL database
count every failure, and each login attempt reads its counters from there first (a login costs an
argon2 hash anyway): a lockout made through one server holds on all.
"""

from __future__ import annotations

import attrs
import sqlalchemy as sa

from ...store.tables import login_failures

_FORGET = sa.delete(login_failures).where(login_failures.c.key == sa.bindparam("failure_key"))

_MAX_COUNTERS = 100_000  # counters kept in memory before finished ones are dropped


@attrs.define
class Counter:
    failures: int = 0
    window_start: float = 0.0
    last_failure: float = 0.0
    locked_until: float = 0.0


@attrs.frozen
class Refusal:
    """Why an attempt is refused now, and for how long."""

    reason: str  # "delay" or "locked"
    retry_after: float  # seconds
    until: float  # epoch seconds


class LoginThrottle:
    def __init__(self, kernel, settings):
        self.k = kernel
        self.settings = settings
        self.counters: dict[str, Counter] = {}

    async def load(self, now: float) -> None:
        # Counters whose window and lockout are both over are dropped rather than loaded.
        t = login_failures
        await self.k.sql.write(sa.delete(t).where(t.c.locked_until <= now,
                                                  t.c.window_start < now - self.settings.window_minutes * 60))
        for row in await self.k.sql.read(sa.select(t.c.key, t.c.failures, t.c.window_start, t.c.last_failure,
                                                   t.c.locked_until)):
            self.counters[row.key] = _counter(row)

    def _limits(self, key: str) -> tuple[int, int]:
        """(free failures before delays, failures that lock) for an account or an address."""
        s = self.settings
        return (s.ip_delay_after, s.ip_max_failures) if key.startswith("ip:") else (s.delay_after, s.max_failures)

    def refusal(self, key: str, now: float) -> Refusal | None:
        """Whether an attempt on ``key`` must wait (and how long), from memory."""
        counter = self.counters.get(key)
        if counter is None:
            return None
        if counter.locked_until > now:
            return Refusal("locked", counter.locked_until - now, counter.locked_until)
        if now - counter.window_start > self.settings.window_minutes * 60:
            return None
        free = max(self._limits(key)[0], 1)
        if counter.failures < free:
            return None
        s = self.settings
        delay = min(s.delay_seconds * 2 ** (counter.failures - free), s.max_delay_seconds)
        until = counter.last_failure + delay
        return Refusal("delay", until - now, until) if until > now else None

    async def refresh(self, key: str) -> None:
        """Take ``key``'s counter from the database before a login is let through or refused: other
        servers on the database count failures too, and an unlock from the command line deletes it."""
        await self.k.journal.flush()
        t = login_failures
        row = await self.k.sql.first(sa.select(t.c.failures, t.c.window_start, t.c.last_failure, t.c.locked_until)
                                     .where(t.c.key == key))
        if row is None:
            self.counters.pop(key, None)
        else:
            self.counters[key] = _counter(row)

    async def failed(self, key: str, now: float) -> bool:
        """Count a failure; True when it crosses the lockout threshold (a lockout starts now)."""
        if key not in self.counters and len(self.counters) >= _MAX_COUNTERS:
            self._prune(now)
        lock_until = now + self.settings.lockout_minutes * 60
        await self.k.journal.flush()  # a success's delete queued before this failure lands first
        row = (await self.k.sql.write(self._count_failure(key, now, lock_until))).one()
        self.counters[key] = _counter(row)
        return row.failures == 0 and row.locked_until == lock_until  # a lockout resets the count (below)

    def _count_failure(self, key: str, now: float, lock_until: float):
        """One upsert: a failure counted on the stored row, as the rules of the module's notes say."""
        t, window = login_failures, self.settings.window_minutes * 60
        _, lock_at = self._limits(key)
        # A window over (and no lockout running) starts the count afresh.
        expired = sa.and_(now - sa.func.coalesce(t.c.window_start, 0.0) > window,
                          sa.func.coalesce(t.c.locked_until, 0.0) <= now)
        failures = sa.case((expired, 1), else_=sa.func.coalesce(t.c.failures, 0) + 1)
        window_start = sa.case((expired, now), else_=t.c.window_start)
        locks = sa.and_(failures >= lock_at, sa.func.coalesce(t.c.locked_until, 0.0) <= now)
        first_locks = lock_at <= 1
        insert = self.k.sql.insert(t).values(key=key, failures=0 if first_locks else 1, window_start=now,
                                             last_failure=now, locked_until=lock_until if first_locks else 0.0)
        # After a lockout starts, the count starts afresh when it ends.
        return insert.on_conflict_do_update(index_elements=[t.c.key], set_={
            "failures": sa.case((locks, 0), else_=failures),
            "window_start": sa.case((locks, now), else_=window_start),
            "last_failure": now,
            "locked_until": sa.case((locks, lock_until), else_=t.c.locked_until),
        }).returning(t.c.failures, t.c.window_start, t.c.last_failure, t.c.locked_until)

    def succeeded(self, key: str) -> None:
        if self.counters.pop(key, None) is not None:
            self.k.journal.execute(_FORGET, {"failure_key": key})

    async def unlock(self, key: str) -> bool:
        """Forget ``key``'s failures and lockout; True if there was anything to forget."""
        known = self.counters.pop(key, None) is not None
        await self.k.journal.flush()
        t = login_failures
        known = await self.k.sql.first(sa.select(t.c.key).where(t.c.key == key)) is not None or known
        await self.k.journal.execute(_FORGET, {"failure_key": key})
        return known

    def locked(self, now: float) -> list[dict]:
        """Accounts and addresses locked out or waiting, soonest free first."""
        rows = []
        for key, counter in self.counters.items():
            refusal = self.refusal(key, now)
            if refusal is not None:
                kind, _, name = key.partition(":")
                rows.append({"kind": "user" if kind == "user" else "address", "name": name,
                             "reason": refusal.reason, "failures": counter.failures,
                             "retry_after": round(refusal.retry_after, 3), "until": refusal.until})
        return sorted(rows, key=lambda r: r["until"])

    def _prune(self, now: float) -> None:
        window = self.settings.window_minutes * 60
        for key in [k for k, c in self.counters.items() if c.locked_until <= now and now - c.window_start > window]:
            del self.counters[key]


def _counter(row) -> Counter:
    return Counter(row.failures or 0, row.window_start or 0.0, row.last_failure or 0.0, row.locked_until or 0.0)
