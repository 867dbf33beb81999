"""Every web page is wrapped here: the API's checks (address lists and blocks, rate limits, roles,
tenants through the principal, the audit log) for a browser session, plus what browsers need:
CSRF protection, security headers with a strict Content-Security-Policy, and errors as pages a
person can act on (log in again and come back; which role a page needs; not found).

CSRF: a state-changing request must come from our own origin (``Origin``, or ``Referer`` when a
browser sends no Origin) and, once logged in, carry the session's token (the ``X-CSRF-Token``
header htmx sends, or the ``csrf`` form field). The token is random per session and compared in
constant time.
"""

from __future__ import annotations

import functools
import hmac
import logging
import time
import uuid
from urllib.parse import quote, urlsplit

import attrs
from aiohttp import web
from multidict import CIMultiDict

from paperchain_sdk import PaperchainError
from paperchain_sdk.web import PRINCIPAL_KEY, Principal

from ..api.accounts import AuthError
from ..api.errors import ApiError, from_paperchain
from ..api.guard import AUDIT_ACTOR, AUDIT_DETAILS, AUDIT_TARGET
from . import i18n
from .sessions import COOKIE, networks, over_tls

log = logging.getLogger("paperchain.web")
WEB = web.AppKey("paperchain.web", object)
THEME_COOKIE = "pc_theme"
THEMES = ("system", "light", "dark")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
PAGE_HEADERS = CIMultiDict({
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
})
_READS = ("GET", "HEAD")


