"""Account security: login throttling, address blocks, the password policy and second factors.

``Security`` holds the parts for one API process (``Accounts.security``); docs/security.md
describes the behaviour and the ``[security]`` settings.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time

import attrs

from .ipblock import AddressGuard
from .passwords import check_password
from .throttle import LoginThrottle
from .totp import SecondFactors

log = logging.getLogger("paperchain.security")

# The request being guarded, so that a credential refused deep in Accounts can be counted
# against its address (and audited) without passing the request down.
_REQUEST: contextvars.ContextVar = contextvars.ContextVar("paperchain.security.request", default=None)


def recovery_hasher():
    """argon2id at OWASP's minimum (19 MiB, 2 passes, ~25 ms): recovery codes are random (60 bits),
    so their hash need not stretch a weak secret, only keep a copied database from using them."""
    import argon2

    return argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class Security:
    def __init__(self, kernel):
        from ...config import SecuritySettings

        self.k = kernel
        settings = getattr(getattr(kernel, "config", None), "security", None) or SecuritySettings()
        self.clock = time.time  # epoch seconds; tests replace it to move time on
        self.throttle = LoginThrottle(kernel, settings)
        self.addresses = AddressGuard(kernel, settings)
        self.mfa = SecondFactors(kernel, settings, recovery_hasher())
        self.settings = settings
        self._tasks: set[asyncio.Task] = set()

    def configure(self, **changes) -> None:
        """Change settings at run time (tests, and a future settings route)."""
        self.settings = attrs.evolve(self.settings, **changes)
        self.throttle.settings = self.mfa.settings = self.settings
        self.addresses.configure(self.settings)

    async def load(self) -> None:
        now = self.clock()
        await self.throttle.load(now)
        await self.addresses.load(now)
        await self.mfa.load()

    def check_password(self, password, username: str = "") -> None:
        check_password(password, username=username, min_length=self.settings.password_min_length,
                       max_length=self.settings.password_max_length)

    # -- called by the guard on every request ---------------------------------------------------

    def check_address(self, request) -> None:
        """Raise a 403 ApiError when the request's address is denied or blocked."""
        _REQUEST.set(request)
        refusal = self.addresses.refusal(request.remote, self.clock())
        if refusal is not None:
            from ..errors import ApiError

            block = self.addresses.block_of(request.remote, self.clock())
            details, headers = {"address": request.remote}, None
            if block is not None and block.expires:
                wait = max(1, round(block.expires - self.clock()))
                details["retry_after"], headers = wait, {"Retry-After": str(wait)}
            raise ApiError(403, "address_blocked", refusal + "; an admin can lift blocks (DELETE "
                           "/api/v1/security/blocks/{network}, or `paperchain security unblock`)", details, headers)

    def unauthorized(self) -> None:
        """A credential was refused (a 401) for the request being guarded: count it."""
        request = _REQUEST.get()
        if request is None:
            return
        block = self.addresses.unauthorized(request.remote, self.clock())
        if block is not None:
            self.audit_later(request, "security.address_blocked", f"address:{block.network}",
                             {"reason": block.reason, "expires": block.view(self.clock())["expires"]})

    # -- audit ------------------------------------------------------------------------------------

    def audit_later(self, request, action: str, target: str, details: dict) -> None:
        """Record a security event in the app's audit log without holding up the request."""
        task = asyncio.get_running_loop().create_task(self.audit(request, action, target, details))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the security events recorded with ``audit_later`` so far."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @staticmethod
    async def audit(request, action: str, target: str, details: dict, *, actor: str = "paperchain") -> None:
        from ..guard import STATE

        try:
            await request.app[STATE].audit.record(actor=actor, action=action, target=target, ip=request.remote or "",
                                                  outcome="success", status=0, details=details)
        except Exception:  # noqa: BLE001 - a failed audit write is logged; the event stands
            log.exception("security event %s on %s not audited", action, target)
