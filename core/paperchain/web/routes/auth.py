"""Log in (password, then a second factor where the account has one, set up on the spot where the
role requires one and the account has none yet), log out, and the language and theme switches."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from ...api.accounts import AuthError, LoginThrottled, SecondFactorRequired
from ...api.guard import AUDIT_ACTOR, AUDIT_TARGET
from .. import i18n
from ..guard import THEME_COOKIE, THEMES, WEB, PageError, page
from ..render import render
from ..sessions import ABSOLUTE_HOURS, COOKIE


def _next(value: str | None) -> str:
    """Where to go after logging in: a path of this site only (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or value.startswith("/login"):
        return "/"
    return value


@page(public=True, audit=False)
async def login_form(request, ctx):
    if ctx.who is not None:
        raise web.HTTPSeeOther(_next(request.query.get("next")))
    notice = ctx.gettext("Your session has ended; log in again to go back where you were.") \
        if request.query.get("expired") else ""
    return render(request, ctx, "login.html", next=_next(request.query.get("next")), error="", notice=notice,
                  username="", ticket="")


@page(public=True, audit=True)
async def login(request, ctx):
    form = await request.post()
    name, target = str(form.get("username", "")).strip(), _next(form.get("next"))
    request[AUDIT_ACTOR] = name or "anonymous"
    request[AUDIT_TARGET] = f"user:{name}"
    accounts = _state(request).accounts
    ticket = str(form.get("ticket", ""))
    if ticket and form.get("setup"):
        return await _finish_setup(request, ctx, accounts, ticket, str(form.get("code", "")), target)
    try:
        if ticket:
            name = accounts.read_ticket(ticket, "verify")
            tokens = await accounts.second_factor(ticket, str(form.get("code", "")).replace(" ", ""), request)
        else:
            tokens = await accounts.login(name, str(form.get("password", "")), request)
    except SecondFactorRequired as exc:
        if exc.setup:
            accounts.security.mfa.begin(name)
            return _setup_form(request, ctx, accounts, target, name, exc.ticket, "")
        return render(request, ctx, "login.html", status=401, next=target, error="", notice=ctx.gettext(
            "Enter the code from your authenticator app, or a recovery code."), username=name, ticket=exc.ticket)
    except LoginThrottled as exc:
        wait = max(1, round(exc.retry_after))
        when = ctx.fmt.when(datetime.fromtimestamp(exc.until, UTC).isoformat())
        message = (ctx.gettext("Too many failed logins: this account is locked until %(when)s. Try again then, "
                               "or ask an admin to unlock it.") if exc.reason == "locked" else
                   ctx.gettext("Too many failed logins: wait %(n)s s (until %(when)s) and try again."))
        response = _form(request, ctx, target, name, 429, message % {"when": when, "n": wait})
        response.headers["Retry-After"] = str(wait)
        return response
    except AuthError as exc:
        message = ctx.gettext("Wrong user name or password.") if "wrong user name" in str(exc) else (
            ctx.gettext("That code is wrong, expired or used already; enter the current one.") if ticket
            else str(exc))
        if ticket:
            return render(request, ctx, "login.html", status=401, next=target, error=message, notice="",
                          username=name, ticket=ticket)
        return _form(request, ctx, target, name, 401, message)
    return await _start_session(request, accounts, name, tokens, _see_other(target))


async def _start_session(request, accounts, name: str, tokens: dict, response: web.Response) -> web.Response:
    await accounts.logout(tokens["refresh_token"])  # the web keeps its own session, not API tokens
    secret, _ = await request.app[WEB].sessions.create(name, request.remote or "")
    response.set_cookie(COOKIE, secret, max_age=ABSOLUTE_HOURS * 3600, path="/", httponly=True,
                        samesite="Strict", secure=request.secure)
    return response


def _setup_form(request, ctx, accounts, target: str, name: str, ticket: str, error: str) -> web.Response:
    """The login form's second step when the role needs a second factor the account lacks yet: the
    pending secret to add to an authenticator app, and its first code."""
    setup = accounts.security.mfa.pending(name)
    return render(request, ctx, "login.html", status=401, next=target, error=error, username=name, ticket=ticket,
                  setup=setup, notice=ctx.gettext(
                      "Your role must use a second factor. Add this key to your authenticator app, then enter "
                      "the code it shows."))


async def _finish_setup(request, ctx, accounts, ticket: str, code: str, target: str) -> web.Response:
    try:
        name = accounts.read_ticket(ticket, "setup")
    except AuthError:
        return _form(request, ctx, target, "", 401, ctx.gettext(
            "That step of the login has expired; log in again."))
    request[AUDIT_ACTOR] = name
    request[AUDIT_TARGET] = f"user:{name}"
    try:
        result = await accounts.finish_setup(name, code.replace(" ", ""), request, ticket=True)
    except LoginThrottled:
        return _form(request, ctx, target, name, 429, ctx.gettext(
            "Too many failed logins: wait a moment and try again."))
    except AuthError:
        return _setup_form(request, ctx, accounts, target, name, ticket, ctx.gettext(
            "That code is wrong, expired or used already; enter the current one."))
    page = render(request, ctx, "login_codes.html", codes=result["recovery_codes"], next=target)
    return await _start_session(request, accounts, name, result, page)


def _form(request, ctx, target, name, status, error):
    return render(request, ctx, "login.html", status=status, next=target, error=error, notice="", username=name,
                  ticket="")


@page(role="viewer")
async def logout(request, ctx):
    await request.app[WEB].sessions.revoke(ctx.session)
    response = _see_other("/login")
    response.del_cookie(COOKIE, path="/")
    return response


@page(public=True, audit=False)
async def preferences(request, ctx):
    """The language and theme switches: they set the caller's own cookies, nothing else."""
    form = await request.post()
    response = _see_other(_next(form.get("next")))
    year = 365 * 24 * 3600
    if form.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.LANG_COOKIE, form["lang"], max_age=year, path="/", samesite="Strict",
                            secure=request.secure)
    if form.get("theme") in THEMES:
        response.set_cookie(THEME_COOKIE, form["theme"], max_age=year, path="/", samesite="Strict",
                            secure=request.secure)
    return response


@page(public=True, audit=False)
async def not_found(request, ctx):
    raise PageError(404, ctx.gettext("There is no page at this address. Check it, or start again from the "
                                     "runs list."))


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _state(request):
    from ...api.guard import STATE

    return request.app[STATE]


PAGES = [
    ("GET", "/login", login_form),
    ("POST", "/login", login),
    ("POST", "/logout", logout),
    ("POST", "/preferences", preferences),
]
