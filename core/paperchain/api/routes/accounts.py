"""Login, tokens, users and API keys."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from paperchain_sdk import ConflictError
from paperchain_sdk.web import endpoint, read_json

from ..accounts import AuthError, LoginThrottled, SecondFactorRequired
from ..errors import ApiError
from ..guard import AUDIT_ACTOR
from ..schemas import (
    AuditOut,
    AuditQuery,
    KeyCreated,
    KeyIn,
    KeyOut,
    Login,
    Me,
    Refresh,
    Tokens,
    UserIn,
    UserOut,
    UserPatch,
)
from .common import audit_target, query, reply, state, who

routes = web.RouteTableDef()


@routes.post("/api/v1/auth/login")
@endpoint(summary="Log in with a user name and password; get an access and a refresh token", public=True,
          request=Login, response=Tokens, tags=("auth",))
async def login(request):
    body = await read_json(request, Login)
    request[AUDIT_ACTOR] = body.username
    return await login_reply(request, state(request).accounts.login(body.username, body.password, request))


async def login_reply(request, attempt) -> web.Response:
    """Tokens, or the answer that says why not: 401 (wrong, or a second factor is needed with its
    ticket) or 429 (throttled: Retry-After says when to try again)."""
    try:
        return reply(await attempt)
    except AuthError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
    except SecondFactorRequired as exc:
        code = "mfa_setup_required" if exc.setup else "mfa_required"
        raise ApiError(401, code, str(exc), {"mfa_ticket": exc.ticket, "expires_in": exc.expires_in,
                                             "methods": ["totp"] if exc.setup else ["totp", "recovery_code"]}) from None
    except LoginThrottled as exc:
        wait = max(1, round(exc.retry_after))
        when = datetime.fromtimestamp(exc.until, UTC).isoformat(timespec="seconds")
        raise ApiError(429, "login_locked" if exc.reason == "locked" else "login_delayed", str(exc),
                       {"retry_after": wait, "retry_at": when}, headers={"Retry-After": str(wait)}) from None


@routes.post("/api/v1/auth/refresh")
@endpoint(summary="Trade a refresh token for new tokens (the old one stops working)", public=True,
          request=Refresh, response=Tokens, tags=("auth",))
async def refresh(request):
    body = await read_json(request, Refresh)
    try:
        return reply(await state(request).accounts.refresh(body.refresh_token))
    except AuthError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None


@routes.post("/api/v1/auth/logout")
@endpoint(summary="Revoke a refresh token", role="viewer", request=Refresh, status=204, tags=("auth",))
async def logout(request):
    body = await read_json(request, Refresh)
    try:
        await state(request).accounts.logout(body.refresh_token)
    except AuthError as exc:
        raise ApiError(400, "invalid_input", str(exc)) from None
    return web.Response(status=204)


@routes.get("/api/v1/auth/me")
@endpoint(summary="Who the caller is", response=Me, tags=("auth",))
async def me(request):
    p = who(request)
    return reply(Me(name=p.name, role=p.role, kind=p.kind, scopes=list(p.scopes), tenant=p.tenant))


# -- users (admins) --------------------------------------------------------------------------------


@routes.get("/api/v1/users")
@endpoint(summary="List users (a tenant's admin: its tenant's)", role="admin", response=UserOut, many=True, tags=("users",))
async def list_users(request):
    accounts, caller = state(request).accounts, who(request)
    users = [u for u in accounts.users.values() if accounts.manages(caller, u["tenant"])]
    return reply({"items": [accounts.public(u) for u in sorted(users, key=lambda u: u["name"])], "next": None})


@routes.post("/api/v1/users")
@endpoint(summary="Create a user (a tenant's admin: in its own tenant)", role="admin", request=UserIn, response=UserOut, status=201, tags=("users",))
async def create_user(request):
    body = await read_json(request, UserIn)
    audit_target(request, f"user:{body.name}", role=body.role)
    return reply(await state(request).accounts.create_user(body.name, body.password, body.role, body.tenant,
                                                            by=who(request)), 201)


@routes.patch("/api/v1/users/{name}")
@endpoint(summary="Change a user's role, password or disabled flag", role="admin", request=UserPatch,
          response=UserOut, tags=("users",))
async def update_user(request):
    body = await read_json(request, UserPatch)
    name = request.match_info["name"]
    audit_target(request, f"user:{name}", role=body.role, disabled=body.disabled, password=body.password is not None)
    if name == who(request).name and (body.disabled or (body.role is not None and body.role != "admin")):
        raise ConflictError("you cannot disable or demote yourself: no admin might be left.",
                            hint="ask another admin to do it")
    return reply(await state(request).accounts.update_user(name, role=body.role, disabled=body.disabled,
                                                            password=body.password, by=who(request)))


# -- API keys --------------------------------------------------------------------------------------


@routes.get("/api/v1/keys")
@endpoint(summary="List your API keys (admins: their tenant's; the deployment's admins: everyone's)", response=KeyOut, many=True, tags=("keys",))
async def list_keys(request):
    p, accounts = who(request), state(request).accounts
    keys = [k for k in accounts.keys.values() if accounts.may_see_key(p, k)]
    return reply({"items": [accounts.key_view(k) for k in sorted(keys, key=lambda k: k.created)], "next": None})


@routes.post("/api/v1/keys")
@endpoint(summary="Create an API key; the key is shown once, only its hash is kept", role="viewer",
          request=KeyIn, response=KeyCreated, status=201, tags=("keys",))
async def create_key(request):
    body = await read_json(request, KeyIn)
    if who(request).kind == "key":
        raise ApiError(403, "forbidden", "an API key cannot create keys; log in as a user")
    record, secret = await state(request).accounts.create_key(who(request), body.name, body.role, body.scopes,
                                                              body.expires_days)
    audit_target(request, f"key:{record.id}", role=record.role, scopes=list(record.scopes))
    return reply(KeyCreated(key=secret, id=record.id, name=record.name, role=record.role, scopes=list(record.scopes),
                            expires=record.expires), 201)


@routes.delete("/api/v1/keys/{id}")
@endpoint(summary="Revoke an API key", role="viewer", response=KeyOut, tags=("keys",))
async def revoke_key(request):
    key_id = request.match_info["id"]
    audit_target(request, f"key:{key_id}")
    return reply(state(request).accounts.key_view(await state(request).accounts.revoke_key(key_id, who(request))))


# -- audit (admins) --------------------------------------------------------------------------------


@routes.get("/api/v1/audit")
@endpoint(summary="Query the audit log (read-only: entries are never changed or deleted; a tenant's admin: its "
                  "tenant's)", role="admin",
          query=AuditQuery, response=AuditOut, many=True, tags=("audit",))
async def audit_log(request):
    q = query(request, AuditQuery)
    # A tenant's admin reads its tenant's entries; the deployment's (no tenant) every entry,
    # the refusal counts included (they have no principal, so no tenant).
    tenant = who(request).tenant or None
    rows = await state(request).audit.query(actor=q.actor, action=q.action, outcome=q.outcome, since=q.since,
                                            after=q.after, limit=q.limit, tenant=tenant)
    return reply({"items": rows, "next": str(rows[-1]["id"]) if len(rows) == q.limit else None})


# Login throttling, address blocks and second factors add their routes to this table.
from . import account_security  # noqa: E402,F401
