"""HTTP routes: the caller's in-app inbox, delivery tracking and the dead-letter list.

Each answers about the caller's tenant only (the operator, with no tenant, sees every tenant's
messages): another tenant's message is a 404, worded as for an id that does not exist."""

from __future__ import annotations

import json
import time

import attrs
import sqlalchemy as sa
from aiohttp import web

from paperchain_sdk import NotFoundError
from paperchain_sdk.settings import between
from paperchain_sdk.web import endpoint, kernel_of, principal, read_query

from .lifecycle import running_outbox
from .storage import inbox as notifications


@attrs.define
class InboxQuery:
    unread: bool = False  # only the unread ones
    limit: int = attrs.field(default=100, validator=between(1, 500))


def outbox(request: web.Request):
    """The outbox of the kernel serving ``request``."""
    return running_outbox(kernel_of(request))


routes = web.RouteTableDef()


@routes.get("/api/v1/notify/inbox")
@endpoint(summary="The caller's in-app notifications, newest first (?unread=true for unread only)",
          role="viewer", query=InboxQuery, tags=("notify",))
async def inbox(request: web.Request) -> web.Response:
    user, tenant = principal(request).name, principal(request).tenant
    asked = read_query(request, InboxQuery)
    unread, limit = asked.unread, asked.limit
    query = (sa.select(notifications.c.id, notifications.c.title, notifications.c.body, notifications.c.data, notifications.c.created, notifications.c.read)
             .where(*_own(user, tenant)).order_by(notifications.c.created.desc()).limit(limit))
    if unread:
        query = query.where(notifications.c.read.is_(None))
    rows = await outbox(request).store.read(query)
    return web.json_response({"items": [{"id": i, "title": t, "body": b, "data": json.loads(d), "created": c, "read": r}
                                        for i, t, b, d, c, r in rows], "next": None})


@routes.post("/api/v1/notify/inbox/{id}/read")
@endpoint(summary="Mark one of the caller's notifications read", role="viewer", tags=("notify",), audit=False)
async def mark_read(request: web.Request) -> web.Response:
    user, tenant, message_id = principal(request).name, principal(request).tenant, request.match_info["id"]
    store = outbox(request).store
    mine = (notifications.c.id == message_id, *_own(user, tenant))
    if not await store.read(sa.select(notifications.c.id).where(*mine)):
        raise NotFoundError(f"you have no notification {message_id!r}.", hint="GET /api/v1/notify/inbox lists yours")
    await store.write(sa.update(notifications).where(*mine, notifications.c.read.is_(None)).values(read=time.time()))
    return web.json_response({"id": message_id, "read": True})


@routes.get("/api/v1/notify/messages/{id}")
@endpoint(summary="Delivery status of one outgoing message (queued, sent, failed with the reason)",
          role="editor", tags=("notify",))
async def message(request: web.Request) -> web.Response:
    row = await outbox(request).get(request.match_info["id"], tenant=principal(request).tenant)
    if row is None:
        raise NotFoundError(f"there is no message {request.match_info['id']!r}.")
    return web.json_response(_public(row))


@routes.post("/api/v1/notify/dead-letters/{id}/resend")
@endpoint(summary="Queue a dead letter of the caller's tenant again, with fresh attempts", role="editor",
          tags=("notify",))
async def resend(request: web.Request) -> web.Response:
    row = await outbox(request).resend(request.match_info["id"], tenant=principal(request).tenant)
    if row is None:
        raise NotFoundError(f"there is no dead letter {request.match_info['id']!r}.",
                            hint="GET /api/v1/notify/dead-letters lists them")
    return web.json_response(_public(row))


@routes.get("/api/v1/notify/dead-letters")
@endpoint(summary="Messages of the caller's tenant the outbox gave up on, newest first", role="admin",
          tags=("notify",))
async def dead_letters(request: web.Request) -> web.Response:
    found = await outbox(request).dead_letters(tenant=principal(request).tenant)
    return web.json_response({"messages": [_public(r) for r in found]})


def _own(user: str, tenant: str) -> tuple:
    """A user's notifications of their own tenant; one from before tenants (NULL) stays its addressee's."""
    return notifications.c.user == user, sa.or_(notifications.c.tenant == tenant, notifications.c.tenant.is_(None))


def _public(row: dict) -> dict:
    keep = ("id", "channel", "recipient", "subject", "priority", "status", "reason", "attempts", "created", "sent")
    out = {k: row[k] for k in keep}
    out["status"] = "queued" if out["status"] == "sending" else out["status"]
    return out
