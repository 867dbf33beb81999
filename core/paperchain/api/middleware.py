"""Every request passes here: rate limits, authentication, roles and scopes, errors in one shape,
security headers, CORS, metrics and the audit log."""

from __future__ import annotations

import logging
import time
import uuid

from aiohttp import web

from paperchain_sdk import PaperchainError
from paperchain_sdk.web import PRINCIPAL_KEY, EndpointDoc, endpoint_doc

from .accounts import AuthError, scope_allows
from .errors import ApiError, from_http, from_paperchain

log = logging.getLogger("paperchain.api")
STATE = web.AppKey("paperchain", object)
AUDIT_ACTOR = web.RequestKey("paperchain.audit.actor", str)  # set by a handler when the actor is not the caller
AUDIT_TARGET = web.RequestKey("paperchain.audit.target", str)
AUDIT_DETAILS = web.RequestKey("paperchain.audit.details", dict)

_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_API_HEADERS = {**_HEADERS, "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
                "Cache-Control": "no-store"}
_DOCS_HEADERS = {**_HEADERS, "Cache-Control": "no-store", "Content-Security-Policy":
                 "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                 "connect-src 'self'; frame-ancestors 'none'"}
_READS = ("GET", "HEAD")
_PUBLIC = EndpointDoc(public=True, audit=False)


def _area(path: str) -> str:
    parts = path.split("/")
    return parts[3] if len(parts) > 3 and parts[1] == "api" else parts[1] if len(parts) > 1 else ""


@web.middleware
async def pipeline(request: web.Request, handler):
    state = request.app[STATE]
    started = time.perf_counter()
    match = request.match_info
    route = match.route
    doc = endpoint_doc(route.handler) if match.http_exception is None else None
    if doc is not None and request.path.startswith("/docs"):
        doc = _PUBLIC  # the docs page and its static files
    template = (route.resource.canonical if route.resource is not None else "unmatched") if doc else "unmatched"
    cors = state.cors_headers(request) if state.settings.cors_origins else None
    try:
        if request.method == "OPTIONS" and cors:
            response = web.Response(status=204)
        else:
            response = await _handle(request, handler, state, doc)
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
    except Exception:  # noqa: BLE001 - never a traceback to the client
        reference = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s in %s %s", reference, request.method, request.path)
        response = ApiError(500, "internal", "an unexpected error occurred; it has been logged",
                            {"reference": reference}).response()
    if not response.prepared:
        headers = response.headers
        headers.update(_DOCS_HEADERS if request.path.startswith("/docs") else _API_HEADERS)
        if cors:
            headers.update(cors)
    status = response.status
    state.metrics.request(request.method, template, status, time.perf_counter() - started)
    if doc is not None and request.method not in _READS and (doc.audit is not False) or (doc and doc.audit):
        await _audit(request, state, template, status)
    return response


async def _handle(request, handler, state, doc):
    if doc is None:  # no such route or method: aiohttp's own answer, in our shape
        raise request.match_info.http_exception
    wait = state.ip_buckets.take(request.remote or "-")
    if wait:
        raise ApiError(429, "rate_limited", "too many requests from this address", {"retry_after": round(wait, 3)},
                       headers={"Retry-After": str(max(1, round(wait)))})
    if not doc.public:
        headers = request.headers
        who = state.accounts.authenticate(headers.get("Authorization"), headers.get("X-API-Key"))
        request[PRINCIPAL_KEY] = who
        wait = state.key_buckets.take(f"{who.kind}:{who.name}")
        if wait:
            raise ApiError(429, "rate_limited", "too many requests for this key or user", {"retry_after": round(wait, 3)},
                           headers={"Retry-After": str(max(1, round(wait)))})
        write = request.method not in _READS
        needed = doc.role or ("editor" if write else "viewer")
        if not who.allows(needed):
            raise ApiError(403, "forbidden", f"this needs the {needed} role; you are {who.role}")
        if who.kind == "key" and not scope_allows(who.scopes, _area(request.path), write):
            raise ApiError(403, "forbidden", f"this API key's scopes {list(who.scopes)} do not cover "
                           f"{'writing' if write else 'reading'} {_area(request.path)}")
    if doc.request is not None and request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", f"send the body as JSON (Content-Type: application/json), "
                       f"not {request.content_type!r}")
    return await handler(request)


async def _audit(request, state, template: str, status: int) -> None:
    who = request.get(PRINCIPAL_KEY)
    outcome = "success" if status < 400 else "denied" if status in (401, 403, 429) else "failed"
    try:
        await state.audit.record(
            actor=request.get(AUDIT_ACTOR) or (who.name if who else "anonymous"),
            action=f"{request.method} {template}", target=request.get(AUDIT_TARGET) or request.path,
            ip=request.remote or "", outcome=outcome, status=status, details=request.get(AUDIT_DETAILS),
        )
    except Exception:  # noqa: BLE001 - a failed audit write is logged; the response stands
        log.exception("audit entry not recorded for %s %s", request.method, request.path)
