"""Small helpers the route modules share."""

from __future__ import annotations

import base64
import json
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from paperchain_sdk import InputError
from paperchain_sdk.web import PRINCIPAL_KEY, check_json_values, parse_query, to_json

from ..guard import AUDIT_DETAILS, AUDIT_TARGET, STATE


def state(request: web.Request):
    return request.app[STATE]


def kernel(request: web.Request):
    return request.app[STATE].kernel


def who(request: web.Request):
    return request[PRINCIPAL_KEY]


def reply(value: Any, status: int = 200) -> web.Response:
    return web.json_response(to_json(value), status=status, dumps=_dumps)


def page(items: list, next_cursor: str | None) -> web.Response:
    return reply({"items": items, "next": next_cursor})


def _dumps(value) -> str:
    return json.dumps(value, default=str)


def query(request: web.Request, cls: type):
    return parse_query(cls, request.rel_url.query)


def encode_cursor(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


_CURSOR_TYPES = (str, int, float, type(None))


def decode_cursor(cursor: str | None, size: int) -> list | None:
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        # A client can forge a cursor: only the scalars we write, and only values SQL can take.
        if isinstance(values, list) and len(values) == size and all(isinstance(v, _CURSOR_TYPES) for v in values):
            check_json_values(values)
            return values
    except (ValueError, UnicodeDecodeError, InputError):
        pass
    raise InputError("the cursor is not valid.", hint="pass back the 'next' value of the previous page unchanged")


def audit_target(request: web.Request, target: str, **details) -> None:
    request[AUDIT_TARGET] = target
    if details:
        request[AUDIT_DETAILS] = details


def _after(cursor: str | None) -> list | None:
    """The (created, key) a page continues after; both are text columns, so a forged cursor holding
    numbers is refused here (PostgreSQL would refuse comparing them with text)."""
    after = decode_cursor(cursor, 2)
    if after and not all(isinstance(value, str | None) for value in after):
        raise InputError("the cursor is not valid.", hint="pass back the 'next' value of the previous page unchanged")
    return after


async def newest_rows(sql, statement: sa.Select, *, created: sa.ColumnElement, key: sa.ColumnElement, limit: int,
                      cursor: str | None) -> tuple[list[sa.Row], str | None]:
    """One page of ``statement``'s rows newest first, continuing after ``cursor``, and the cursor of
    the next page (keyset pagination on ``(created, key)``, so pages stay right while rows are
    added; both columns must be among those selected). ``sql`` is ``kernel.sql``. The API and the
    web pages page their lists with it."""
    after = _after(cursor)
    if after:
        statement = statement.where(sa.or_(created < after[0], sa.and_(created == after[0], key < after[1])))
    rows = await sql.read(statement.order_by(created.desc(), key.desc()).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]._mapping[created], rows[-1]._mapping[key]) if more else None


async def newest_first(request, statement: sa.Select, *, created: sa.ColumnElement, key: sa.ColumnElement,
                       limit: int, cursor: str | None, convert) -> web.Response:
    """:func:`newest_rows` as the API's page answer."""
    rows, next_cursor = await newest_rows(kernel(request).sql, statement, created=created, key=key, limit=limit,
                                          cursor=cursor)
    return page([convert(r) for r in rows], next_cursor)

