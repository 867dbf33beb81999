"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from paperchain_sdk import (
    ConfigError,
    ConflictError,
    InputError,
    MissingDependency,
    NotFoundError,
    PaperchainError,
    PermissionDenied,
)

# Checked in order: the first class the exception is an instance of decides.
_STATUS = (
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (PermissionDenied, 403, "forbidden"),
    (MissingDependency, 503, "missing_dependency"),
    (InputError, 400, "invalid_input"),
    (ConfigError, 400, "invalid_input"),
    (PaperchainError, 500, "failed"),
)


class ApiError(Exception):
    """An HTTP error with our JSON body; raise it from handlers and the guard."""

    def __init__(self, status: int, code: str, message: str, details: Any = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.headers = status, code, message, details, headers

    def response(self) -> web.Response:
        return web.Response(status=self.status, headers=self.headers, content_type="application/json",
                            text=error_body(self.code, self.message, self.details))


def error_body(code: str, message: str, details: Any = None) -> str:
    import json

    return json.dumps({"error": {"code": code, "message": message, "details": details if details is not None else {}}})


def from_paperchain(exc: PaperchainError) -> ApiError:
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            details = {"hint": exc.hint} if exc.hint else {}
            return ApiError(status, code, exc.message, details)
    raise AssertionError("unreachable")


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 411: "length_required", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "invalid_input", 429: "rate_limited"}


def from_http(exc: web.HTTPException) -> ApiError:
    """aiohttp's own errors (no route, wrong method, body too large) in our shape."""
    status = exc.status
    message = {404: "there is no such resource", 405: f"method not allowed; allowed: {exc.headers.get('Allow', '')}",
               413: "the request body is too large"}.get(status) or exc.reason
    headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
    return ApiError(status, _HTTP_CODES.get(status, "http_error"), message, headers=headers)
