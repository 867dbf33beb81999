"""Second factors, password changes, lockouts and address blocks (docs/security.md).

These routes join the ``accounts`` route table, which imports this module at its end.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from paperchain_sdk import ConflictError, NotFoundError, PermissionDenied
from paperchain_sdk.web import endpoint, read_json

from ..accounts import AuthError
from ..errors import ApiError
from ..guard import AUDIT_ACTOR
from ..schemas import Tokens
from ..security.schemas import (
    BlockIn,
    BlockOut,
    CodeIn,
    Lockout,
    MfaCode,
    MfaConfirmIn,
    MfaConfirmOut,
    MfaSetupIn,
    MfaSetupOut,
    MfaStatus,
    PasswordChange,
    RecoveryCodes,
)
from .accounts import login_reply, routes
from .common import audit_target, reply, state, who

# -- second factor: logging in ---------------------------------------------------------------------


@routes.post("/api/v1/auth/mfa")
@endpoint(summary="Finish a login with a second factor: the ticket from the mfa_required answer and a code "
                  "(TOTP or a recovery code)", public=True, request=MfaCode, response=Tokens, tags=("auth",))
async def mfa_login(request):
    body = await read_json(request, MfaCode)
    accounts = state(request).accounts
    try:
        request[AUDIT_ACTOR] = accounts.read_ticket(body.ticket, "verify")
    except AuthError as exc:
        raise ApiError(401, "unauthorized", str(exc)) from None
    return await login_reply(request, accounts.second_factor(body.ticket, body.code, request))


def _setup_user(request, ticket: str) -> tuple[str, bool]:
    """Whose second factor a setup call is for: the ticket's user, or the logged-in caller."""
    accounts = state(request).accounts
    try:
        if ticket:
            return accounts.read_ticket(ticket, "setup"), True
        caller = accounts.authenticate(request.headers.get(hdrs.AUTHORIZATION), request.headers.get("X-API-Key"))
    except AuthError as exc:
        raise ApiError(401, "unauthorized", f"{exc} (or send the mfa_ticket of a login)") from None
    if caller.kind != "user":
        raise ApiError(403, "forbidden", "an API key cannot set up a second factor; log in as the user")
    return caller.name, False


@routes.post("/api/v1/auth/mfa/setup")
@endpoint(summary="Start setting up TOTP: a secret and its otpauth:// URI for an authenticator app (logged in, "
                  "or with the ticket of an mfa_setup_required login)", public=True, request=MfaSetupIn,
          response=MfaSetupOut, tags=("auth",))
async def mfa_setup(request):
    body = await read_json(request, MfaSetupIn)
    name, _ = _setup_user(request, body.ticket)
    request[AUDIT_ACTOR] = name
    audit_target(request, f"user:{name}")
    return reply(state(request).accounts.security.mfa.begin(name))


@routes.post("/api/v1/auth/mfa/confirm")
@endpoint(summary="Confirm TOTP with a first code; get 10 recovery codes, shown once (and tokens, with a ticket)",
          public=True, request=MfaConfirmIn, response=MfaConfirmOut, tags=("auth",))
async def mfa_confirm(request):
    body = await read_json(request, MfaConfirmIn)
    name, via_ticket = _setup_user(request, body.ticket)
    request[AUDIT_ACTOR] = name
    audit_target(request, f"user:{name}")
    return await login_reply(request, state(request).accounts.finish_setup(name, body.code, request, ticket=via_ticket))


# -- second factor: the user's own -----------------------------------------------------------------


def _own_name(request) -> str:
    caller = who(request)
    if caller.kind != "user":
        raise ApiError(403, "forbidden", "an API key cannot change its owner's login settings; log in as the user")
    return caller.name


@routes.get("/api/v1/auth/mfa")
@endpoint(summary="Whether the caller has a second factor, must have one, and how many recovery codes are left",
          role="viewer", response=MfaStatus, tags=("auth",))
async def mfa_status(request):
    accounts = state(request).accounts
    return reply(accounts.security.mfa.status(accounts.user(who(request).name)))


@routes.delete("/api/v1/auth/mfa")
@endpoint(summary="Turn off your second factor (send a current code)", role="viewer", request=CodeIn, status=204,
          tags=("auth",))
async def mfa_off(request):
    body = await read_json(request, CodeIn)
    name, accounts = _own_name(request), state(request).accounts
    audit_target(request, f"user:{name}")
    if accounts.security.mfa.required(accounts.user(name)):
        raise ConflictError(f"the role {accounts.user(name)['role']} must use a second factor, so it cannot be "
                            "turned off.", hint="ask an admin to reset it if the device is lost")
    await _own_code(request, name, body.code)
    await accounts.security.mfa.reset(name)
    return web.Response(status=204)


@routes.post("/api/v1/auth/mfa/recovery-codes")
@endpoint(summary="Replace your recovery codes with 10 new ones, shown once (send a current code)", role="viewer",
          request=CodeIn, response=RecoveryCodes, tags=("auth",))
