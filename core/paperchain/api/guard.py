"""Every route is wrapped here when the app is built: rate limits, authentication, roles and
scopes, errors in one shape, security headers, CORS, metrics and the audit log.

A wrapper per route rather than an aiohttp middleware: what a route needs (its endpoint
description, template, role, API area, audit rule) is worked out once, at start-up, and aiohttp
runs no middleware chain per request. Paths with no route reach a catch-all route registered
last (``UNMATCHED``), so their 404 and 405 answers get the same error shape and headers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from typing import Any

from aiohttp import hdrs, web
from multidict import CIMultiDict, istr

from paperchain_sdk import PaperchainError
from paperchain_sdk.web import PRINCIPAL_KEY, ROLE_RANKS, EndpointDoc, endpoint_doc

from .accounts import AuthError, scope_allows
from .errors import ApiError, from_http, from_paperchain

log = logging.getLogger("paperchain.api")
STATE: web.AppKey[Any] = web.AppKey("paperchain")
AUDIT_ACTOR = web.RequestKey("paperchain.audit.actor", str)  # set by a handler when the actor is not the caller
AUDIT_TARGET = web.RequestKey("paperchain.audit.target", str)
AUDIT_DETAILS = web.RequestKey("paperchain.audit.details", dict)
UNMATCHED = r"/{unmatched:[\s\S]*}"  # [\s\S]: "." would miss a path with "\n" in it

# JSON answers get OWASP's REST list (Content-Type comes from the handler; HSTS belongs to the
# TLS terminator in front of us). Each header costs every response ~1 µs to add and write, so
# only the ones that act on an API answer: Referrer-Policy and Cross-Origin-Opener-Policy act on
# HTML documents, and Cross-Origin-Resource-Policy guards answers a browser would fetch with
# ambient credentials (cookies), which this API never accepts. The docs page (HTML, served
# without a token) gets all of them. Prebuilt multidicts: adding one skips re-hashing the names.
# A handler that prepares its own response (a stream) sets API_HEADERS itself.
API_HEADERS = CIMultiDict({
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
})
_DOCS_HEADERS = CIMultiDict({
    **API_HEADERS,
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
})
_API_KEY = istr("X-API-Key")  # header names as istr: looked up without lower-casing them per request
_READS = ("GET", "HEAD")
_PUBLIC = EndpointDoc(public=True, audit=False)


def api_area(path: str) -> str:
    """The part of a path that key scopes name: 'documents' for /api/v1/documents/…, 'metrics' for /metrics."""
    parts = path.split("/")
    return parts[3] if len(parts) > 3 and parts[1] == "api" else parts[1] if len(parts) > 1 else ""


def guard_routes(routes, state) -> list[web.RouteDef]:
    """Route definitions with each handler wrapped by ``guard``."""
    guarded = []
    for route in routes:
        if not isinstance(route, web.RouteDef):
            raise TypeError(f"{route!r} is not a route definition (web.get, web.post, web.route …)")
        guarded.append(web.RouteDef(route.method, route.path, guard(route.handler, route.method, route.path, state),
                                    route.kwargs))
    return guarded


def guard(handler, method: str, template: str, state):
    """``handler`` behind the API's checks; ``template`` is the route's path as registered."""
    docs = template.startswith("/docs")
    unmatched = template == UNMATCHED
    doc = _PUBLIC if docs or unmatched else endpoint_doc(handler)
    label = "unmatched" if unmatched else template
    response_headers = _DOCS_HEADERS if docs else API_HEADERS
    area = api_area(template)
    fixed_write = None if method == "*" else method not in _READS
    audit = doc.audit  # True: always; None: changes only; False: never
    needs_json, public = doc.request is not None, doc.public
    cors = bool(state.settings.cors_origins)
    fixed_rank = None if doc.role is None and fixed_write is None else ROLE_RANKS[doc.role or _role_for(bool(fixed_write))]
    ip_take, key_take = state.ip_buckets.take, state.key_buckets.take
    stats = state.metrics.http.route(label)
    pending, fold_at, monotonic = stats.pending, stats.FOLD_AT, time.monotonic
    grant_for, key_grants, bearer_grants = state.accounts.grant, state.accounts.key_grants, state.accounts.bearer_grants
    body_timeout = state.settings.body_timeout

    async def guarded(request):
        started = monotonic()
        write = fixed_write if fixed_write is not None else request.method not in _READS
        allow = state.cors_headers(request) if cors else None
        try:
            if allow and request.method == "OPTIONS":
                response = web.Response(status=204)
            else:
                state.accounts.security.check_address(request)  # deny/allow lists and blocks: 403
                wait = ip_take(request.remote or "-", started)
                if wait:
                    raise _limited("too many requests from this address", wait)
                if not public:
                    headers = request.headers
                    api_key = headers.get(_API_KEY)  # the remembered grant first, without a call
                    grant = key_grants.get(api_key) if api_key is not None else bearer_grants.get(
                        headers.get(hdrs.AUTHORIZATION))
                    if grant is None or grant.until <= started:
                        grant = grant_for(headers.get(hdrs.AUTHORIZATION), api_key, started)
                    request[PRINCIPAL_KEY] = who = grant.principal
                    wait = key_take(grant.bucket, started)
                    if wait:
                        raise _limited("too many requests for this key or user", wait)
                    if grant.rank < (fixed_rank if fixed_rank is not None else ROLE_RANKS[_role_for(write)]):
                        needed = doc.role or _role_for(write)
                        raise ApiError(403, "forbidden", f"this needs the {needed} role; you are {who.role}")
                    if not grant.every_area and not scope_allows(who.scopes, area, write):
                        raise ApiError(403, "forbidden", f"this API key's scopes {list(who.scopes)} do not cover "
                                       f"{'writing' if write else 'reading'} {area}")
                if needs_json and request.content_type != "application/json":
                    raise ApiError(415, "unsupported_media_type", "send the body as JSON (Content-Type: "
                                   f"application/json), not {request.content_type!r}")
                if request.body_exists and not request.content.is_eof():
                    response = await _with_body_timeout(handler, request, body_timeout)
                else:
                    response = await handler(request)
        except ApiError as exc:
            response = exc.response()
        except AuthError as exc:
            response = ApiError(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}).response()
        except PaperchainError as exc:
            response = from_paperchain(exc).response()
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = from_http(exc).response()
        except Exception as exc:  # noqa: BLE001 - never a traceback to the client
            if isinstance(exc, ConnectionError) and _client_left(request):
                # nginx's 499: the client closed the connection mid-request (usually mid-body). No
                # server error: nothing to answer, nothing in the 5xx counts, no traceback logged.
                log.info("client closed the connection during %s %s", request.method, request.path)
                response = ApiError(499, "client_closed_request", "the client closed the connection "
                                    "before the request was complete").response()
            else:
                reference = uuid.uuid4().hex[:12]
                log.exception("unexpected error %s in %s %s", reference, request.method, request.path)
                response = ApiError(500, "internal", "an unexpected error occurred; it has been logged",
                                    {"reference": reference}).response()
        if not response.prepared:
            headers = response.headers
            headers.update(response_headers)
            if allow:
                headers.update(allow)
        status = response.status
        pending.append((request.method, status, monotonic() - started))
        if len(pending) >= fold_at:
            stats.fold()
        if audit or (audit is None and write):
            await _audit(request, state, label, status)
        return response

    return functools.wraps(handler)(guarded)


class _BodyWatch:
    """Ends a request whose body stops arriving: every ``timeout`` seconds it looks whether bytes
    came since the last look; if none did (and the body is not complete), the deadline fires. So
    a stalled body is refused after ``timeout`` to 2 x ``timeout`` seconds of silence, and a
    handler still working after the whole body arrived is never cut short."""

    def __init__(self, content, deadline: asyncio.Timeout, timeout: float):
        self.content, self.deadline, self.timeout = content, deadline, timeout
        self.loop = asyncio.get_running_loop()
        self.seen = content.total_bytes
        self.handle = self.loop.call_later(timeout, self.look)

    def look(self) -> None:
        if self.content.is_eof():
            return
        if self.content.total_bytes > self.seen:
            self.seen = self.content.total_bytes
            self.handle = self.loop.call_later(self.timeout, self.look)
        else:
            self.deadline.reschedule(self.loop.time())  # now: the handler's pending read is cancelled

    def stop(self) -> None:
        self.handle.cancel()


async def _with_body_timeout(handler, request, timeout: float):
    """``handler(request)``, answered 408 if the body goes ``timeout`` seconds without a byte.

    The handler's read is cancelled, so its own clean-up (``finally``: a partial upload's temp
    file) runs before the 408 goes out; the connection is closed after it."""
    try:
        async with asyncio.timeout(None) as deadline:
            watch = _BodyWatch(request.content, deadline, timeout)
            try:
                return await handler(request)
            finally:
                watch.stop()
    except TimeoutError:
        if not deadline.expired():
            raise
    response = ApiError(408, "request_timeout", f"the request body stopped arriving: nothing came for {timeout:g} s",
                        {"body_timeout": timeout}).response()
    response.force_close()
    return response


def _client_left(request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _role_for(write: bool) -> str:
    return "editor" if write else "viewer"


def _limited(message: str, wait: float) -> ApiError:
    return ApiError(429, "rate_limited", message, {"retry_after": round(wait, 3)},
                    headers={"Retry-After": str(max(1, round(wait)))})


async def _audit(request, state, template: str, status: int) -> None:
    who = request.get(PRINCIPAL_KEY)
    outcome = ("success" if status < 400 else "denied" if status in (401, 403, 429)
               else "abandoned" if status in (408, 499) else "failed")
    actor = request.get(AUDIT_ACTOR) or (who.name if who else "anonymous")
    action = f"{request.method} {template}"
    try:
        # Refused traffic (rate limited, unauthenticated, or blocked before anyone was known) is
        # counted per interval; a real attempt by a known caller is an entry of its own.
        if status in (401, 429) or status == 403 and who is None:
            await state.audit.count_refused(actor=actor, action=action, ip=request.remote or "", outcome=outcome,
                                            status=status)
            return
        await state.audit.record(
            actor=actor, action=action, target=request.get(AUDIT_TARGET) or request.path,
            ip=request.remote or "", outcome=outcome, status=status, details=request.get(AUDIT_DETAILS),
            tenant=who.tenant if who else "",
        )
    except Exception:  # noqa: BLE001 - a failed audit write is logged; the response stands
        log.exception("audit entry not recorded for %s %s", request.method, request.path)
