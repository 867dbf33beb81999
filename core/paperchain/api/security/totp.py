"""Second factors: TOTP (RFC 6238, through pyotp) and one-time recovery codes.

- Enrolment makes a secret and its ``otpauth://`` URI (for an authenticator app's QR code); it
  counts only once confirmed with a first code, which also gives the user 10 recovery codes.
- A code is accepted for the current 30-second step or one step either side (clock drift), and
  only for a step later than the last one accepted: a code seen once is never taken again (the
  step is recorded by a conditional update, so this holds across servers sharing the database).
- Recovery codes are shown once; only an argon2id hash of each is kept (``recovery_hasher``), with
  a short plain prefix so that checking one costs one hash rather than ten. Each works once.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets

import attrs
import sqlalchemy as sa

from paperchain_sdk import ConflictError, NotFoundError

from ...documents import now as iso_now
from ...store.tables import user_mfa

STEP_SECONDS = 30
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to copy by hand
_PREFIX = 4
_REMOVE = sa.delete(user_mfa).where(user_mfa.c.user == sa.bindparam("name"))


@attrs.define
class Enrolment:
    secret: str
    confirmed: str | None  # when the first code confirmed it; None: started, not confirmed
    last_step: int  # the last time step whose code was accepted (replays are refused)
    recovery: list[list[str]]  # [prefix, argon2 hash] of each unused recovery code
    created: str


def _clean(code: str) -> str:
    return "".join(str(code or "").split()).replace("-", "").lower()


class SecondFactors:
    def __init__(self, kernel, settings, hasher):
        self.k = kernel
        self.settings = settings
        self.hasher = hasher
        self.enrolments: dict[str, Enrolment] = {}

    async def load(self) -> None:
        t = user_mfa
        enrolments = {}  # swapped in whole: a re-read (another server changed one) never shows a gap
        for row in await self.k.sql.read(sa.select(t.c.user, t.c.secret, t.c.confirmed, t.c.last_step, t.c.recovery,
                                                   t.c.created)):
            enrolments[row.user] = Enrolment(row.secret, row.confirmed, row.last_step or 0,
                                             json.loads(row.recovery or "[]"), row.created)
        self.enrolments = enrolments

    def enrolled(self, name: str) -> bool:
        enrolment = self.enrolments.get(name)
        return enrolment is not None and enrolment.confirmed is not None

    def required(self, user: dict) -> bool:
        """Whether the user's role must use a second factor ([security] mfa_roles)."""
        return user["role"] in self.settings.mfa_roles

    def status(self, user: dict) -> dict:
        enrolment = self.enrolments.get(user["name"])
        return {"enrolled": self.enrolled(user["name"]), "required": self.required(user),
                "pending": enrolment is not None and enrolment.confirmed is None,
                "recovery_codes_left": len(enrolment.recovery) if enrolment and self.enrolled(user["name"]) else 0}

    def begin(self, name: str) -> dict:
        """Start (or restart) an enrolment: the secret and the URI to give an authenticator app."""
        import pyotp

        if self.enrolled(name):
            raise ConflictError(f"{name!r} already has a second factor.",
                                hint="turn it off first (DELETE /api/v1/auth/mfa with a code), or ask an admin to reset it")
        secret = pyotp.random_base32()
        self.enrolments[name] = enrolment = Enrolment(secret, None, 0, [], iso_now())
        self._save(name, enrolment)
        return self._setup(name, secret)

    def pending(self, name: str) -> dict | None:
        """The setup begun and not yet confirmed (as ``begin`` answered it), or None."""
        enrolment = self.enrolments.get(name)
        if enrolment is None or enrolment.confirmed is not None:
            return None
        return self._setup(name, enrolment.secret)

    def _setup(self, name: str, secret: str) -> dict:
        import pyotp

        uri = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=name, issuer_name=self.settings.mfa_issuer)
        return {"secret": secret, "otpauth_uri": uri, "digits": 6, "period": STEP_SECONDS}

    async def confirm(self, name: str, code: str, now: float) -> list[str] | None:
        """Finish an enrolment with a first code: the recovery codes, or None when the code is wrong."""
        enrolment = self.enrolments.get(name)
        if enrolment is None or enrolment.confirmed is not None:
            raise NotFoundError(f"{name!r} has no second factor being set up.",
                                hint="start with POST /api/v1/auth/mfa/setup")
        if not self._totp(enrolment, code, now):
            return None
        enrolment.confirmed = iso_now()
        return await self.new_recovery_codes(name)

    async def new_recovery_codes(self, name: str) -> list[str]:
        """Replace a user's recovery codes with 10 new ones (returned once, kept hashed)."""
        enrolment = self.enrolments[name]
        codes = ["".join(secrets.choice(_ALPHABET) for _ in range(12)) for _ in range(RECOVERY_CODES)]
        hashes = await asyncio.to_thread(lambda: [self.hasher.hash(code) for code in codes])
        enrolment.recovery = [[code[:_PREFIX], digest] for code, digest in zip(codes, hashes)]
        await self._save(name, enrolment)
        return [f"{c[:4]}-{c[4:8]}-{c[8:]}" for c in codes]

    async def check(self, name: str, code: str, now: float) -> str | None:
        """'totp' or 'recovery' when ``code`` is a valid second factor for ``name`` (a recovery
        code is used up); None when it is not."""
        enrolment = self.enrolments.get(name)
        if enrolment is None or enrolment.confirmed is None:
            return None
        if self._totp(enrolment, code, now):
            return "totp" if await self._take_step(name, enrolment.last_step) else None
        cleaned = _clean(code)
        for entry in list(enrolment.recovery):
            if len(cleaned) == 12 and hmac.compare_digest(entry[0], cleaned[:_PREFIX]):
                enrolment.recovery.remove(entry)  # taken before the slow check: a concurrent use of it fails
                if await asyncio.to_thread(self._matches, entry[1], cleaned):
                    await self._save(name, enrolment)
                    return "recovery"
                enrolment.recovery.append(entry)
        return None

    async def _take_step(self, name: str, step: int) -> bool:
        """Record ``step`` as the last one accepted, unless a later or equal one is recorded already
        (one conditional update: of two servers given one code at once, only one accepts it)."""
        await self.k.journal.flush()
        t = user_mfa
        taken = await self.k.sql.write(sa.update(t).where(
            t.c.user == name, sa.or_(t.c.last_step.is_(None), t.c.last_step < step)).values(last_step=step))
        return taken.rowcount == 1

    def _matches(self, digest: str, code: str) -> bool:
        import argon2

        try:
            return self.hasher.verify(digest, code)
        except argon2.exceptions.VerificationError:
            return False

    def _totp(self, enrolment: Enrolment, code: str, now: float) -> bool:
        import pyotp

        cleaned = _clean(code)
        if len(cleaned) != 6 or not cleaned.isdigit():
            return False
        totp = pyotp.TOTP(enrolment.secret, interval=STEP_SECONDS)
        current = int(now // STEP_SECONDS)
        for step in (current - 1, current, current + 1):
            if step > enrolment.last_step and hmac.compare_digest(totp.generate_otp(step), cleaned):
                enrolment.last_step = step
                return True
        return False

    async def reset(self, name: str) -> bool:
        """Remove a user's second factor (an admin's recovery path); True if there was one."""
        known = self.enrolments.pop(name, None) is not None
        await self.k.journal.flush()
        known = await self.k.sql.first(sa.select(user_mfa.c.user).where(user_mfa.c.user == name)) is not None or known
        await self.k.journal.execute(_REMOVE, {"name": name})
        _announce(self.k)
        return known

    def _save(self, name: str, enrolment: Enrolment):
        row = attrs.asdict(enrolment)
        row["recovery"] = json.dumps(row["recovery"])
        written = self.k.journal.upsert("user_mfa", {"user": name, **row})
        # Other servers re-read enrolments once it is committed (a used code or step is used everywhere).
        from ...cluster import announce_when_committed
        from ..accounts import ACCOUNTS_CHANNEL

        announce_when_committed(self.k, written, ACCOUNTS_CHANNEL)
        return written


def _announce(kernel) -> None:
    from ...cluster import announce
    from ..accounts import ACCOUNTS_CHANNEL

    announce(kernel, ACCOUNTS_CHANNEL)