async def mfa_new_codes(request):
    body = await read_json(request, CodeIn)
    name, accounts = _own_name(request), state(request).accounts
    audit_target(request, f"user:{name}")
    if not accounts.security.mfa.enrolled(name):
        raise NotFoundError(f"{name!r} has no second factor.", hint="set one up with POST /api/v1/auth/mfa/setup")
    await _own_code(request, name, body.code)
    return reply({"recovery_codes": await accounts.security.mfa.new_recovery_codes(name)})


async def _own_code(request, name: str, code: str) -> None:
    try:
        await state(request).accounts.check_own_code(name, code, request)
    except AuthError as exc:
        raise ApiError(403, "forbidden", str(exc)) from None


@routes.post("/api/v1/auth/password")
@endpoint(summary="Change your password (the policy: docs/security.md)", role="viewer", request=PasswordChange,
          status=204, tags=("auth",))
async def change_password(request):
    body = await read_json(request, PasswordChange)
    name, accounts = _own_name(request), state(request).accounts
    audit_target(request, f"user:{name}")
    try:
        await accounts.check_own_password(name, body.current_password, request)
    except AuthError as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    await accounts.update_user(name, password=body.new_password)
    return web.Response(status=204)


# -- admins: users' second factors and lockouts ----------------------------------------------------


@routes.delete("/api/v1/users/{name}/mfa")
@endpoint(summary="Reset a user's second factor (a lost device); they set it up again at their next login",
          role="admin", status=204, tags=("users",))
async def reset_mfa(request):
    name = request.match_info["name"]
    audit_target(request, f"user:{name}")
    accounts = state(request).accounts
    accounts.user(name, who(request))
    if not await accounts.security.mfa.reset(name):
        raise NotFoundError(f"{name!r} has no second factor.", hint="GET /api/v1/users lists users")
    return web.Response(status=204)


@routes.post("/api/v1/users/{name}/unlock")
@endpoint(summary="Lift a user's login lockout and forget their failed logins", role="admin", status=204,
          tags=("users",))
async def unlock_user(request):
    name = request.match_info["name"]
    audit_target(request, f"user:{name}")
    accounts = state(request).accounts
    accounts.user(name, who(request))
    await accounts.security.throttle.unlock(f"user:{name}")
    return web.Response(status=204)


@routes.get("/api/v1/security/lockouts")
@endpoint(summary="Accounts and addresses that are locked out or must wait after failed logins (a tenant's admin: "
                  "its tenant's accounts)", role="admin",
          response=Lockout, many=True, tags=("security",))
async def lockouts(request):
    caller, accounts = who(request), state(request).accounts
    items = accounts.security.throttle.locked(accounts.security.clock())
    if caller.tenant:  # a tenant's admin: its own users' lockouts (addresses are the deployment's)
        items = [i for i in items if i["kind"] == "user" and i["name"] in accounts.users
                 and accounts.manages(caller, accounts.users[i["name"]]["tenant"])]
    return reply({"items": items, "next": None})


# -- admins: address blocks ------------------------------------------------------------------------


def _operator(request) -> None:
    """A block acts on every tenant's callers, and lists their addresses: the deployment's admins' alone."""
    if who(request).tenant:
        raise PermissionDenied("address blocks act on the whole deployment, so only its admins (users without a "
                               "tenant) list and change them.", hint="ask an admin of the deployment")


@routes.get("/api/v1/security/blocks")
@endpoint(summary="Blocked addresses and networks (automatic and by admins; the deployment's admins only)",
          role="admin", response=BlockOut,
          many=True, tags=("security",))
async def list_blocks(request):
    _operator(request)
    security = state(request).accounts.security
    return reply({"items": security.addresses.listing(security.clock()), "next": None})


@routes.post("/api/v1/security/blocks")
@endpoint(summary="Block an address or CIDR network (for some minutes, or until lifted; the deployment's admins "
                  "only)", role="admin",
          request=BlockIn, response=BlockOut, status=201, tags=("security",))
async def add_block(request):
    _operator(request)
    body = await read_json(request, BlockIn)
    audit_target(request, f"address:{body.network}", minutes=body.minutes, reason=body.reason)
    security = state(request).accounts.security
    now = security.clock()
    block = security.addresses.add(body.network, minutes=body.minutes, reason=body.reason, by=who(request).name,
                                   now=now)
    return reply(block.view(now), 201)


@routes.delete("/api/v1/security/blocks/{network:.+}")
@endpoint(summary="Lift the block on an address or network (write a CIDR's '/' as %2F or as is; the deployment's "
                  "admins only)", role="admin",
          response=BlockOut, tags=("security",))
async def remove_block(request):
    _operator(request)
    network = request.match_info["network"]
    audit_target(request, f"address:{network}")
    security = state(request).accounts.security
    block = await security.addresses.remove(network)
    if block is None:
        raise NotFoundError(f"{network!r} is not blocked.", hint="GET /api/v1/security/blocks lists the blocks")
    if block.network.endswith(("/32", "/128")):
        await security.throttle.unlock(f"ip:{block.network.split('/')[0]}")  # its failed logins are forgiven too
    return reply(block.view(security.clock()))
