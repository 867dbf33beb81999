"""``webhook``: ``POST /hooks/<workflow>`` starts a run with the JSON body as its inputs.

Requests are signed: ``X-Paperchain-Timestamp`` (Unix seconds) and ``X-Paperchain-Signature:
sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>." + body`` under the workflow's secret. A
request older than ``max_age`` (default 5 minutes) or carrying a signature seen within that
window (a replay; remembered in the database) is refused.
"""

from __future__ import annotations

import os

from paperchain_sdk import ConfigError
from paperchain_sdk.signatures import check_signature

from .base import HostedTrigger, parse_duration, triggers_state
from .state import store_for


def active_webhook(kernel, workflow: str) -> WebhookTrigger | None:
    """The started webhook trigger serving ``workflow`` on ``kernel``; the route looks it up here."""
    return triggers_state(kernel)["webhooks"].get(workflow)


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
        triggers_state(kernel)["webhooks"][self.workflow] = self

    async def stop(self) -> None:
        if self.kernel is not None and active_webhook(self.kernel, self.workflow) is self:
            del triggers_state(self.kernel)["webhooks"][self.workflow]
        await super().stop()

    def verify(self, timestamp: str, signature: str, body: bytes, now: float) -> str | None:
        """None if the request is authentic and fresh, else why not."""
        return check_signature(self.secret, timestamp, signature, body, now=now, max_age=self.max_age)