class PageError(Exception):
    """An error page: ``status``, a message for the person, and what they can do next."""

    def __init__(self, status: int, message: str, *, title: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.title, self.headers = status, message, title, headers


@attrs.define
class Ctx:
    """What a page knows about its request: language, theme, session and who is looking."""

    language: str
    theme: str
    gettext: object
    ngettext: object
    fmt: i18n.Formatter
    who: Principal | None = None
    session: object = None
    path: str = "/"
    live_since: int = 0  # the event cursor before the page read anything: live.js resumes from it
    unread: int | None = None  # unread notifications (None: no inbox)
    state_names: dict | None = attrs.field(default=None, init=False)

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session is not None else ""

    def state_name(self, status: str) -> str:
        """A run or step state in the page's language (looked up once per page, not per row)."""
        names = self.state_names
        if names is None:
            gettext = self.gettext
            names = {"queued": gettext("queued"), "running": gettext("running"), "succeeded": gettext("succeeded"),
                     "failed": gettext("failed"), "cancelled": gettext("cancelled"), "skipped": gettext("skipped"),
                     "waiting": gettext("waiting")}
            self.state_names = names
        return names.get(status, status)

    def can(self, role: str) -> bool:
        return self.who is not None and self.who.allows(role)


def context(request) -> Ctx:
    language = i18n.choose(request.cookies.get(i18n.LANG_COOKIE), request.headers.get("Accept-Language"))
    tr = i18n.translations(language)
    theme = request.cookies.get(THEME_COOKIE)
    return Ctx(language=language, theme=theme if theme in THEMES else "system", gettext=tr.gettext,
               ngettext=tr.ngettext, fmt=i18n.Formatter(language), path=request.path_qs)


def same_origin(request) -> bool:
    """Whether a request says it comes from a page of this server."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    return urlsplit(source).netloc == request.host


async def _csrf_token(request) -> str:
    """The request's CSRF token: the header, or the field of a small url-encoded form. A multipart
    body (an upload) must use the header: it is never read before the token is checked."""
    token = request.headers.get("X-CSRF-Token")
    if token is None and request.content_type == "application/x-www-form-urlencoded":
        token = (await request.post()).get("csrf")
    return token if isinstance(token, str) else ""


def page(handler=None, *, role: str | None = None, public: bool = False, audit: bool | None = None):
    """Mark a page handler ``async def handler(request, ctx)``: the role it needs (a write needs at
    least editor unless ``role`` says otherwise), whether it is public (login, static files), whether to audit it (None: writes)."""
    def mark(fn):
        fn.web_role, fn.web_public, fn.web_audit = role, public, audit
        return fn
    return mark(handler) if handler is not None else mark


def guard(handler, method: str, template: str, state):
    """``handler`` behind the checks; ``state`` is the API's State (accounts, audit, buckets)."""
    role, public = getattr(handler, "web_role", None), getattr(handler, "web_public", False)
    audit_rule = getattr(handler, "web_audit", None)
    ip_take, key_take = state.ip_buckets.take, state.key_buckets.take
    proxies = networks(state.kernel.config.api.trusted_proxies)

    async def guarded(request):
        started = time.monotonic()
        if not request.secure and proxies and over_tls(request, proxies):
            request = request.clone(scheme="https")  # so every cookie this page sets is Secure
        ctx = context(request)
        write = request.method not in _READS
        try:
            state.accounts.security.check_address(request)
            wait = ip_take(request.remote or "-", started)
            if wait:
                raise _limited(ctx, wait)
            sessions = request.app[WEB].sessions
            cookie = request.cookies.get(COOKIE)
            session = await sessions.find(cookie)
            if session is not None:
                try:
                    ctx.who, ctx.session = sessions.principal(session), session
                    request[PRINCIPAL_KEY] = ctx.who
                except AuthError:
                    await sessions.revoke(session)
            if write and not same_origin(request):
                raise PageError(403, ctx.gettext("This form was sent from another site, so it was refused. "
                                                 "Go back, reload the page and try again."))
            if not public:
                if ctx.who is None:
                    return _to_login(request, ctx, expired=cookie is not None)
                wait = key_take(("user", ctx.who.name), started)
                if wait:
                    raise _limited(ctx, wait)
                needed = role or ("editor" if write else "viewer")
                if not ctx.who.allows(needed):
                    raise PageError(403, ctx.gettext("This needs the %(needed)s role; you are %(role)s. Ask an "
                                                     "admin for it.") % {"needed": needed, "role": ctx.who.role},
                                    title=ctx.gettext("Not allowed"))
                if write and not hmac.compare_digest(await _csrf_token(request), session.csrf):
                    raise PageError(403, ctx.gettext("This form has expired or did not come from this site "
                                                     "(its security token is missing or wrong). Reload the "
                                                     "page and try again."))
            # Taken before the handler reads: whatever happens while it reads is replayed to the page.
            ctx.live_since = state.hub.seq
            if ctx.who is not None and request.method in _READS and not request.headers.get("HX-Request"):
                from .routes.notifications import unread

                ctx.unread = await unread(request, ctx.who)  # the header's count
            response = await handler(request, ctx)
        except PageError as exc:
            response = error_page(request, ctx, exc.status, exc.message, title=exc.title, headers=exc.headers)
        except ApiError as exc:  # e.g. an address block
            response = error_page(request, ctx, exc.status, exc.message, headers=exc.headers)
        except PaperchainError as exc:
            status = from_paperchain(exc).status
            response = error_page(request, ctx, status, str(exc) if status < 500 else ctx.gettext(
                "Something went wrong on the server. Try again; if it keeps happening, tell an admin."))
        except web.HTTPException as exc:  # a redirect (raised by a handler) is an answer like any other
            response = web.Response(status=exc.status, headers=exc.headers) if exc.status < 400 else \
                error_page(request, ctx, exc.status, exc.reason)
        except Exception:  # noqa: BLE001 - never a traceback to the person
            reference = uuid.uuid4().hex[:12]
            log.exception("unexpected error %s in %s %s", reference, request.method, request.path)
            response = error_page(request, ctx, 500, ctx.gettext(
                "Something went wrong on the server; it has been logged (reference %(ref)s). Try again, or "
                "give an admin the reference.") % {"ref": reference})
        if not response.prepared:
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
        if audit_rule or (audit_rule is None and write):
            await _audit(request, state, ctx, f"{request.method} {template}", response.status)
        return response

    return functools.wraps(handler)(guarded)


def _limited(ctx, wait: float) -> PageError:
    seconds = max(1, round(wait))
    return PageError(429, ctx.gettext("Too many requests; wait %(n)s s and try again.") % {"n": seconds},
                     headers={"Retry-After": str(seconds)})


def _to_login(request, ctx, *, expired: bool) -> web.Response:
    """Off to the login page, which brings the person back here afterwards."""
    target = request.path_qs if request.method in _READS else "/"
    if request.headers.get("HX-Request"):  # a fragment's refresh: back to the page it was part of
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        target = (current.path + (f"?{current.query}" if current.query else "")) \
            if current.netloc == request.host and current.path.startswith("/") else "/"
    location = "/login?next=" + quote(target, safe="") + ("&expired=1" if expired else "")
    if request.headers.get("HX-Request"):  # htmx: have the whole page go, not a fragment
        return web.Response(status=204, headers={"HX-Redirect": location})
    return web.Response(status=303, headers={"Location": location})


def error_page(request, ctx, status: int, message: str, *, title: str | None = None,
               headers: dict | None = None) -> web.Response:
    from .render import render

    titles = {403: ctx.gettext("Not allowed"), 404: ctx.gettext("Not found"), 429: ctx.gettext("Too many requests")}
    response = render(request, ctx, "error.html", status=status, status_code=status, message=message,
                      title=title or titles.get(status) or ctx.gettext("Something went wrong"))
    if headers:
        response.headers.update(headers)
    return response


async def _audit(request, state, ctx, action: str, status: int) -> None:
    outcome = "success" if status < 400 else "denied" if status in (401, 403, 429) else "failed"
    try:
        if ctx.who is None and status in (401, 403, 429):
            await state.audit.count_refused(actor="anonymous", action=action, ip=request.remote or "",
                                            outcome=outcome, status=status)
            return
        await state.audit.record(actor=request.get(AUDIT_ACTOR) or (ctx.who.name if ctx.who else "anonymous"),
                                 action=action, target=request.get(AUDIT_TARGET) or request.path,
                                 ip=request.remote or "", outcome=outcome, status=status,
                                 details=request.get(AUDIT_DETAILS), tenant=ctx.who.tenant if ctx.who else "")
    except Exception:  # noqa: BLE001 - a failed audit write is logged; the response stands
        log.exception("audit entry not recorded for %s %s", request.method, request.path)

