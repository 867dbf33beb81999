"""Administration of login security (admins only): lockouts after failed logins (unlock), blocked
addresses and networks (list, add, lift), and resetting a user's second factor (a lost device).

The services are the API's (``api/routes/account_security.py``) with its rules: a tenant's admin
sees and unlocks its own tenant's users (another tenant's user is as absent as a missing one);
address blocks act on the whole deployment, so only its admins (no tenant) see and change them.
Each change is audited by the guard with the API's targets (``user:<name>``, ``address:<network>``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from paperchain_sdk import PaperchainError

from ...api.guard import AUDIT_DETAILS, AUDIT_TARGET, STATE
from ..guard import PageError, page
from ..render import render
from .admin import _managed_user, _users_page


def _security(request):
    return request.app[STATE].accounts.security


def _lockouts(request, ctx) -> list[dict]:
    """Locked or waiting accounts and addresses; a tenant's admin: its own users' only (as the API)."""
    accounts = request.app[STATE].accounts
    items = accounts.security.throttle.locked(accounts.security.clock())
    if ctx.who.tenant:
        items = [i for i in items if i["kind"] == "user" and i["name"] in accounts.users
                 and accounts.manages(ctx.who, accounts.users[i["name"]]["tenant"])]
    return [{**i, "until_iso": datetime.fromtimestamp(i["until"], UTC).isoformat()} for i in items]


def _page(request, ctx, *, status: int = 200, errors: dict | None = None, form: dict | None = None,
          notice: str = "") -> web.Response:
    security = _security(request)
    operator = not ctx.who.tenant
    blocks = security.addresses.listing(security.clock()) if operator else []
    return render(request, ctx, "admin_security.html", status=status, lockouts=_lockouts(request, ctx),
                  blocks=blocks, operator=operator, errors=errors or {}, form=form or {}, notice=notice)


def _network_error(ctx, text: str, exc: PaperchainError) -> str:
    """Why the address guard refused ``text``, in the page's language."""
    if "exempt" in str(exc):
        return ctx.gettext("%(network)s covers exempt addresses (loopback and the [security] exempt list), which "
                           "are never blocked; block a narrower network.") % {"network": text}
    return ctx.gettext("%(network)s is not an address or CIDR network; write e.g. 192.0.2.7, 198.51.100.0/24 or "
                       "2001:db8::/32.") % {"network": text or "''"}


def _operator(ctx) -> None:
    if ctx.who.tenant:
        raise PageError(403, ctx.gettext("Address blocks act on the whole deployment, so only its admins (users "
                                         "without a tenant) change them. Ask an admin of the deployment."),
                        title=ctx.gettext("Not allowed"))


@page(role="admin")
async def security_page(request, ctx):
    return _page(request, ctx)


@page(role="admin")
async def unlock(request, ctx):
    name = request.match_info["name"]
    request[AUDIT_TARGET] = f"user:{name}"
    user = _managed_user(request, ctx, name)
    await _security(request).throttle.unlock(f"user:{user['name']}")
    return _page(request, ctx, notice=ctx.gettext("%(name)s can log in again.") % {"name": name})


@page(role="admin")
async def add_block(request, ctx):
    posted = await request.post()
    form = {field: str(posted.get(field, "")).strip() for field in ("network", "minutes", "reason")}
    request[AUDIT_TARGET] = f"address:{form['network']}"
    _operator(ctx)
    minutes = None
    if form["minutes"]:
        try:
            minutes = float(form["minutes"])
        except ValueError:
            minutes = -1.0  # refused below, with the range
        if not 0 < minutes <= 525_600:
            return _page(request, ctx, status=400, form=form, errors={"minutes": ctx.gettext(
                "Minutes must be a number from 1 to 525600 (a year), or empty to block until lifted.")})
    request[AUDIT_DETAILS] = {"minutes": minutes, "reason": form["reason"]}
    security = _security(request)
    try:
        block = security.addresses.add(form["network"], minutes=minutes, reason=form["reason"][:200],
                                       by=ctx.who.name, now=security.clock())
    except PaperchainError as exc:  # not an address or network, or one covering exempt addresses
        return _page(request, ctx, status=400, form=form, errors={"network": _network_error(ctx, form["network"], exc)})
    return _page(request, ctx, notice=ctx.gettext("%(network)s is blocked.") % {"network": block.network})


@page(role="admin")
async def remove_block(request, ctx):
    network = str((await request.post()).get("network", "")).strip()
    request[AUDIT_TARGET] = f"address:{network}"
    _operator(ctx)
    security = _security(request)
    try:
        block = await security.addresses.remove(network)
    except PaperchainError as exc:
        return _page(request, ctx, status=400, errors={"remove": _network_error(ctx, network, exc)})
    if block is None:
        return _page(request, ctx, status=404, errors={"remove": ctx.gettext(
            "%(network)s is not blocked.") % {"network": network}})
    if block.network.endswith(("/32", "/128")):
        await security.throttle.unlock(f"ip:{block.network.split('/')[0]}")  # its failed logins are forgiven too
    return _page(request, ctx, notice=ctx.gettext("The block on %(network)s was lifted.") % {
        "network": block.network})


@page(role="admin")
async def reset_mfa(request, ctx):
    name = request.match_info["name"]
    request[AUDIT_TARGET] = f"user:{name}"
    user = _managed_user(request, ctx, name)
    if not await _security(request).mfa.reset(user["name"]):
        return _users_page(request, ctx, status=404, notice=ctx.gettext(
            "%(name)s has no second factor, so there was nothing to reset.") % {"name": name})
    return _users_page(request, ctx, notice=ctx.gettext(
        "The second factor of %(name)s was reset; they log in with the password alone until they set up a new "
        "one.") % {"name": name})


PAGES = [
    ("GET", "/admin/security", security_page),
    ("POST", "/admin/users/{name}/unlock", unlock),
    ("POST", "/admin/security/blocks", add_block),
    ("POST", "/admin/security/blocks/remove", remove_block),
    ("POST", "/admin/users/{name}/mfa/reset", reset_mfa),
]
