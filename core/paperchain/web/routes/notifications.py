"""Notifications: the in-app inbox, with its unread count in the header kept live.

The inbox is the notify plugin's (``notify_inbox``, in the kernel's database); the kernel does not
import plugins, so this page reads the table when it is there and otherwise says the notify
plugin is not installed. A user sees their own messages of their tenant (or from before tenants),
as the plugin's API routes do.
"""

from __future__ import annotations

import time
import weakref
from datetime import UTC

import sqlalchemy as sa
from aiohttp import web

from ...api.guard import STATE
from ..guard import PageError, page
from ..render import render

# The columns of the notify plugin's table this page uses (paperchain_notify.storage declares it).
INBOX = sa.table("notify_inbox", sa.column("id", sa.Text), sa.column("user", sa.Text), sa.column("title", sa.Text),
                 sa.column("body", sa.Text), sa.column("created", sa.Float), sa.column("read", sa.Float),
                 sa.column("tenant", sa.Text))
_UNREAD = INBOX.c.read.is_(None)


def _own(user: str, tenant: str | None) -> sa.ColumnElement:
    return sa.and_(INBOX.c.user == user, sa.or_(INBOX.c.tenant == tenant, INBOX.c.tenant.is_(None)))


# Built once for the journal (it groups statements by identity): mark one unread message read, or all of them.
_MARK = sa.update(INBOX).where(INBOX.c.user == sa.bindparam("who"), sa.or_(
    INBOX.c.tenant == sa.bindparam("whose"), INBOX.c.tenant.is_(None)), _UNREAD).values(read=sa.bindparam("moment"))
_MARK_ONE = _MARK.where(INBOX.c.id == sa.bindparam("message"))

_found: weakref.WeakSet = weakref.WeakSet()  # each kernel.sql that has the table (a plugin's is not dropped while it runs)


async def has_inbox(sql) -> bool:
    if sql not in _found:
        async with sql.database.engine.connect() as conn:
            if await conn.run_sync(lambda sync: sa.inspect(sync).has_table("notify_inbox")):
                _found.add(sql)
    return sql in _found


async def unread(request, who) -> int | None:
    """The caller's unread count; None when there is no inbox."""
    sql = request.app[STATE].kernel.sql
    if not await has_inbox(sql):
        return None
    return await sql.scalar(sa.select(sa.func.count()).select_from(INBOX).where(_own(who.name, who.tenant), _UNREAD))


@page
async def notifications(request, ctx):
    sql = request.app[STATE].kernel.sql
    if not await has_inbox(sql):
        return render(request, ctx, "notifications.html", installed=False, items=[])
    await request.app[STATE].kernel.journal.flush()
    items = [dict(r._mapping) for r in await sql.read(
        sa.select(INBOX.c.id, INBOX.c.title, INBOX.c.body, INBOX.c.created, INBOX.c.read)
        .where(_own(ctx.who.name, ctx.who.tenant)).order_by(INBOX.c.created.desc(), INBOX.c.id.desc()).limit(200))]
    for item in items:
        item["when"] = ctx.fmt.when(_iso(item["created"]))
    template = "notifications_list.html" if request.headers.get("HX-Request") else "notifications.html"
    return render(request, ctx, template, installed=True, items=items)


@page
async def unread_badge(request, ctx):
    return render(request, ctx, "unread.html", unread=await unread(request, ctx.who))


@page(role="viewer", audit=False)
async def mark_read(request, ctx):
    """Mark one message read, or all of them (``id`` = "all")."""
    k = request.app[STATE].kernel
    if not await has_inbox(k.sql):
        raise PageError(404, ctx.gettext("Notifications need the notify plugin, which is not installed."))
    target = request.match_info["id"]
    params = {"moment": time.time(), "who": ctx.who.name, "whose": ctx.who.tenant}
    if target == "all":
        await k.journal.execute(_MARK, params)
    else:
        await k.journal.execute(_MARK_ONE, {**params, "message": target})
    raise web.HTTPSeeOther("/notifications")


def _iso(epoch: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat()


PAGES = [
    ("GET", "/notifications", notifications),
    ("GET", "/notifications/unread", unread_badge),
    ("POST", "/notifications/{id}/read", mark_read),
]
