"""The account page: who you are, your API keys (create: the key is shown once; revoke), log out;
its password and second-factor forms are in account_security.py."""

from __future__ import annotations

from aiohttp import web

from paperchain_sdk import PaperchainError
from paperchain_sdk.web import ROLES

from ...api.guard import AUDIT_DETAILS, AUDIT_TARGET, STATE
from ..guard import PageError, page
from ..render import render


def _keys(request, ctx) -> list:
    accounts = request.app[STATE].accounts
    mine = [accounts.key_view(k) for k in accounts.keys.values() if k.owner == ctx.who.name]
    return sorted(mine, key=lambda k: k["created"], reverse=True)


def _pending_setup(request, name: str) -> dict | None:
    """The secret and otpauth:// URI of a second factor being set up, to add to an authenticator app."""
    import pyotp

    from ...api.security.totp import STEP_SECONDS

    security = request.app[STATE].accounts.security
    enrolment = security.mfa.enrolments.get(name)
    if enrolment is None or enrolment.confirmed is not None:
        return None
    uri = pyotp.TOTP(enrolment.secret, interval=STEP_SECONDS).provisioning_uri(
        name=name, issuer_name=security.settings.mfa_issuer)
    return {"secret": enrolment.secret, "otpauth_uri": uri}


def account_page(request, ctx, *, created: str = "", error: str = "", status: int = 200, **security):
    """The page; ``security``: the password and second-factor forms' errors, notice and recovery codes."""
    roles = [r for r in ROLES if ctx.who.allows(r)]
    accounts = request.app[STATE].accounts
    mfa = accounts.security.mfa.status(accounts.user(ctx.who.name))
    return render(request, ctx, "account.html", status=status, keys=_keys(request, ctx), created=created,
                  error=error, roles=roles, mfa=mfa, setup=_pending_setup(request, ctx.who.name),
                  errors=security.get("errors") or {}, notice=security.get("notice", ""),
                  recovery_codes=security.get("recovery_codes"))



@page
async def account(request, ctx):
    return account_page(request, ctx)


@page(role="viewer")
async def create_key(request, ctx):
    """Any user may make keys for themselves, with a role no higher than their own."""
    form = await request.post()
    expires = str(form.get("expires_days", "")).strip()
    if expires and not expires.isdigit():
        return account_page(request, ctx, status=400, error=ctx.gettext("Expires in (days) must be a whole number, "
                                                                  "or left empty for a key that does not expire."))
    try:
        record, key = await request.app[STATE].accounts.create_key(
            ctx.who, str(form.get("name", "")).strip(), str(form.get("role", "")) or None,
            [s for s in str(form.get("scopes", "*")).replace(",", " ").split() if s], int(expires) if expires else None)
    except PaperchainError as exc:
        return account_page(request, ctx, status=400, error=str(exc))
    request[AUDIT_TARGET] = f"key:{record.id}"
    request[AUDIT_DETAILS] = {"role": record.role, "scopes": list(record.scopes)}
    return account_page(request, ctx, created=key)


@page(role="viewer")
async def revoke_key(request, ctx):
    key_id = request.match_info["id"]
    accounts = request.app[STATE].accounts
    record = accounts.keys.get(key_id)
    if record is None or record.owner != ctx.who.name:
        raise PageError(404, ctx.gettext("You have no API key %(id)s.") % {"id": key_id})
    request[AUDIT_TARGET] = f"key:{key_id}"
    await accounts.revoke_key(key_id, ctx.who)
    raise web.HTTPSeeOther("/account")


PAGES = [
    ("GET", "/account", account),
    ("POST", "/account/keys", create_key),
    ("POST", "/account/keys/{id}/revoke", revoke_key),
]
