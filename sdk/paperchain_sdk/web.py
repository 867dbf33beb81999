"""Helpers for plugins that add HTTP routes (``paperchain_routes``).

The API server wraps every route in the same guard: authentication, roles, rate limits,
size limits, audit and error handling. A plugin's handler is a plain aiohttp handler; decorate it
with :func:`endpoint` to say who may call it and what it takes and returns, which also puts it
in the OpenAPI document. Raise :class:`~paperchain_sdk.errors.PaperchainError` subclasses for
failures: InputError/ConfigError answer 400, NotFoundError 404, ConflictError 409,
PermissionDenied 403, MissingDependency 503, all as ``{"error": {"code", "message", "details"}}``.

This module does not import aiohttp: the SDK stays light.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import typing
from collections.abc import Callable
from typing import Any

import attrs

from .errors import InputError
from .settings import structure_settings

SQL_INT_MAX = 2**63 - 1  # the largest integer SQLite and PostgreSQL's bigint store
ROLES = ("viewer", "editor", "admin")
ROLE_RANKS = {role: rank for rank, role in enumerate(ROLES)}  # a higher rank may do what a lower one may


@attrs.frozen(kw_only=True)
class Principal:
    """Who is calling: a user (by password login) or an API key acting for its owner."""

    name: str
    role: str  # viewer < editor < admin
    kind: str = "user"  # "user" or "key"
    scopes: tuple[str, ...] = ()
    tenant: str = ""

    def allows(self, role: str) -> bool:
        return ROLE_RANKS[self.role] >= ROLE_RANKS[role]


@attrs.frozen(kw_only=True)
class EndpointDoc:
    summary: str = ""
    role: str | None = None  # None: viewer for GET/HEAD, editor otherwise
    public: bool = False  # no authentication (e.g. a signed webhook)
    request: type | None = None  # an attrs class: the JSON body
    response: type | None = None  # an attrs class: the JSON answer
    query: type | None = None  # an attrs class: the query parameters
    status: int = 200
    tags: tuple[str, ...] = ()
    audit: bool | None = None  # None: audit every non-GET call
    body: str | None = None  # a non-JSON body's media type, e.g. "application/octet-stream" for an upload
    produces: str = "application/json"  # the answer's media type (a download: "application/octet-stream")
    many: bool = False  # the answer is {"items": [response...], "next": cursor}


def endpoint(*, summary: str = "", role: str | None = None, public: bool = False, request: type | None = None,
             response: type | None = None, query: type | None = None, status: int = 200,
             tags: tuple[str, ...] = (), audit: bool | None = None, body: str | None = None,
             produces: str = "application/json", many: bool = False) -> Callable:
    """Describe a route handler: who may call it and the attrs classes of its body and answer."""
    if role is not None and role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    doc = EndpointDoc(summary=summary, role=role, public=public, request=request, response=response,
                      query=query, status=status, tags=tuple(tags), audit=audit, body=body, produces=produces,
                      many=many)

    def decorate(handler):
        handler.__paperchain_endpoint__ = doc
        return handler

    return decorate


def endpoint_doc(handler) -> EndpointDoc:
    return getattr(handler, "__paperchain_endpoint__", None) or EndpointDoc()


def principal(request) -> Principal:
    """The authenticated caller of a request (set by the server before the handler runs)."""
    return request[_principal_key()]


@functools.cache
def _principal_key():
    from aiohttp import web

    return web.RequestKey("paperchain.principal", Principal)


def kernel_of(request) -> Any:
    """The running kernel (``paperchain_sdk.kernel.KernelAPI``) serving a request. A plugin's
    route handlers are module-level functions listed in a route table; they reach the kernel, and
    through it their plugin's per-kernel state (``kernel.plugin_state``), with this."""
    return request.app[_kernel_key()]


@functools.cache
def _kernel_key():
    from aiohttp import web

    return web.AppKey("paperchain.kernel", object)


def __getattr__(name: str):
    # ``PRINCIPAL_KEY``: the aiohttp request key holding the Principal; ``KERNEL_KEY``: the app key
    # holding the kernel (set by the server). Made on first use so that importing the SDK never
    # imports aiohttp.
    if name == "PRINCIPAL_KEY":
        return _principal_key()
    if name == "KERNEL_KEY":
        return _kernel_key()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def read_json(request, cls: type | None = None) -> Any:
    """The request's JSON body, built into ``cls`` (an attrs class) with strict, readable errors."""
    if request.content_type != "application/json":
        raise InputError(f"expected a JSON body (Content-Type: application/json), got {request.content_type!r}.",
                         hint="send the body as JSON with that header")
    try:
        body = await request.json()
    except ValueError as exc:
        raise InputError(f"the body is not valid JSON: {exc}.", hint="check the JSON syntax") from None
    check_json_values(body)
    if cls is None:
        return body
    if not isinstance(body, dict):
        raise InputError("the JSON body must be an object.", hint="send {...} with the documented fields")
    return structure_settings(cls, body, where="request body")


