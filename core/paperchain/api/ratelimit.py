"""Token buckets: per API key or user, and per client address.

Kept as GCRA (the generic cell rate algorithm), which is a token bucket written as one number
per key: the time at which the bucket would be full again. A request moves that time one
interval (1 / rate) later; it is refused when the time lies more than ``burst`` intervals ahead.
Same answers as counting tokens, with one float per key and no refill arithmetic.

Several servers (``cluster/ratelimit.py``): each server still decides from memory, with no round
trip per request, and counts what it let through (``taken``); a few times a second the servers tell
one another those counts and each moves its own buckets on by them (``absorb``). So a client spread
over many servers gets the one limit, give or take what it can send in one exchange interval.
"""

from __future__ import annotations

import time


class TokenBuckets:
    """``rate`` tokens per second up to ``burst``; each request takes one."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000):
        self.max_keys = max_keys
        self._interval = 1.0 / rate
        self._tolerance = burst / rate  # how far ahead of now the full-again time may run
        self._full_at: dict[object, float] = {}
        self.taken: dict[object, int] | None = None  # requests let through since last told (shared buckets only)

    def take(self, key, now: float | None = None) -> float:
        """0 if allowed; otherwise the seconds until a token is available (for Retry-After).
        ``now`` is ``time.monotonic()``, passed by a caller that has read the clock already."""
        if now is None:
            now = time.monotonic()
        full_at = self._full_at.get(key, now)
        if full_at < now:
            full_at = now
        ahead = full_at + self._interval - now
        if ahead > self._tolerance + 1e-9:  # the epsilon absorbs float rounding at exactly `burst`
            return ahead - self._tolerance
        if len(self._full_at) >= self.max_keys and key not in self._full_at:
            self._prune(now)
        self._full_at[key] = full_at + self._interval
        if self.taken is not None:
            self.taken[key] = self.taken.get(key, 0) + 1
        return 0.0

    def absorb(self, key, count: int, now: float | None = None) -> None:
        """Count ``count`` requests another server let through for ``key``."""
        if now is None:
            now = time.monotonic()
        if len(self._full_at) >= self.max_keys and key not in self._full_at:
            self._prune(now)
        self._full_at[key] = max(self._full_at.get(key, now), now) + count * self._interval

    def _prune(self, now: float) -> None:
        # Buckets that have refilled completely carry no state worth keeping.
        for key in [k for k, full_at in self._full_at.items() if full_at <= now]:
            del self._full_at[key]
