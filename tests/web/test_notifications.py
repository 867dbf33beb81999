"""The notifications inbox page and its unread count (the notify plugin's inbox table)."""

from __future__ import annotations

import re
import time

import sqlalchemy as sa

# The notify plugin's inbox as its storage declares it (paperchain_notify.storage), made here without the plugin.
INBOX = sa.Table("notify_inbox", sa.MetaData(), sa.Column("id", sa.Text, primary_key=True),
                 *(sa.Column(name, sa.Text, nullable=False) for name in ("user", "title", "body", "data")),
                 sa.Column("created", sa.Float, nullable=False), sa.Column("read", sa.Float),
                 sa.Column("tenant", sa.Text))
_DELIVER = sa.insert(INBOX)


async def deliver(site, message_id: str, user: str, title: str, tenant: str | None = None) -> None:
    """What the notify plugin does for an in-app message: a row, then the live event."""
    await site.kernel.sql.write(sa.schema.CreateTable(INBOX, if_not_exists=True))
    await site.kernel.journal.execute(_DELIVER, {"id": message_id, "user": user, "title": title,
                                                 "body": f"{title}: details", "data": "{}", "created": time.time(),
                                                 "read": None, "tenant": tenant})
    await site.kernel.emit("notification.created", message_id, {"user": user, "title": title, "tenant": tenant})


async def test_without_the_notify_plugin_the_page_says_so(site, database_url):
    b = await site.browser().login("vera")
    status, _, text = await b.get("/notifications")
    assert status == 200 and "need the notify plugin" in text


async def test_the_inbox_lists_my_messages_counts_unread_and_marks_them_read(site):
    await deliver(site, "m1", "vera", "Run failed")
    await deliver(site, "m2", "vera", "Batch done")
    await deliver(site, "m3", "eddie", "Not for vera")
    await deliver(site, "m4", "vera", "Other tenant's", tenant="acme")
    b = await site.browser().login("vera")
    _, _, text = await b.get("/notifications")
    assert "Run failed" in text and "Batch done" in text and "Not for vera" not in text and "Other tenant" not in text
    assert re.search(r'id="unread"[^>]*>.*?2<span class="visually-hidden"> unread', text, re.S)
    csrf = await b.csrf("/notifications")
    status, _, _ = await b.post("/notifications/m1/read", {"csrf": csrf})
    assert status == 303
    _, _, badge = await b.get("/notifications/unread")
    assert ">1<" in badge
    await b.post("/notifications/m3/read", {"csrf": csrf})  # someone else's: nothing happens
    assert await site.kernel.sql.scalar(sa.select(INBOX.c.read).where(INBOX.c.id == "m3")) is None
    await b.post("/notifications/all/read", {"csrf": csrf})
    _, _, badge = await b.get("/notifications/unread")
    assert "visually-hidden" not in badge  # no count shown
