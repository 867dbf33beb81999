"""The account page's security forms: change your password, and your second factor (TOTP: set up,
confirm, new recovery codes, turn off).

They call the services the API's routes call (``api/routes/account_security.py``) with the same
rules: the current password or a current code is checked through the accounts, so a wrong one
counts like a failed login; a role that must use a second factor cannot turn it off; each change
is audited by the guard with the API's target (``user:<name>``). A new password ends the user's
other sessions (they keep a fingerprint of the password); this one is replaced by a fresh session.
"""

from __future__ import annotations

from aiohttp import web

from paperchain_sdk import PaperchainError

from ...api.accounts import AuthError, LoginThrottled
from ...api.guard import AUDIT_TARGET, STATE
from ..guard import WEB, page
from ..sessions import ABSOLUTE_HOURS, COOKIE
from .account import account_page
from .admin import password_error


def _accounts(request):
    return request.app[STATE].accounts


def _own(request, ctx) -> str:
    request[AUDIT_TARGET] = f"user:{ctx.who.name}"
    return ctx.who.name


def _refused(ctx, exc: Exception) -> str:
    """A wrong password or code, or too many of them, worded for the page."""
    if isinstance(exc, LoginThrottled):
        return ctx.gettext("Too many failed attempts: wait %(n)s s and try again.") % {
            "n": max(1, round(exc.retry_after))}
    if "password" in str(exc):
        return ctx.gettext("The current password is wrong.")
    return ctx.gettext("That code is wrong, expired or used already; enter the current one.")


@page(role="viewer")
async def change_password(request, ctx):
    form = await request.post()
    name, accounts = _own(request, ctx), _accounts(request)
    current, new = str(form.get("current_password", "")), str(form.get("new_password", ""))
    try:
        await accounts.check_own_password(name, current, request)
    except (AuthError, LoginThrottled) as exc:
        return account_page(request, ctx, status=429 if isinstance(exc, LoginThrottled) else 403,
                            errors={"current_password": _refused(ctx, exc)})
    problem = password_error(ctx, new, name, accounts.security.settings)
    if problem:
        return account_page(request, ctx, status=400, errors={"new_password": problem})
    await accounts.update_user(name, password=new)
    sessions = request.app[WEB].sessions
    await sessions.revoke(ctx.session)  # every other session ended with the old password's fingerprint
    secret, session = await sessions.create(name, request.remote or "")
    ctx.session = session
    response = account_page(request, ctx, notice=ctx.gettext(
        "Your password was changed; your other sessions have ended."))
    response.set_cookie(COOKIE, secret, max_age=ABSOLUTE_HOURS * 3600, path="/", httponly=True,
                        samesite="Strict", secure=request.secure)
    return response


@page(role="viewer")
async def mfa_setup(request, ctx):
    name = _own(request, ctx)
    try:
        _accounts(request).security.mfa.begin(name)
    except PaperchainError:  # already set up (a form from before)
        return account_page(request, ctx, status=409, errors={"mfa": ctx.gettext(
            "You have a second factor already; turn it off first to set up another.")})
    raise web.HTTPSeeOther("/account#two-factor")


@page(role="viewer")
async def mfa_confirm(request, ctx):
    code = str((await request.post()).get("code", ""))
    name = _own(request, ctx)
    try:
        result = await _accounts(request).finish_setup(name, code, request)
    except (AuthError, LoginThrottled) as exc:
        return account_page(request, ctx, status=400, errors={"code": _refused(ctx, exc)})
    except PaperchainError:  # nothing being set up (a form from before)
        return account_page(request, ctx, status=409, errors={"mfa": ctx.gettext(
            "No second factor is being set up; start again with Set up two-factor login.")})
    return account_page(request, ctx, recovery_codes=result["recovery_codes"], notice=ctx.gettext(
        "Two-factor login is on: from now on, logging in asks for a code from your app."))


async def _check_code(request, ctx, name: str, code: str, key: str):
    """None when ``code`` is a current second factor of ``name``; else the page saying why not."""
    try:
        await _accounts(request).check_own_code(name, code, request)
    except (AuthError, LoginThrottled) as exc:
        return account_page(request, ctx, status=403, errors={key: _refused(ctx, exc)})
    return None


@page(role="viewer")
async def mfa_new_codes(request, ctx):
    code = str((await request.post()).get("code", ""))
    name, mfa = _own(request, ctx), _accounts(request).security.mfa
    if not mfa.enrolled(name):
        return account_page(request, ctx, status=404, errors={"mfa": ctx.gettext(
            "You have no second factor; set one up first.")})
    refused = await _check_code(request, ctx, name, code, "codes_code")
    if refused is not None:
        return refused
    codes = await mfa.new_recovery_codes(name)
    return account_page(request, ctx, recovery_codes=codes, notice=ctx.gettext(
        "Your old recovery codes no longer work; here are new ones."))


@page(role="viewer")
async def mfa_disable(request, ctx):
    code = str((await request.post()).get("code", ""))
    name, accounts = _own(request, ctx), _accounts(request)
    user, mfa = accounts.user(name), accounts.security.mfa
    if mfa.required(user):
        return account_page(request, ctx, status=409, errors={"mfa": ctx.gettext(
            "Your role must use a second factor, so it cannot be turned off. If you lost the device, ask an "
            "admin to reset it.")})
    refused = await _check_code(request, ctx, name, code, "off_code")
    if refused is not None:
        return refused
    await mfa.reset(name)
    return account_page(request, ctx, notice=ctx.gettext("Two-factor login is off."))


PAGES = [
    ("POST", "/account/password", change_password),
    ("POST", "/account/mfa/setup", mfa_setup),
    ("POST", "/account/mfa/confirm", mfa_confirm),
    ("POST", "/account/mfa/recovery-codes", mfa_new_codes),
    ("POST", "/account/mfa/disable", mfa_disable),
]
