"""Users, passwords, tokens and API keys.

- Passwords are hashed with argon2id (argon2-cffi) and follow the policy of ``security.passwords``
  (NIST SP 800-63B); there is no default password: the first admin comes from
  `paperchain users create` or PAPERCHAIN_ADMIN_PASSWORD on first start.
- Logins are throttled and lock out, and may need a second factor (``security``): a right
  password then answers with a short-lived MFA ticket to trade, with a code, for tokens.
- Login gives a short-lived JWT (PyJWT, HS256, key kept under the data directory, mode 0600) and a
  refresh token that is rotated on use and stored hashed.
- API keys look like ``pck_<id>_<secret>``; only SHA-256 of the secret is stored (a random
  256-bit secret needs no slow hash), they carry a role no higher than their owner's and scopes,
  can expire and be revoked, and record when they were last used.

Keys and users are cached in memory, so authenticating a request costs no database round trip;
every change goes through this class and updates the cache. Other servers on the same PostgreSQL
database are told of each change (``announce``: a NOTIFY after the commit) and re-read users and
keys (``reload``), so a revoked key or a disabled user is refused everywhere within the message's
delivery time. A
credential that passed is remembered as a ``Grant`` (principal, rate-limit bucket, role rank) until
its token or key expires, for at most a minute (when a key's last-used time is written), or until
any user or key changes: a revocation or demotion applies to the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from datetime import UTC, datetime, timedelta

import attrs
import sqlalchemy as sa

from paperchain_sdk import ConflictError, InputError, NotFoundError, PermissionDenied
from paperchain_sdk.web import ROLE_RANKS, ROLES, Principal

from ..documents import now
from ..store.tables import api_keys, refresh_tokens, users

NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# A tenant's name: no ':', which separates the tenant from the name in workflow refs (<tenant>:<name>).
TENANT = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
SCOPE = re.compile(r"^(\*|[a-z][a-z0-9_-]*(:read|:write)?)$")

# Journal statements are built once (grouped by identity into one executemany per flush).
_TOUCH_KEY = sa.update(api_keys).where(api_keys.c.id == sa.bindparam("key_id")).values(
    last_used=sa.bindparam("used"))
_END_REFRESH = sa.update(refresh_tokens).where(refresh_tokens.c.id == sa.bindparam("row_id")).values(
    revoked=sa.bindparam("at"))


class AuthError(Exception):
    """Authentication failed: the API answers 401 with this message."""


class LoginThrottled(Exception):
    """Too many failed logins for this account or address: wait ``retry_after`` seconds."""

    def __init__(self, message: str, reason: str, retry_after: float, until: float):
        super().__init__(message)
        self.reason, self.retry_after, self.until = reason, retry_after, until


class SecondFactorRequired(Exception):
    """The password was right; a second factor is needed (``setup``: one must be set up first)."""

    def __init__(self, message: str, ticket: str, setup: bool, expires_in: int):
        super().__init__(message)
        self.ticket, self.setup, self.expires_in = ticket, setup, expires_in


MFA_TICKET_SECONDS = 300


@attrs.define
class KeyRecord:
    id: str
    secret_hash: str
    name: str
    owner: str
    role: str
    scopes: tuple[str, ...]
    created: str
    expires: str | None
    revoked: str | None
    last_used: str | None
    tenant: str = ""


@attrs.frozen
class Grant:
    """What a verified credential may do, worked out once: read on every request."""

    principal: Principal
    bucket: tuple[str, str]  # the rate-limit bucket: (kind, name)
    rank: int  # the principal's role rank (ROLES order)
    every_area: bool  # its scopes include '*'
    until: float  # time.monotonic() after which the credential is checked again


GRANT_SECONDS = 60.0
ACCOUNTS_CHANNEL = "paperchain_accounts"  # another server changed a user or an API key


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _lower_role(a: str, b: str) -> str:
    return ROLES[min(ROLE_RANKS[a], ROLE_RANKS[b])]


class Accounts:
    def __init__(self, kernel, *, token_minutes: int = 15, refresh_days: int = 30):
        import argon2

        self.k = kernel
        self.token_seconds = token_minutes * 60
        self.refresh_days = refresh_days
        self.hasher = argon2.PasswordHasher()
        self.users: dict[str, dict] = {}
        self.keys: dict[str, KeyRecord] = {}
        self._used: dict[str, float] = {}  # key id -> when last_used was last written
        self._principals: dict[str, Principal] = {}  # key id -> its (immutable) principal
        self._checked: dict[str, KeyRecord] = {}  # key strings already verified (revocation is checked on the record)
        self.key_grants: dict[str, Grant] = {}  # X-API-Key value -> its grant
        self.bearer_grants: dict[str, Grant] = {}  # Authorization value -> its grant
        self.secret = self._signing_key()
        from .security import Security

        self.security = Security(kernel)

    def _signing_key(self) -> bytes:
        path = self.k.data_dir / "api" / "jwt.key"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        return path.read_bytes()

    async def load(self) -> None:
        if getattr(self.k, "cluster", None) is not None:  # several servers: one signing key for all (in the database)
            self.secret = await self.k.keyring.deployment_secret("api-token-signing")
        await self._load_accounts()
        await self.security.load()

    async def reload(self) -> None:
        """Re-read users and keys (another server changed one) and forget every remembered credential."""
        await self._load_accounts(fresh=True)
        await self.security.mfa.load()
        self._checked.clear()
        self._principals.clear()
        self.forget_grants()

    def _announce(self) -> None:
        from ..cluster import announce

        announce(self.k, ACCOUNTS_CHANNEL)

    async def _load_accounts(self, *, fresh: bool = False) -> None:
        found_users: dict[str, dict] = {} if fresh else self.users
        found_keys: dict[str, KeyRecord] = {} if fresh else self.keys
        for row in await self.k.sql.read(sa.select(users.c.name, users.c.password_hash, users.c.role,
                                                   users.c.tenant, users.c.created, users.c.disabled)):
            found_users[row.name] = {"name": row.name, "password_hash": row.password_hash, "role": row.role,
                                    "tenant": row.tenant or "", "created": row.created, "disabled": bool(row.disabled)}
        for row in await self.k.sql.read(sa.select(
                api_keys.c.id, api_keys.c.secret_hash, api_keys.c.name, api_keys.c.owner, api_keys.c.role,
                api_keys.c.scopes, api_keys.c.created, api_keys.c.expires, api_keys.c.revoked, api_keys.c.last_used)):
            record = KeyRecord(id=row.id, secret_hash=row.secret_hash, name=row.name, owner=row.owner, role=row.role,
                               scopes=tuple(json.loads(row.scopes or "[]")), created=row.created,
                               expires=row.expires, revoked=row.revoked, last_used=row.last_used)
            record.tenant = found_users.get(record.owner, {}).get("tenant", "")
            found_keys[record.id] = record
        self.users, self.keys = found_users, found_keys

    # -- users ----------------------------------------------------------------------------------

    def _check_password(self, password: str, name: str) -> None:
        self.security.check_password(password, name)

    async def create_user(self, name: str, password: str, role: str = "viewer", tenant: str = "",
                          by: Principal | None = None) -> dict:
        """A new user; ``by``, the admin creating it: a tenant's admin creates users only in its own
        tenant (the default), so no one it makes reaches past it."""
        if not NAME.match(name or ""):
            raise InputError(f"{name!r} is not a valid user name.", hint="use 1-64 letters, digits, '_', '.', '@' or '-'")
        if role not in ROLES:
            raise InputError(f"{role!r} is not a role.", hint=f"roles: {', '.join(ROLES)}")
        tenant = self._tenant_for_new_user(tenant or "", by)
        self._check_password(password, name)
        if name in self.users:
            raise ConflictError(f"the user {name!r} exists.", hint="choose another name")
        user = {"name": name, "password_hash": self.hasher.hash(password), "role": role, "tenant": tenant or "",
                "created": now(), "disabled": False}
        await self.k.journal.upsert("users", {**user, "disabled": 0, "tenant": tenant or None})
        self.users[name] = user
        self._announce()
        return self.public(user)

    @staticmethod
    def _tenant_for_new_user(tenant: str, by: Principal | None) -> str:
        if by is not None and by.tenant:
            if tenant and tenant != by.tenant:
                raise PermissionDenied(f"an admin of the tenant {by.tenant!r} creates users only in {by.tenant!r}, "
                                       f"not in {tenant!r}.", hint="leave 'tenant' out, or ask an admin of the deployment")
            tenant = by.tenant
        if tenant and not TENANT.match(tenant):
            raise InputError(f"{tenant!r} is not a valid tenant name: no ':' (it separates a tenant from a workflow's "
                             "name in refs like <tenant>:<name>), spaces or other signs.",
                             hint="use 1-64 letters, digits, '_', '.', '@' or '-'")
        return tenant

    @staticmethod
    def manages(by: Principal, tenant: str) -> bool:
        """Whether admin ``by`` manages the accounts of ``tenant``: the deployment's operator (no
        tenant) every tenant's, a tenant's admin only its own."""
        return not by.tenant or tenant == by.tenant

    async def update_user(self, name: str, *, role: str | None = None, disabled: bool | None = None,
                          password: str | None = None, by: Principal | None = None) -> dict:
        user = self.user(name, by)
        if role is not None and role not in ROLES:
            raise InputError(f"{role!r} is not a role.", hint=f"roles: {', '.join(ROLES)}")
        if password is not None:  # checked before anything changes: a refused patch changes nothing
            self._check_password(password, name)
            user["password_hash"] = self.hasher.hash(password)
        if role is not None:
            user["role"] = role
        if disabled is not None:
            user["disabled"] = bool(disabled)
        self.forget_grants()
        await self.k.journal.upsert("users", {**user, "disabled": int(user["disabled"]), "tenant": user["tenant"] or None})
        self._announce()
        return self.public(user)

    def user(self, name: str, by: Principal | None = None) -> dict:
        """The user ``name``; one that admin ``by`` does not manage is absent (the same 404: no oracle)."""
        user = self.users.get(name)
        if user is None or by is not None and not self.manages(by, user["tenant"]):
            raise NotFoundError(f"there is no user {name!r}.", hint="GET /api/v1/users lists them")
        return user

    @staticmethod
    def public(user: dict) -> dict:
        return {k: user[k] for k in ("name", "role", "tenant", "created", "disabled")}

    async def ensure_admin_from_env(self, env=os.environ) -> str | None:
        """Create the first admin from PAPERCHAIN_ADMIN_PASSWORD when there are no users yet."""
        if self.users or not env.get("PAPERCHAIN_ADMIN_PASSWORD"):
            return None
        name = env.get("PAPERCHAIN_ADMIN_USER", "admin")
        await self.create_user(name, env["PAPERCHAIN_ADMIN_PASSWORD"], "admin")
        await self.k.journal.flush()
        return name

    # -- tokens ---------------------------------------------------------------------------------

    async def login(self, name: str, password: str, request=None) -> dict:
        """Tokens for a right password, after the throttle's checks; raises AuthError,
        LoginThrottled or SecondFactorRequired. ``request`` gives the address and the audit log."""
        import argon2

        keys = await self._throttle_keys(name, request)
        user = self.users.get(name)
        try:
            if user is None:
                self.hasher.hash(password or "x")  # the same work either way: no user-name oracle by timing
                raise AuthError("wrong user name or password")
            self.hasher.verify(user["password_hash"], password or "")
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError, AuthError):
            await self._failed(keys, request)
            raise AuthError("wrong user name or password") from None
        if user["disabled"]:
            raise AuthError(f"the user {name!r} is disabled")
        mfa = self.security.mfa
        if mfa.enrolled(name):
            raise SecondFactorRequired("the password is right; a second factor is needed: POST the code from your "
                                       "authenticator app (or a recovery code) with this ticket to /api/v1/auth/mfa",
                                       self._ticket(name, "verify"), False, MFA_TICKET_SECONDS)
        if mfa.required(user):
            raise SecondFactorRequired(f"the role {user['role']} must use a second factor and {name!r} has none yet: "
                                       "POST this ticket to /api/v1/auth/mfa/setup, add the secret to an authenticator "
                                       "app, then POST a code with the ticket to /api/v1/auth/mfa/confirm",
                                       self._ticket(name, "setup"), True, MFA_TICKET_SECONDS)
        self.security.throttle.succeeded(f"user:{name}")
        return await self._tokens(user)

    async def second_factor(self, ticket: str, code: str, request=None) -> dict:
        """Tokens for a login ticket and a right TOTP or recovery code."""
        name = self.read_ticket(ticket, "verify")
        keys = await self._throttle_keys(name, request)
        used = await self.security.mfa.check(name, code, self.security.clock())
        if used is None:
            await self._failed(keys, request)
            raise AuthError("the code is wrong, expired or was used already; enter the current code from your "
                            "authenticator app, or a recovery code")
        self.security.throttle.succeeded(f"user:{name}")
        tokens = await self._tokens(self.users[name])
        if used == "recovery":
            left = len(self.security.mfa.enrolments[name].recovery)
            tokens["recovery_codes_left"] = left
        return tokens

    async def finish_setup(self, name: str, code: str, request=None, *, ticket: bool = False) -> dict:
        """Confirm a second factor with its first code: recovery codes (and tokens, when the setup
        was part of a login)."""
        keys = await self._throttle_keys(name, request)
        codes = await self.security.mfa.confirm(name, code, self.security.clock())
        if codes is None:
            await self._failed(keys, request)
            raise AuthError("the code is wrong or expired; enter the current code from your authenticator app "
                            "(check that the device's clock is right)")
        result = {"recovery_codes": codes}
        if ticket:
            self.security.throttle.succeeded(f"user:{name}")
            result.update(await self._tokens(self.users[name]))
        return result

    async def check_own_password(self, name: str, password: str, request=None) -> None:
        """Raise AuthError unless ``password`` is ``name``'s (counted like a failed login)."""
        import argon2

        keys = await self._throttle_keys(name, request)
        try:
            self.hasher.verify(self.users[name]["password_hash"], password or "")
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            await self._failed(keys, request)
            raise AuthError("the current password is wrong") from None

    async def check_own_code(self, name: str, code: str, request=None) -> str:
        """Raise AuthError unless ``code`` is a valid second factor of ``name`` (counted like a
        failed login); 'totp' or 'recovery' (a recovery code is used up)."""
        keys = await self._throttle_keys(name, request)
        used = await self.security.mfa.check(name, code, self.security.clock())
        if used is None:
            await self._failed(keys, request)
            raise AuthError("the code is wrong, expired or was used already")
        return used

    async def _throttle_keys(self, name: str, request) -> list[str]:
        """The throttle counters of a login attempt; raises LoginThrottled while one must wait."""
        security = self.security
        address = request.remote if request is not None else None
        keys = [f"user:{name}"]
        if address and not security.addresses.exempt(address):
            keys.append(f"ip:{address}")
        now = security.clock()
        for key in keys:
            await security.throttle.refresh(key)
            refusal = security.throttle.refusal(key, now)
            if refusal is not None:
                when = datetime.fromtimestamp(refusal.until, UTC).isoformat(timespec="seconds")
                who = "this address" if key.startswith("ip:") else "this account"
                wait = max(1, round(refusal.retry_after))
                if refusal.reason == "locked":
                    message = (f"too many failed logins for {who}: it is locked until {when} (in {wait} s); "
                               "try again then, or ask an admin to unlock it")
                else:
                    message = f"too many failed logins for {who}: wait {wait} s (until {when}) before trying again"
                raise LoginThrottled(message, refusal.reason, refusal.retry_after, refusal.until)
        return keys

    async def _failed(self, keys: list[str], request) -> None:
        security = self.security
        now = security.clock()
        for key in keys:
            if not await security.throttle.failed(key, now) or request is None:
                continue
            kind, _, name = key.partition(":")
            if kind == "ip":
                block = security.addresses.add(name, minutes=security.settings.block_minutes, by="automatic",
                                               now=now, reason=f"{security.settings.ip_max_failures} failed logins "
                                               f"within {security.settings.window_minutes:g} minutes")
                security.audit_later(request, "security.address_blocked", f"address:{block.network}",
                                     {"reason": block.reason, "expires": block.view(now)["expires"]})
            else:
                security.audit_later(request, "security.account_locked", f"user:{name}",
                                     {"failures": security.settings.max_failures,
                                      "minutes": security.settings.lockout_minutes})

    def _ticket(self, name: str, purpose: str) -> str:
        import jwt

        issued = int(time.time())
        return jwt.encode({"sub": name, "typ": "mfa", "purpose": purpose, "iat": issued,
                           "exp": issued + MFA_TICKET_SECONDS}, self.secret, algorithm="HS256")

    def read_ticket(self, ticket: str, purpose: str) -> str:
        """The user name of a valid MFA ticket for ``purpose`` ('verify' or 'setup')."""
        import jwt

        try:
            claims = jwt.decode(ticket or "", self.secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise AuthError("the MFA ticket has expired; log in again") from None
        except jwt.InvalidTokenError:
            raise AuthError("the MFA ticket is not valid; log in again to get one") from None
        user = self.users.get(claims["sub"])
        if claims.get("typ") != "mfa" or claims.get("purpose") != purpose:
            raise AuthError(f"this is not an MFA ticket for {'setting up a second factor' if purpose == 'setup' else 'a login'}")
        if user is None or user["disabled"]:
            raise AuthError("the MFA ticket's user is gone or disabled")
        return user["name"]

    async def _tokens(self, user: dict) -> dict:
        import jwt

        issued = int(time.time())
        access = jwt.encode({"sub": user["name"], "role": user["role"], "tenant": user["tenant"], "iat": issued,
                             "exp": issued + self.token_seconds, "typ": "access"}, self.secret, algorithm="HS256")
        refresh_id, refresh_secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + timedelta(days=self.refresh_days)
        await self.k.journal.upsert("refresh_tokens", {
            "id": f"{refresh_id}:{_hash(refresh_secret)}", "owner": user["name"], "created": now(),
            "expires": expires.isoformat(), "revoked": None,
        })
        return {"access_token": access, "token_type": "Bearer", "expires_in": self.token_seconds,
                "refresh_token": f"pcr_{refresh_id}_{refresh_secret}"}

    async def refresh(self, token: str) -> dict:
        row_id = self._refresh_row_id(token)
        row = await self.k.sql.first(sa.select(refresh_tokens.c.owner, refresh_tokens.c.expires,
                                               refresh_tokens.c.revoked).where(refresh_tokens.c.id == row_id))
        if row is None or row.revoked or row.expires < datetime.now(UTC).isoformat():
            raise AuthError("the refresh token is unknown, expired or already used; log in again")
        # Used once: of two refreshes racing with one token, only the one that revokes it goes on.
        used = await self.k.sql.write(sa.update(refresh_tokens).where(
            refresh_tokens.c.id == row_id, refresh_tokens.c.revoked.is_(None)).values(revoked=now()))
        if used.rowcount != 1:
            raise AuthError("the refresh token is unknown, expired or already used; log in again")
        user = self.users.get(row.owner)
        if user is None or user["disabled"]:
            raise AuthError("the user of this refresh token is gone or disabled")
        if self.security.mfa.required(user) and not self.security.mfa.enrolled(user["name"]):
            raise AuthError(f"the role {user['role']} now needs a second factor; log in again to set one up")
        return await self._tokens(user)

    async def logout(self, token: str) -> None:
        await self.k.journal.execute(_END_REFRESH, {"row_id": self._refresh_row_id(token), "at": now()})

    @staticmethod
    def _refresh_row_id(token: str) -> str:
        parts = (token or "").split("_")
        if len(parts) < 3 or parts[0] != "pcr":
            raise AuthError("that is not a refresh token (they start with 'pcr_')")
        return f"{parts[1]}:{_hash('_'.join(parts[2:]))}"

    # -- API keys -------------------------------------------------------------------------------

    async def create_key(self, owner: Principal, name: str, role: str | None, scopes: list[str],
                         expires_days: int | None) -> tuple[KeyRecord, str]:
        role = role or owner.role
        if role not in ROLES:
            raise InputError(f"{role!r} is not a role.", hint=f"roles: {', '.join(ROLES)}")
        if not owner.allows(role):
            raise PermissionDenied(f"a {owner.role} cannot create a key with the role {role!r}.",
                                   hint="ask for a role no higher than your own")
        scopes = list(scopes or ["*"])
        bad = [s for s in scopes if not isinstance(s, str) or not SCOPE.match(s)]
        if bad:
            raise InputError(f"invalid scope(s) {bad}.", hint="write '*', '<area>' or '<area>:read', e.g. 'documents:read'")
        if expires_days is not None and not 0 < expires_days <= 3650:
            raise InputError("expires_days must be between 1 and 3650.", hint="leave it out for a key that does not expire")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        expires = (datetime.now(UTC) + timedelta(days=expires_days)).isoformat() if expires_days else None
        record = KeyRecord(id=key_id, secret_hash=_hash(secret), name=name or key_id, owner=owner.name, role=role,
                           scopes=tuple(scopes), created=now(), expires=expires, revoked=None, last_used=None,
                           tenant=owner.tenant)
        await self.k.journal.upsert("api_keys", self._key_row(record))
        self.keys[key_id] = record
        self._announce()
        return record, f"pck_{key_id}_{secret}"

    @staticmethod
    def _key_row(record: KeyRecord) -> dict:
        row = attrs.asdict(record)
        row.pop("tenant")
        row["scopes"] = json.dumps(list(record.scopes))
        return row

    async def revoke_key(self, key_id: str, by: Principal) -> KeyRecord:
        record = self.keys.get(key_id)
        if record is None or not self.may_see_key(by, record):
            raise NotFoundError(f"there is no key {key_id!r} of yours.", hint="GET /api/v1/keys lists them")
        if record.revoked is None:
            record.revoked = now()
            self.forget_grants()
            await self.k.journal.upsert("api_keys", self._key_row(record))
            self._announce()
        return record

    def may_see_key(self, by: Principal, record: KeyRecord) -> bool:
        """A key is its owner's, and its tenant's admins' (the operator's: every key)."""
        return record.owner == by.name or by.allows("admin") and self.manages(by, record.tenant)

    @staticmethod
    def key_view(record: KeyRecord) -> dict:
        return {"id": record.id, "name": record.name, "owner": record.owner, "role": record.role,
                "scopes": list(record.scopes), "created": record.created, "expires": record.expires,
                "revoked": record.revoked, "last_used": record.last_used}

    # -- authentication -------------------------------------------------------------------------

    def forget_grants(self) -> None:
        """Drop every remembered credential: the next request of each is checked in full."""
        self.key_grants.clear()
        self.bearer_grants.clear()

    def grant(self, header: str | None, api_key: str | None, clock: float) -> Grant:
        """``authenticate``, remembered: what a request with these headers may do at ``clock``
        (``time.monotonic()``)."""
        grants, credential = (self.key_grants, api_key) if api_key is not None else (self.bearer_grants, header)
        grant = grants.get(credential)
        if grant is not None and grant.until > clock:
            return grant
        try:
            who, expires = self._verify(header, api_key)
        except AuthError:
            self.security.unauthorized()  # counted against the address; enough of them block it
            raise
        until = clock + GRANT_SECONDS if expires is None else min(clock + GRANT_SECONDS, clock + expires - time.time())
        grant = Grant(principal=who, bucket=(who.kind, who.name), rank=ROLE_RANKS[who.role], every_area="*" in who.scopes,
                      until=until)
        if len(grants) >= 10_000:
            grants.clear()
        grants[credential] = grant
        return grant

    def authenticate(self, header: str | None, api_key: str | None) -> Principal:
        """The principal behind an Authorization header (Bearer JWT or key) or X-API-Key."""
        return self._verify(header, api_key)[0]

    def _verify(self, header: str | None, api_key: str | None) -> tuple[Principal, float | None]:
        """The principal, and when its credential expires (epoch seconds; None: no expiry)."""
        token = api_key
        if token is None and header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value:
                raise AuthError("the Authorization header must be 'Bearer <token or API key>'")
            token = value.strip()
        if not token:
            raise AuthError("authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'")
        if token.startswith("pck_"):
            return self._key_principal(token)
        return self._jwt_principal(token)

    def _jwt_principal(self, token: str) -> tuple[Principal, float]:
        import jwt

        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise AuthError("the access token has expired; refresh it at /api/v1/auth/refresh") from None
        except jwt.InvalidTokenError:
            raise AuthError("the access token is invalid") from None
        user = self.users.get(claims["sub"])
        if user is None or user["disabled"] or claims.get("typ") != "access":
            raise AuthError("the access token's user is gone or disabled")
        # The role is read now, not from the token, so a demotion applies at once.
        return (Principal(name=user["name"], role=user["role"], kind="user", scopes=("*",), tenant=user["tenant"]),
                float(claims["exp"]))

    def _key_principal(self, token: str) -> tuple[Principal, float | None]:
        record = self._checked.get(token)  # a key whose secret was verified already
        if record is None:
            parts = token.split("_", 2)
            record = self.keys.get(parts[1]) if len(parts) == 3 else None
            if record is None or not hmac.compare_digest(record.secret_hash, _hash(parts[2])):
                raise AuthError("the API key is not valid")
            if len(self._checked) > 10_000:
                self._checked.clear()
            self._checked[token] = record
        if record.revoked:
            raise AuthError("the API key was revoked")
        expires = datetime.fromisoformat(record.expires).timestamp() if record.expires else None
        if expires is not None and expires <= time.time():
            raise AuthError("the API key has expired")
        owner = self.users.get(record.owner)
        if owner is None or owner["disabled"]:
            raise AuthError("the API key's owner is gone or disabled")
        clock = time.monotonic()
        if clock - self._used.get(record.id, -1e9) > 60:  # last_used is kept to the minute: one write a minute
            self._used[record.id] = clock
            record.last_used = now()
            self.k.journal.execute(_TOUCH_KEY, {"key_id": record.id, "used": record.last_used})
        role = _lower_role(record.role, owner["role"])
        cached = self._principals.get(record.id)
        if cached is None or cached.role != role or cached.tenant != owner["tenant"]:
            cached = self._principals[record.id] = Principal(name=record.owner, role=role, kind="key",
                                                             scopes=record.scopes, tenant=owner["tenant"])
        return cached, expires


def scope_allows(scopes: tuple[str, ...], area: str, write: bool) -> bool:
    """Whether key scopes cover a request to an API area ('documents', 'runs', 'ledger' …)."""
    for scope in scopes:
        if scope == "*" or scope == area or scope == f"{area}:write" or (not write and scope == f"{area}:read"):
            return True
    return False