def to_json(value: Any) -> Any:
    """attrs instances (nested too) as plain JSON-ready data."""
    if attrs.has(type(value)):
        return {k: to_json(v) for k, v in attrs.asdict(value, recurse=False).items()}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


# -- parsing what a client sends: every failure is an InputError (400) naming the field -----------


def parse_int(value: str, field: str, *, minimum: int = 0, maximum: int = SQL_INT_MAX) -> int:
    """A path or query value as a whole number in ``[minimum, maximum]``.

    Only ASCII digits count (``str.isdigit`` also accepts '²', which ``int`` refuses), and the
    default ``maximum`` keeps the number storable in a 64-bit database column.
    """
    text = value.strip() if isinstance(value, str) else ""
    digits = text[1:] if text[:1] == "-" else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
        raise InputError(f"{field} must be a whole number from {minimum} to {maximum}, got {value!r}.")
    number = int(text)
    if not minimum <= number <= maximum:
        raise InputError(f"{field} must be a whole number from {minimum} to {maximum}, got {value!r}.")
    return number


def parse_query(cls: type, query) -> Any:
    """Query parameters (a mapping of strings, e.g. ``request.rel_url.query``) into ``cls``, an
    attrs class whose fields are ``str``, ``int``, ``float`` or ``bool`` (optionally ``| None``),
    converting by the field types. Unknown names, bad values and a failing attrs validator are an
    InputError (400) naming the parameter. Name the same class in ``@endpoint(query=...)`` and the
    OpenAPI document lists the parameters."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in attrs.fields(cls)}
    unknown = sorted(set(query) - names)
    if unknown:
        raise InputError(f"unknown query parameter(s) {', '.join(unknown)}.", hint=f"accepted: {', '.join(sorted(names))}")
    missing = sorted(f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING and f.name not in query)
    if missing:
        raise InputError(f"the query parameter(s) {', '.join(missing)} are required.",
                         hint=f"add ?{missing[0]}=... to the address")
    values: dict[str, Any] = {}
    for name in names & set(query):
        raw = query.get(name)
        kind = hints[name]
        base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
        try:
            if base is bool:
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                values[name] = raw.lower() in ("true", "1")
            elif base is int:  # bounded: a number past 64 bits would overflow the database's integers
                values[name] = parse_int(raw, f"query parameter {name}", minimum=-SQL_INT_MAX - 1)
            elif base is float:
                values[name] = float(raw)
                if not math.isfinite(values[name]):
                    raise ValueError
            else:
                values[name] = raw
        except ValueError:
            raise InputError(f"query parameter {name}={raw!r} is not a valid {base.__name__}.") from None
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"invalid query parameters: {exc}.") from None


def read_query(request, cls: type) -> Any:
    """The request's query string built into ``cls`` (see :func:`parse_query`)."""
    return parse_query(cls, request.rel_url.query)


def decode_base64(value: str, field: str) -> bytes:
    """Standard base64 (with padding) as bytes."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
        raise InputError(f"{field} must be standard base64 (A-Z, a-z, 0-9, '+', '/', padded with '='), "
                         f"got {_excerpt(value)}.") from None


def check_json_values(value: Any, where: str = "body") -> None:
    """Refuse, naming the field, what Python's JSON reader accepts but nothing downstream can hold:
    integers past 64 bits (no database column), NaN and Infinity (not JSON), and strings with lone
    UTF-16 surrogates such as "\\ud8ac" (not Unicode text; they cannot be encoded to UTF-8)."""
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise InputError(f"{where} is not valid Unicode text (it holds a lone UTF-16 surrogate).",
                                 hint="escape a character outside the BMP as a pair of surrogates") from None
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not -SQL_INT_MAX - 1 <= value <= SQL_INT_MAX:
            raise InputError(f"{where} is {value}, past the 64-bit integer range "
                             f"({-SQL_INT_MAX - 1} to {SQL_INT_MAX}).")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"{where} is {value}; JSON numbers must be finite.")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json_values(key, f"{where} (a key)")
            check_json_values(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json_values(item, f"{where}[{index}]")


def _excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
