"""Notifications: the in-app inbox, with its unread count in the header kept live.

The inbox is the notify plugin's (``notify_inbox``, in the kernel's database); the kernel does not
import plugins, so this page reads the table when it is there and otherwise says the notify
plugin is not installed. A user sees their own messages of their tenant (or from before tenants),
as the plugin's API routes do.
"""

from __future__ import annotations

import time
from datetime import UTC

from aiohttp import web

from ...api.guard import STATE
from ..guard import PageError, page
from ..render import render

_OWN = "user = ? AND (tenant = ? OR tenant IS NULL)"


async def has_inbox(db) -> bool:
    async with db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'notify_inbox'") as c:
        return await c.fetchone() is not None


async def unread(request, who) -> int | None:
    """The caller's unread count; None when there is no inbox."""
    db = request.app[STATE].kernel.db
    if not await has_inbox(db):
        return None
    async with db.execute(f"SELECT count(*) FROM notify_inbox WHERE {_OWN} AND read IS NULL",
                          (who.name, who.tenant)) as c:
        return (await c.fetchone())[0]


@page
async def notifications(request, ctx):
    db = request.app[STATE].kernel.db
    if not await has_inbox(db):
        return render(request, ctx, "notifications.html", installed=False, items=[])
    await request.app[STATE].kernel.journal.flush()
    async with db.execute(f"SELECT id, title, body, created, read FROM notify_inbox WHERE {_OWN} "
                          "ORDER BY created DESC LIMIT 200", (ctx.who.name, ctx.who.tenant)) as c:
        items = [dict(zip(("id", "title", "body", "created", "read"), r)) for r in await c.fetchall()]
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
    if not await has_inbox(k.db):
        raise PageError(404, ctx.gettext("Notifications need the notify plugin, which is not installed."))
    target = request.match_info["id"]
    sql = f"UPDATE notify_inbox SET read = ? WHERE {_OWN} AND read IS NULL"
    params: tuple = (time.time(), ctx.who.name, ctx.who.tenant)
    if target != "all":
        sql += " AND id = ?"
        params += (target,)
    await k.journal.execute(sql, params)
    raise web.HTTPSeeOther("/notifications")


def _iso(epoch: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat()


PAGES = [
    ("GET", "/notifications", notifications),
    ("GET", "/notifications/unread", unread_badge),
    ("POST", "/notifications/{id}/read", mark_read),
]
