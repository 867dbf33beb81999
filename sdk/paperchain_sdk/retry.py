"""The one retry policy: how many attempts, how long to wait between them, and which failures
are worth another try. The engine retries workflow steps with it (a step's ``retry`` table);
the notify outbox retries deliveries with it; a plugin that retries anything uses it too.

The wait after failed attempt ``n`` (1-based) is ``backoff * factor ** (n - 1)`` seconds, capped
at ``max_delay``, then with jitter drawn from half to all of it, so that many failures at once
do not all come back at once.
"""

from __future__ import annotations

import random as _random
from typing import Any

import attrs

from .errors import ConfigError, PaperchainError


@attrs.frozen
class RetryPolicy:
    attempts: int = 1  # tries in all, the first included
    backoff: float = 1.0  # seconds before the second attempt
    factor: float = 2.0  # each wait is this many times the one before
    max_delay: float = 60.0  # no wait is longer
    jitter: bool = True  # wait a random half to all of the delay

    def delay(self, attempt: int, random: Any = _random) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): exponential, capped, with jitter.
        ``random`` is anything with ``uniform`` (the engine passes a seeded one)."""
        base = min(self.max_delay, self.backoff * self.factor ** (attempt - 1))
        return base * random.uniform(0.5, 1.0) if self.jitter else base

    def should_retry(self, attempt: int, exc: BaseException) -> bool:
        """Whether failed ``attempt`` (1-based) earns another: attempts are left and the failure
        is one a retry may fix (:func:`retryable`)."""
        return attempt < self.attempts and retryable(exc)

    def check(self, where: str) -> RetryPolicy:
        """Itself, or a ConfigError naming ``where`` when the numbers cannot make a policy."""
        if self.attempts < 1 or self.backoff < 0 or self.factor < 1 or self.max_delay < 0:
            raise ConfigError(f"{where}: attempts must be >= 1, backoff >= 0, factor >= 1 and max_delay >= 0.",
                              hint='e.g. retry = {attempts = 3, backoff = 2}')
        return self


def retryable(exc: BaseException) -> bool:
    """Whether another attempt may succeed: a PaperchainError says so itself (``retryable``: a
    ConfigError or InputError never is); a timeout or any other, unexpected error may be passing."""
    if isinstance(exc, PaperchainError):
        return bool(exc.retryable)
    return True
