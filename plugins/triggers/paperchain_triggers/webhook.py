"""``webhook``: ``POST /hooks/<workflow>`` starts a run with the JSON body as its inputs.

Requests are signed: ``X-Paperchain-Timestamp`` (Unix seconds) and ``X-Paperchain-Signature:
sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>." + body`` under the workflow's secret. A
request older than ``max_age`` (default 5 minutes) or carrying a signature seen within that
window (a replay; remembered in the database) is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from paperchain_sdk import ConfigError

from .base import HostedTrigger, parse_duration
from .state import store_for

SIGNATURE_HEADER = "X-Paperchain-Signature"
TIMESTAMP_HEADER = "X-Paperchain-Timestamp"

# (database, workflow) -> the started trigger serving it; the route looks the workflow up here.
ACTIVE: dict[tuple[str, str], WebhookTrigger] = {}


def sign(secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """The signature header value a sender puts on a request."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class WebhookTrigger(HostedTrigger):
    name = "webhook"

    async def begin(self) -> None:
        s = self.settings
        secret = s.secret or (os.environ.get(s.secret_env, "") if s.secret_env else "")
        if not secret:
            missing = f"the environment variable {s.secret_env!r} is empty or unset" if s.secret_env else "no secret is set"
            raise ConfigError(f"{self.where}: {missing}; unsigned webhooks are refused.",
                              hint='set secret = "..." or secret_env = "NAME_OF_VARIABLE" in [on.webhook]')
        self.secret = secret.encode()
        self.max_age = parse_duration(s.max_age, where=f"{self.where}, max_age")
        kernel = self.require_kernel()
        self.store = store_for(kernel)
        ACTIVE[(str(kernel.db_path), self.workflow)] = self

    async def stop(self) -> None:
        if self.kernel is not None and ACTIVE.get((str(self.kernel.db_path), self.workflow)) is self:
            del ACTIVE[(str(self.kernel.db_path), self.workflow)]
        await super().stop()

    def verify(self, timestamp: str, signature: str, body: bytes, now: float) -> str | None:
        """None if the request is authentic and fresh, else why not."""
        try:
            sent = float(timestamp)
        except (TypeError, ValueError):
            return f"missing or malformed {TIMESTAMP_HEADER} header (Unix seconds expected)"
        if abs(now - sent) > self.max_age:
            return f"the request timestamp is outside the {int(self.max_age)}s window (old or clock skew)"
        expected = sign(self.secret, timestamp, body)
        if not signature or not hmac.compare_digest(expected, signature):
            return f"the {SIGNATURE_HEADER} header does not match the body (HMAC-SHA256 of '<timestamp>.<body>')"
        return None
