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
running server the next time it would refuse that account.
"""

from __future__ import annotations

import attrs

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
        stale = (now, now - self.settings.window_minutes * 60)
        await self.k.journal.execute("DELETE FROM login_failures WHERE locked_until <= ? AND window_start < ?", stale)
        async with self.k.db.execute(
            "SELECT key, failures, window_start, last_failure, locked_until FROM login_failures"
        ) as cursor:
            for key, failures, start, last, locked in await cursor.fetchall():
                self.counters[key] = Counter(failures or 0, start or 0.0, last or 0.0, locked or 0.0)

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

    async def confirm(self, key: str) -> bool:
        """Whether ``key``'s counter is still in the database (an unlock from the command line
        deletes it); forget it here when it is not."""
        await self.k.journal.flush()
        async with self.k.db.execute("SELECT 1 FROM login_failures WHERE key = ?", (key,)) as cursor:
            if await cursor.fetchone():
                return True
        self.counters.pop(key, None)
        return False

    def failed(self, key: str, now: float) -> bool:
        """Count a failure; True when it crosses the lockout threshold (a lockout starts now)."""
        counter = self.counters.get(key)
        if counter is None:
            if len(self.counters) >= _MAX_COUNTERS:
                self._prune(now)
            counter = self.counters[key] = Counter(window_start=now)
        elif now - counter.window_start > self.settings.window_minutes * 60 and counter.locked_until <= now:
            counter.failures, counter.window_start = 0, now
        counter.failures += 1
        counter.last_failure = now
        _, lock_at = self._limits(key)
        locks = counter.failures >= lock_at and counter.locked_until <= now
        if locks:
            counter.locked_until = now + self.settings.lockout_minutes * 60
            counter.failures, counter.window_start = 0, now  # after the lockout, the count starts afresh
        self._save(key, counter)
        return locks

    def succeeded(self, key: str) -> None:
        if self.counters.pop(key, None) is not None:
            self.k.journal.execute("DELETE FROM login_failures WHERE key = ?", (key,))

    async def unlock(self, key: str) -> bool:
        """Forget ``key``'s failures and lockout; True if there was anything to forget."""
        known = self.counters.pop(key, None) is not None
        await self.k.journal.flush()
        async with self.k.db.execute("SELECT 1 FROM login_failures WHERE key = ?", (key,)) as cursor:
            known = known or await cursor.fetchone() is not None
        await self.k.journal.execute("DELETE FROM login_failures WHERE key = ?", (key,))
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

    def _save(self, key: str, counter: Counter) -> None:
        self.k.journal.upsert("login_failures", {"key": key, **attrs.asdict(counter)})

    def _prune(self, now: float) -> None:
        window = self.settings.window_minutes * 60
        for key in [k for k, c in self.counters.items() if c.locked_until <= now and now - c.window_start > window]:
            del self.counters[key]
