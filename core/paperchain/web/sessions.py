"""Server-side login sessions for the web UI.

The cookie holds a random secret; the database keeps only its SHA-256 (``web_sessions``), with the
user, the session's CSRF token, and when it ends: ``ABSOLUTE_HOURS`` after login at the latest,
or after ``IDLE_MINUTES`` without a request, at logout (``revoked``), or when the password changes
(the session keeps a fingerprint of the password hash it was opened with). Sessions are cached in
memory, as accounts are, so a page costs no database round trip; ``last_seen`` is written at most
once a minute. The user's role and tenant are read from the accounts on every request, so a
demotion or a disabled account applies at once. Sessions live in the database, so any server
finds a session another made; a logout is announced to the other servers (``SESSIONS_CHANNEL``),
which drop it from their caches (``forget``).

The cookie is Secure when the browser reached us over TLS: directly, or through a reverse proxy
that terminates TLS and that the deployment trusts (``[api] trusted_proxies``), see ``over_tls``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import time

import attrs
import sqlalchemy as sa

from paperchain_sdk.web import Principal

from ..api.accounts import AuthError
from ..store.tables import web_sessions

COOKIE = "pc_session"
ABSOLUTE_HOURS = 12
IDLE_MINUTES = 120
_TOUCH_SECONDS = 60
SESSIONS_CHANNEL = "paperchain_sessions"  # {"id": ...}: a session ended on another server

# Built once: the journal groups statements by identity into one executemany per flush.
_t = web_sessions
_FIND = sa.select(_t.c.id, _t.c.user, _t.c.csrf, _t.c.created, _t.c.expires, _t.c.last_seen, _t.c.revoked,
                  _t.c.credential).where(_t.c.id == sa.bindparam("session_id"))
_TOUCH = sa.update(_t).where(_t.c.id == sa.bindparam("session_id")).values(last_seen=sa.bindparam("seen"))
_REVOKE = sa.update(_t).where(_t.c.id == sa.bindparam("session_id")).values(revoked=sa.bindparam("at"))


@attrs.define
class Session:
    id: str  # SHA-256 of the cookie's secret
    user: str
    csrf: str
    created: float
    expires: float
    last_seen: float
    revoked: float | None = None
    credential: str | None = None  # fingerprint of the password hash at login: a new password ends the session
    written: float = 0.0  # when last_seen was last written

    def ended(self, clock: float) -> bool:
        return self.revoked is not None or clock >= self.expires or clock >= self.last_seen + IDLE_MINUTES * 60


def _id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def fingerprint(user: dict) -> str:
    return hashlib.sha256(user["password_hash"].encode()).hexdigest()[:32]


class Sessions:
    def __init__(self, kernel, accounts, clock=time.time):
        self.k, self.accounts, self.clock = kernel, accounts, clock
        self.cache: dict[str, Session] = {}

    async def create(self, user: str, ip: str = "") -> tuple[str, Session]:
        """A new session for ``user``: the cookie's value and the record."""
        secret = secrets.token_urlsafe(32)
        now = self.clock()
        credential = fingerprint(self.accounts.users[user])
        session = Session(id=_id(secret), user=user, csrf=secrets.token_urlsafe(32), created=now,
                          expires=now + ABSOLUTE_HOURS * 3600, last_seen=now, credential=credential, written=now)
        await self.k.journal.upsert("web_sessions", {
            "id": session.id, "user": user, "csrf": session.csrf, "created": now, "expires": session.expires,
            "last_seen": now, "revoked": None, "ip": ip, "credential": credential})
        self._remember(session)
        return secret, session

    async def find(self, secret: str | None) -> Session | None:
        """The live session of a cookie value, or None (unknown, expired or revoked)."""
        if not secret or len(secret) > 128:
            return None
        key = _id(secret)
        session = self.cache.get(key)
        if session is None:
            await self.k.journal.flush()
            row = await self.k.sql.first(_FIND, {"session_id": key})
            if row is None:
                return None
            session = Session(**row._mapping, written=row.last_seen)
            self._remember(session)
        now = self.clock()
        if session.ended(now):  # it stays cached, ended, so it is not read again
            return None
        session.last_seen = now
        if now - session.written > _TOUCH_SECONDS:
            session.written = now
            self.k.journal.execute(_TOUCH, {"session_id": key, "seen": now})
        return session

    def principal(self, session: Session) -> Principal:
        """Who the session acts for, with the role and tenant the account has now."""
        user = self.accounts.users.get(session.user)
        if user is None or user["disabled"]:
            raise AuthError(f"the user {session.user!r} is gone or disabled")
        if session.credential != fingerprint(user):
            raise AuthError("the password was changed since this session began; log in again")
        return Principal(name=user["name"], role=user["role"], kind="user", scopes=("*",), tenant=user["tenant"])

    async def revoke(self, session: Session) -> None:
        session.revoked = self.clock()
        self.cache.pop(session.id, None)
        await self.k.journal.execute(_REVOKE, {"session_id": session.id, "at": session.revoked})
        from ..cluster import announce

        announce(self.k, SESSIONS_CHANNEL, {"id": session.id})

    def forget(self, session_id: str) -> None:
        """Drop a cached session (ended elsewhere): the next request reads it again."""
        self.cache.pop(session_id, None)

    def _remember(self, session: Session) -> None:
        if len(self.cache) >= 10_000:
            self.cache.clear()
        self.cache[session.id] = session


async def session_principal(request) -> Principal:
    """Who a WebSocket opened by a page of the web UI acts for: its session cookie, accepted only
    from this server's own origin (a cookie alone would let any site's page connect as the user)."""
    from .guard import WEB, same_origin

    if not same_origin(request):
        raise AuthError("a session cookie is accepted only from this server's own pages (Origin mismatch)")
    sessions = request.app[WEB].sessions
    session = await sessions.find(request.cookies.get(COOKIE))
    if session is None:
        raise AuthError("the session has ended; log in again")
    return sessions.principal(session)


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def networks(entries) -> Networks:
    """The checked ``[api] trusted_proxies`` entries as networks (config.py validated them)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _trusted(remote: str | None, trusted: Networks) -> bool:
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:  # a Unix socket, or no peer
        return False
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return any(address in network for network in trusted)


def over_tls(request, trusted: Networks) -> bool:
    """Whether the browser's connection was TLS. Said by the connection itself, or by the proxy it
    came through when that proxy's address is in ``trusted``: the last ``Forwarded`` element's
    ``proto`` (the one our proxy added), else the last ``X-Forwarded-Proto`` value. From any other
    address these headers are ignored, since a client can send them itself."""
    if request.secure:
        return True
    if not trusted or not _trusted(request.remote, trusted):
        return False
    forwarded = request.forwarded  # parsed by aiohttp; elements it cannot read are left out
    proto = forwarded[-1].get("proto") if forwarded else None
    if proto is None:
        values = ",".join(request.headers.getall("X-Forwarded-Proto", ())).split(",")
        proto = values[-1].strip() or None
    return (proto or "").lower() == "https"
